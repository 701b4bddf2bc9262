"""Spectrogram kinds against matplotlib.mlab.specgram / scipy.signal.spectrogram."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib import mlab
from scipy import signal as sps

from tiny_biomoe.representations import apply_viridis, get_kind, render, spectrogram_matrix, spectrogram_values

FS = 100.0


def _x(n=1000, seed=0):
    return np.random.default_rng(seed).normal(size=n) + np.sin(2 * np.pi * 7.0 * np.arange(n) / FS)


@pytest.mark.parametrize("mode", ["psd", "angle", "phase"])
@pytest.mark.parametrize("nfft, noverlap, n", [(256, 128, 1000), (400, 360, 1000), (63, 10, 500)])
def test_values_equal_mlab_specgram(mode, nfft, noverlap, n):
    x = _x(n)
    ours = spectrogram_values(torch.from_numpy(x)[None], FS, mode, nfft, noverlap)[0].numpy()
    ref, _, _ = mlab.specgram(x, NFFT=nfft, Fs=FS, noverlap=noverlap, mode=mode)
    assert ours.shape == ref.shape
    if mode == "psd":
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    else:
        # angles agree modulo 2 pi: a real FFT bin (DC, Nyquist) has imaginary part +0 or -0
        # depending on rounding, i.e. pi (ours, in (-pi, pi]) or -pi (numpy)
        wrapped = np.angle(np.exp(1j * (ours - ref)))
        np.testing.assert_allclose(wrapped, 0.0, atol=1e-9)
        interior = slice(0, -1)  # away from the Nyquist bin the values are identical
        np.testing.assert_allclose(ours[interior], ref[interior], rtol=1e-9, atol=1e-8)


def test_psd_values_equal_scipy_spectrogram_and_float32_is_close():
    x = _x(1000, 3)
    nfft, nov = 200, 180
    _, _, ref = sps.spectrogram(x, FS, window=np.hanning(nfft), nperseg=nfft, noverlap=nov, detrend=False,
                                scaling="density", mode="psd")
    ours = spectrogram_values(torch.from_numpy(x)[None], FS, "psd", nfft, nov)[0].numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12 * ref.max())
    ours32 = spectrogram_values(torch.from_numpy(x).float()[None], FS, "psd", nfft, nov)[0].numpy()
    np.testing.assert_allclose(ours32, ref, rtol=1e-3, atol=1e-5 * ref.max())


def test_psd_matrix_is_clipped_db_scaled_per_image():
    x = _x(1000, 5)
    ref, _, _ = mlab.specgram(x, NFFT=256, Fs=FS, noverlap=128, mode="psd")
    db = 10 * np.log10(ref)
    db = np.maximum(db, db.max() - 30.0)
    expect = (db - db.min()) / (db.max() - db.min())
    ours = spectrogram_matrix(torch.from_numpy(x)[None], FS, "psd", 256, 128, dynamic_range_db=30.0)[0].numpy()
    np.testing.assert_allclose(ours, expect, atol=1e-9)


def test_viridis_lookup_equals_matplotlib():
    v = torch.cat([torch.linspace(0, 1, 1001), torch.tensor([0.0, 1.0, 0.5 / 256, 255.5 / 256])]).view(1, 1, -1)
    ours = apply_viridis(v)[0, :, 0].T.numpy()
    ref = matplotlib.colormaps["viridis"](v.view(-1).numpy())[:, :3]
    np.testing.assert_allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("f0", [5.0, 20.0, 41.0])
def test_pure_tone_lights_the_right_row(f0):
    t = np.arange(1000) / FS
    img = render(np.sin(2 * np.pi * f0 * t), "spectrogram_psd", FS, modality="eeg")[0]
    green = img[1].mean(dim=1).numpy()  # viridis green rises monotonically with the value
    row = int(np.argmax(green))
    expect = (1 - f0 / (FS / 2)) * 223  # low frequencies at the bottom
    assert abs(row - expect) <= 224 / 101 + 1.5  # one frequency bin (nfft 200 -> 101 bins) plus rounding


def test_modality_and_paper_presets_and_shrinking():
    kind = get_kind("spectrogram_psd")
    p = kind.params(FS, 1000, "eda")
    assert (p.nfft, p.noverlap) == (400, 360)
    p = kind.params(FS, 1000, "eda", preset="paper")
    assert (p.nfft, p.noverlap) == (256, 128)
    p = kind.params(FS, 1000, None)
    assert (p.nfft, p.noverlap) == (256, 128)
    with pytest.warns(UserWarning, match="shrinking"):
        p = kind.params(FS, 300, "eda")
    assert p.nfft == 300 and p.noverlap == 270
    img = render(_x(300), "spectrogram_phase", FS, modality="eda")
    assert img.shape == (1, 3, 224, 224)
