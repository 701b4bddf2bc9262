"""psd against scipy.signal.welch; multi against the preprocessing functions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal as sps

from tiny_biomoe.errors import InputError
from tiny_biomoe.representations import get_kind, multi_components, psd_curve, render, welch_psd
from tiny_biomoe.representations.multi import MULTI_COLORS
from tiny_biomoe.signals import eda_components, zero_phase_filter

FS = 100.0
S, M = 224, 4
TOP, BOTTOM = M, S - 1 - M


def _x(n=1000, seed=0):
    t = np.arange(n) / FS
    return np.random.default_rng(seed).normal(size=n) * 0.5 + np.sin(2 * np.pi * 1.2 * t) + 0.2 * t


@pytest.mark.parametrize("nperseg, noverlap", [(256, None), (200, 150), (101, 0)])
def test_welch_equals_scipy(nperseg, noverlap):
    x = np.stack([_x(seed=1), _x(seed=2)])
    f_ref, p_ref = sps.welch(x, FS, nperseg=nperseg, noverlap=noverlap)
    f, p = welch_psd(torch.from_numpy(x), FS, nperseg, noverlap)
    np.testing.assert_allclose(f.numpy(), f_ref, rtol=1e-12)
    np.testing.assert_allclose(p.numpy(), p_ref, rtol=1e-9, atol=1e-14)


def test_psd_curve_pixels_follow_scipy_welch():
    x = _x(seed=3)
    kind = get_kind("psd")
    p = kind.params(FS, x.size, "bvp")
    assert (p.nperseg, p.fmax) == (200, 8.0)  # the modality's 2 s segment and 8 Hz low-pass edge
    f_ref, p_ref = sps.welch(x, FS, nperseg=200)
    keep = f_ref <= 8.0
    logp = np.log10(np.maximum(p_ref[keep], p_ref[keep].max() * 1e-8))
    v = (logp - logp.min()) / (logp.max() - logp.min())
    rows = BOTTOM - v * (BOTTOM - TOP)
    pos = np.linspace(TOP, BOTTOM, rows.size)
    d = 1.0 - render(x, kind="psd", sampling_rate=FS, modality="bvp")[0, 0].numpy()
    for c in range(TOP, BOTTOM + 1):
        at = np.interp(np.clip([c - 0.5, c, c + 0.5], TOP, BOTTOM), pos, rows)
        dark = np.flatnonzero(d[:, c] > 0.75)
        assert abs(dark.min() - at.min()) <= 1.0 and abs(dark.max() - at.max()) <= 1.0, c
    freqs, curve = psd_curve(torch.from_numpy(x)[None], FS, p)
    np.testing.assert_allclose(curve[0].numpy(), logp, rtol=1e-9)


def test_multi_components_equal_preprocessing_functions():
    x = np.stack([_x(seed=4), _x(seed=5)])
    p = get_kind("multi").params(FS, x.shape[1], "eda")
    assert p.components == ("raw", "tonic", "phasic")
    comps = multi_components(x, FS, p)
    tonic, phasic = eda_components(x[1], sampling_rate=FS, cutoff_hz=0.05)
    np.testing.assert_array_equal(comps[1, 0], x[1])
    np.testing.assert_allclose(comps[1, 1], tonic, rtol=1e-12)
    np.testing.assert_allclose(comps[1, 2], phasic, rtol=1e-12)
    pb = get_kind("multi").params(FS, x.shape[1], "bvp")
    np.testing.assert_allclose(multi_components(x, FS, pb)[0, 1], zero_phase_filter(x[0], sampling_rate=FS, highpass_hz=0.5, lowpass_hz=8.0), rtol=1e-12)


def test_multi_draws_each_component_in_its_colour():
    img = render(_x(seed=6), kind="multi", sampling_rate=FS, modality="eda")[0].permute(1, 2, 0).numpy()
    for colour in MULTI_COLORS[:3]:
        dist = np.abs(img - np.asarray(colour)).max(axis=-1)
        assert (dist < 0.02).sum() > 50, colour  # many fully covered pixels of that colour
    with pytest.raises(InputError, match="needs a modality"):
        render(_x(), kind="multi", sampling_rate=FS)


_BAD_DRAWING = [{"size": 0}, {"size": 10.5}, {"line_width": 0}, {"margin": -3}, {"margin": 100}]


@pytest.mark.parametrize(
    "kind, bad",
    [(k, b) for k in ("waveform", "psd", "multi") for b in _BAD_DRAWING]
    + [("spectrogram_psd", b) for b in _BAD_DRAWING if "size" in b],
)
def test_bad_drawing_params_are_input_errors(kind, bad):
    # every kind refuses the same bad drawing parameters (psd/multi used to draw or crash with them)
    x = np.sin(np.arange(1000) / 10.0)
    with pytest.raises(InputError, match=next(iter(bad))):
        render(x, kind=kind, sampling_rate=100.0, modality="bvp", **bad)
