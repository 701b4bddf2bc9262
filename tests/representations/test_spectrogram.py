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
def test_pure_tone_lights_the_right_row_paper_preset(f0):
    t = np.arange(1000) / FS
    img = render(np.sin(2 * np.pi * f0 * t), kind="spectrogram_psd", sampling_rate=FS, modality="eeg",
                 preset="paper")[0]
    green = img[1].mean(dim=1).numpy()  # viridis green rises monotonically with the value
    row = int(np.argmax(green))
    expect = (1 - f0 / (FS / 2)) * 223  # low frequencies at the bottom
    assert abs(row - expect) <= 224 / 129 + 1.5  # one frequency bin (nfft 256 -> 129 bins) plus rounding


@pytest.mark.parametrize("modality, f0", [("eeg", 5.0), ("eeg", 20.0), ("eeg", 41.0), ("bvp", 5.0), ("eda", 0.8)])
def test_pure_tone_lights_the_right_row_of_the_modality_band(modality, f0):
    t = np.arange(1000) / FS
    kind = get_kind("spectrogram_psd")
    p = kind.params(FS, 1000, modality)
    img = render(np.sin(2 * np.pi * f0 * t), kind=kind, sampling_rate=FS, modality=modality)[0]
    green = img[1].mean(dim=1).numpy()
    row = np.flatnonzero(green >= green.max() - 1e-3).mean()  # centre of the brightest rows (viridis tops out flat)
    expect = (1 - (f0 - p.fmin) / (p.fmax - p.fmin)) * 223
    # about one FFT bin per image row: the peak within a pixel or two (tones well away from 0 Hz,
    # where their mirror image at -f0 would shift the Hann main lobe)
    assert abs(row - expect) <= 2.0


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
    img = render(_x(300), kind="spectrogram_phase", sampling_rate=FS, modality="eda")
    assert img.shape == (1, 3, 224, 224)


@pytest.mark.parametrize("mode", ["psd", "angle", "phase"])
@pytest.mark.parametrize("nfft, noverlap, pad_to, fmin, fmax", [(400, 360, 22300, 0.0, 1.0), (200, 180, 2973, 0.5, 8.0),
                                                               (64, 10, 128, 0.0, 50.0), (63, 10, 65, 0.0, 50.0),
                                                               (100, 50, 301, 3.0, 17.5)])
def test_band_values_equal_the_rows_of_mlab_specgram_with_pad_to(mode, nfft, noverlap, pad_to, fmin, fmax):
    # (matplotlib decides whether the last bin is the unscaled Nyquist bin by NFFT's parity, not
    # pad_to's; we use the FFT length's, so the cases with a Nyquist row keep both of the same parity)
    x = _x(1000, 7)
    ours = spectrogram_values(torch.from_numpy(x)[None], FS, mode, nfft, noverlap,
                              pad_to=pad_to, fmin=fmin, fmax=fmax)[0].numpy()
    mode_ref = "angle" if mode == "phase" else mode
    ref, freqs, _ = mlab.specgram(x, NFFT=nfft, Fs=FS, noverlap=noverlap, pad_to=pad_to, mode=mode_ref)
    keep = (np.abs(freqs) >= fmin - 1e-9) & (np.abs(freqs) <= fmax + 1e-9)  # mlab's last even bin is -Nyquist
    ref = ref[keep]
    if mode == "phase":
        ref = np.unwrap(ref, axis=0)  # unwrapped within the band, from fmin upwards
    assert ours.shape == ref.shape
    if mode == "psd":
        np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-9 * ref.max())
    else:
        np.testing.assert_allclose(np.angle(np.exp(1j * (ours - ref))), 0.0, atol=1e-7)


def test_default_band_per_modality_and_paper_preset_keeps_matplotlibs_axis():
    kind = get_kind("spectrogram_psd")
    expect = {"eda": (0.0, 1.0), "bvp": (0.5, 8.0), "resp": (0.05, 1.0), "spo2": (0.0, 0.5), "ecg": (0.5, 40.0),
              "eeg": (0.5, 45.0)}
    for modality, band in expect.items():
        p = kind.params(FS, 1000, modality)
        assert (p.fmin, p.fmax) == band and p.pad_to > p.nfft, modality
    p = kind.params(1000.0, 5000, "emg")
    assert (p.fmin, p.fmax) == (20.0, 450.0)
    p = kind.params(FS, 1000, "emg")  # the filter's low-pass is capped at 0.45 x rate, so is the band
    assert (p.fmin, p.fmax) == (20.0, 45.0)
    for modality in (None, "eda", "bvp"):
        p = kind.params(FS, 1000, modality, preset="paper")
        assert (p.nfft, p.noverlap, p.pad_to, p.fmin, p.fmax) == (256, 128, 256, 0.0, 50.0)
    p = kind.params(FS, 1000, "eda", fmin=0.2, fmax=2.0, pad_to=4000)
    assert (p.fmin, p.fmax, p.pad_to) == (0.2, 2.0, 4000)


def test_paper_preset_image_is_the_plain_matplotlib_spectrogram():
    x = _x(1000, 11)
    for mode in ("psd", "angle", "phase"):
        img = render(x, kind=f"spectrogram_{mode}", sampling_rate=FS, modality="bvp", preset="paper")
        m = spectrogram_matrix(torch.from_numpy(x).float()[None], FS, mode, 256, 128)
        ref, _, _ = mlab.specgram(x, NFFT=256, Fs=FS, noverlap=128, mode=mode)
        assert m.shape[1:] == ref.shape  # all 129 bins, 0..Nyquist
        expect = torch.nn.functional.interpolate(apply_viridis(torch.flip(m, dims=[1])), size=(224, 224),
                                                 mode="bilinear", align_corners=False)
        torch.testing.assert_close(img, expect, atol=1e-5, rtol=0)


def test_band_fills_the_image_and_bad_bands_are_input_errors():
    img = render(_x(1000), kind="spectrogram_psd", sampling_rate=FS, modality="eda")
    assert img.shape == (1, 3, 224, 224)
    p = get_kind("spectrogram_psd").params(FS, 1000, "eda")
    assert 220 <= len(range(*[int(np.ceil(p.fmin * p.pad_to / FS)), int(p.fmax * p.pad_to / FS) + 1])) <= 224
    from tiny_biomoe.errors import InputError
    with pytest.raises(InputError, match="fmax > fmin"):
        render(_x(1000), kind="spectrogram_psd", sampling_rate=FS, modality="eda", fmin=2.0, fmax=1.0)
    with pytest.raises(InputError, match="empty"):
        render(_x(1000), kind="spectrogram_psd", sampling_rate=FS, modality="eda", fmin=60.0)
    with pytest.raises(InputError, match="at least the STFT segment"):
        render(_x(1000), kind="spectrogram_psd", sampling_rate=FS, modality="eda", pad_to=100)
    with pytest.raises(InputError, match="frequency >= 0"):
        render(_x(1000), kind="spectrogram_psd", sampling_rate=FS, modality="eda", fmin=-1.0)
    with pytest.raises(InputError, match="more than 8192"):
        render(_x(1000), kind="spectrogram_psd", sampling_rate=FS, modality="eda", pad_to=10**6)
    with pytest.raises(InputError, match="whole number"):
        render(_x(1000), kind="spectrogram_psd", sampling_rate=FS, modality="eda", pad_to=1000.5)
    p = get_kind("spectrogram_psd").params(FS, 1000, "eda", fmax=np.float32(0.5), pad_to=np.int64(8000))
    assert (p.fmax, p.pad_to) == (0.5, 8000)


@pytest.mark.parametrize("band", [{}, {"pad_to": 2973, "fmin": 0.0, "fmax": 8.0}], ids=["stft", "band"])
def test_mean_detrended_values_equal_mlab_specgram_with_detrend_mean(band):
    x = 40.0 + _x(1000, 11)  # a large level, as EDA in uS
    ours = spectrogram_values(torch.from_numpy(x)[None], FS, "psd", 200, 180, detrend="mean", **band)[0].numpy()
    ref, freqs, _ = mlab.specgram(x, NFFT=200, Fs=FS, noverlap=180, mode="psd", detrend=mlab.detrend_mean,
                                  **({"pad_to": band["pad_to"]} if band else {}))
    if band:
        ref = ref[(np.abs(freqs) >= 0.0) & (np.abs(freqs) <= 8.0 + 1e-9)]
    np.testing.assert_allclose(ours, ref, rtol=1e-8, atol=1e-9 * ref.max())


def test_eda_psd_images_show_the_signal_not_its_level():
    """EDA's level (2-50 uS) puts nearly all power at 0 Hz: without removing each segment's mean the
    image is the Hann window's leakage, the same for any signal. Detrended (the EDA default), two
    signals that differ by a skin-conductance response differ far more than one signal at two levels."""
    t = np.arange(1000) / FS
    base = 0.02 * np.sin(2 * np.pi * 0.3 * t) + 0.01 * np.sin(2 * np.pi * 0.7 * t)
    scr = 0.5 * np.exp(-(((t - 5) / 1.0) ** 2))
    w = torch.tensor(np.stack([2 + base, 2 + base + scr, 50 + base + scr]))

    def gaps(**kw):
        img = render(w, kind="spectrogram_psd", sampling_rate=FS, modality="eda", **kw)
        return float((img[0] - img[1]).abs().mean()), float((img[1] - img[2]).abs().mean())

    other_signal, other_level = gaps()
    assert get_kind("spectrogram_psd").params(FS, 1000, "eda").detrend == "mean"
    assert other_signal > 5 * other_level
    leak_signal, _ = gaps(detrend="none")
    assert other_signal > 3 * leak_signal  # without detrending the SCR hardly shows
    assert get_kind("spectrogram_psd").params(FS, 1000, "spo2").detrend == "none"  # its level is its information
    assert get_kind("spectrogram_psd").params(FS, 1000, None).detrend == "none"  # paper preset: matplotlib's default
