"""The informative-pixel measure: exact on constructed images, and >= 80 % of the rows of every
default spectrogram image on generated recordings of every modality."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tiny_biomoe.errors import InputError
from tiny_biomoe.representations import get_kind, render
from tiny_biomoe.representations._viridis import VIRIDIS_RGB
from tiny_biomoe.representations.informative import (
    background_color,
    informative_share,
    row_column_share,
    signal_pixels,
)
from tiny_biomoe.signals.modalities import get_modality, list_modalities
from tiny_biomoe.signals.simulate import simulate_recording
from tiny_biomoe.signals.conditioning import band_top_hz, condition
from tiny_biomoe.signals.windowing import signal_windows

SPECTROGRAMS = ("spectrogram_psd", "spectrogram_angle", "spectrogram_phase")
WHITE = (1.0, 1.0, 1.0)


def _filled(color, n=2, size=32):
    return torch.tensor(color, dtype=torch.float32).view(1, 3, 1, 1).expand(n, 3, size, size).clone()


def test_all_background_is_zero_and_a_full_band_is_one():
    for bg in (WHITE, tuple(VIRIDIS_RGB[0])):
        img = _filled(bg)
        r = row_column_share(signal_pixels(img, bg))
        assert np.all(r["rows"] == 0) and np.all(r["columns"] == 0) and np.all(r["pixels"] == 0)
        img[:, :, torch.arange(32), torch.arange(32)] = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1)  # a diagonal
        r = row_column_share(signal_pixels(img, bg))
        assert np.all(r["rows"] == 1) and np.all(r["columns"] == 1)
        np.testing.assert_allclose(r["pixels"], 1 / 32)


def test_counts_rows_and_columns_exactly_and_respects_the_tolerance():
    img = _filled(WHITE, n=1, size=40)
    img[0, :, 5:15, 3] = 0.0  # 10 rows of one column: a vertical stroke
    img[0, 0, 30, 10:30] = 1 - 0.029  # within 3 % of white: background
    img[0, 1, 35, 10:20] = 1 - 0.031  # just beyond: signal (1 row, 10 columns, 3 of them new)
    r = row_column_share(signal_pixels(img, WHITE, tol=0.03))
    assert r["rows"][0] == pytest.approx(11 / 40) and r["columns"][0] == pytest.approx(11 / 40)
    assert r["pixels"][0] == pytest.approx(20 / 1600)
    r = row_column_share(signal_pixels(img, WHITE, tol=0.02))  # stricter: the faint row counts too
    assert r["rows"][0] == pytest.approx(12 / 40) and r["columns"][0] == pytest.approx(21 / 40)


def test_bad_inputs_are_input_errors():
    with pytest.raises(InputError, match=r"\(N, 3, H, W\)"):
        signal_pixels(torch.zeros(3, 8, 8), WHITE)
    with pytest.raises(InputError, match="tol"):
        signal_pixels(torch.zeros(1, 3, 8, 8), WHITE, tol=1.5)
    with pytest.raises(InputError, match=r"\(N, H, W\)"):
        row_column_share(torch.zeros(8, 8, dtype=torch.bool))
    assert background_color("waveform") == WHITE
    assert background_color("spectrogram_phase") == tuple(VIRIDIS_RGB[0])


def test_phase_rows_count_only_where_the_window_has_power():
    """A pure tone: the phase carries signal only within the Hann main lobe and side lobes that stay
    within ``phase_power_db`` of the peak; checked against the window's spectrum from NumPy."""
    fs, f0 = 100.0, 20.0
    x = np.sin(2 * np.pi * f0 * np.arange(1000) / fs)
    p = get_kind("spectrogram_angle").params(fs, 1000, "eeg")
    for db in (20.0, 40.0):
        got = informative_share(x, kind="spectrogram_angle", sampling_rate=fs, modality="eeg",
                                phase_power_db=db)["rows"][0]
        f = np.linspace(p.fmin, p.fmax, 4000)
        n = np.arange(p.nfft)
        w = np.hanning(p.nfft)
        spec = np.abs(np.exp(-2j * np.pi * np.outer(f, n) / fs) @ (w * np.sin(2 * np.pi * f0 * n / fs))) ** 2
        rel = 10 * np.log10(spec / spec.max())
        expect = np.mean(rel > -db * (1 - 0.03))  # 3 % of the clipped range above the floor
        assert got == pytest.approx(expect, abs=0.03), db
        assert got < 0.8  # most of the 0.5-45 Hz band has no power: its phase is not signal
    angle = informative_share(x, kind="spectrogram_angle", sampling_rate=fs, modality="eeg",
                              phase_power_db=20.0)["rows"]
    phase = informative_share(x, kind="spectrogram_phase", sampling_rate=fs, modality="eeg",
                              phase_power_db=20.0)["rows"]
    np.testing.assert_array_equal(angle, phase)  # the same power decides for both phase kinds


def test_the_measure_sees_the_flat_band_above_the_filter_edge():
    """With matplotlib's 0..Nyquist axis, a BVP window band-passed at 8 Hz (100 Hz) leaves most rows
    flat; the default band fills them."""
    x = simulate_recording("bvp", duration_s=20, sampling_rate=100, seed=3)
    w = signal_windows(x, 100.0, "bvp")
    paper = informative_share(w.data, kind="spectrogram_psd", sampling_rate=100.0, modality="bvp",
                              preset="paper")["rows"]
    band = informative_share(w.data, kind="spectrogram_psd", sampling_rate=100.0, modality="bvp")["rows"]
    assert np.all(paper < 0.4) and np.all(band >= 0.99)
    img = render(w.data[:1], kind="spectrogram_psd", sampling_rate=100.0, modality="bvp", preset="paper")[0]
    top_rows = img[:, :112]  # 25-50 Hz: above the band-pass, at the clip floor
    assert (top_rows - torch.tensor(VIRIDIS_RGB[0]).view(3, 1, 1)).abs().max() < 0.03


@pytest.mark.parametrize("modality", list_modalities())
def test_default_spectrograms_fill_at_least_80_percent_of_rows_on_generated_recordings(modality):
    # the default conditioning (the modality's filter, then its model rate) at four recording rates;
    # a recording whose Nyquist is below the modality's band cannot fill it: that is said, not hidden
    m = get_modality(modality)
    top = band_top_hz(m)
    for fs in (64, 100, 250, 1000):
        x = simulate_recording(modality, duration_s=2 * m.window_s, sampling_rate=fs, seed=fs)
        if top is not None and fs / 2 < top and m.model_rate_hz > fs:
            with pytest.warns(UserWarning, match="Nyquist frequency"):
                condition(x, sampling_rate=fs, modality=m)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # a recording that covers the band gets no such warning
            w = condition(x, sampling_rate=fs, modality=m)
        assert w.sampling_rate == m.model_rate_hz
        for kind in SPECTROGRAMS:
            r = informative_share(w.data, kind=kind, sampling_rate=w.sampling_rate, modality=m)
            assert r["rows"].min() >= 0.8, (modality, fs, kind, r["rows"])
            assert r["columns"].min() >= 0.8, (modality, fs, kind, r["columns"])


def test_docs_example_runs_and_prints_what_it_says():
    import contextlib
    import io
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "signals.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "informative_share" in b)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/signals.md", "exec"), {})
    full, paper = (float(v) for v in out.getvalue().split())
    assert full == 1.0 and 0.2 <= paper <= 0.3
