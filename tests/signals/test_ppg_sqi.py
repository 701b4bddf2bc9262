"""signals._ppg_sqi: the numpy template-matching PPG quality equals NeuroKit2's ``templatematch``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tiny_biomoe.signals._ppg_sqi import templatematch_quality
from tiny_biomoe.signals.quality import window_quality

nk = pytest.importorskip("neurokit2")


def _reference(x: np.ndarray, fs: float, peaks=None) -> np.ndarray:
    return np.asarray(nk.ppg_quality(x, peaks=peaks, sampling_rate=fs, method="templatematch"), dtype=np.float64)


def _outcome(f):
    """``(result, None)`` or ``(None, exception type)``, NeuroKit2's warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return f(), None
        except Exception as e:  # both implementations must fail alike
            return None, type(e)


def _assert_same(x: np.ndarray, fs: float, peaks=None) -> np.ndarray:
    ref, ref_err = _outcome(lambda: _reference(x, fs, peaks))
    got, got_err = _outcome(lambda: templatematch_quality(x, fs, peaks))
    assert got_err is ref_err
    if ref is None:
        return ref
    assert got.shape == ref.shape == (len(x),) and got.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    return got


def _ppg(fs: int, seconds: float, hr: float, seed: int = 0) -> np.ndarray:
    return nk.ppg_simulate(duration=seconds, sampling_rate=fs, heart_rate=hr, random_state=seed)


def _clean(x: np.ndarray, fs: int) -> np.ndarray:
    return np.asarray(nk.ppg_clean(x, sampling_rate=fs), dtype=np.float64)


@pytest.mark.parametrize("fs", [64, 100, 250])
@pytest.mark.parametrize("seconds, hr", [(10, 50), (10, 120), (120, 70), (120, 95)])
def test_clean_ppg_matches_neurokit(fs, seconds, hr):
    q = _assert_same(_clean(_ppg(fs, seconds, hr, seed=hr), fs), fs)
    assert q is not None and np.nanmean(q) > 0.9


@pytest.mark.parametrize("fs", [64, 100, 250])
def test_noisy_ppg_matches_neurokit(fs):
    rng = np.random.default_rng(fs)
    x = _ppg(fs, 40, 80, seed=1)
    noisy = x + rng.normal(0.0, 0.6, x.size)  # broadband noise
    moved = x.copy()  # motion-artefact bursts: large slow swings and spikes over a few seconds
    for a, sec in ((5, 2.0), (21, 3.0)):
        i, m = int(a * fs), int(sec * fs)
        moved[i : i + m] += 4.0 * np.sin(np.linspace(0, 3 * np.pi, m)) + rng.normal(0.0, 2.0, m)
    flat = x.copy()  # a dropout: the sensor stuck at one value for 4 s
    flat[int(12 * fs) : int(16 * fs)] = flat[int(12 * fs)]
    for y in (noisy, moved, flat):
        assert _assert_same(_clean(y, fs), fs) is not None


def test_beats_at_the_edges_match_neurokit():
    fs = 100
    x = _clean(_ppg(fs, 20, 70, seed=4), fs)
    _, info = nk.ppg_peaks(x, sampling_rate=fs)
    first, last = int(info["PPG_Peaks"][0]), int(info["PPG_Peaks"][-1])
    # cut so that the first/last peaks sit 0 .. half a beat from the ends (their windows run off the signal)
    for lead in (0, 1, 9, 25, 45):
        for trail in (0, 2, 20, 50):
            _assert_same(x[max(0, first - lead) : last + trail + 1], fs)


def test_given_peaks_match_neurokit():
    fs = 100
    x = _clean(_ppg(fs, 30, 75, seed=5), fs)
    _, info = nk.ppg_peaks(x, sampling_rate=fs)
    peaks = np.asarray(info["PPG_Peaks"])
    _assert_same(x, fs, peaks)
    _assert_same(x, fs, peaks[::2].copy())  # a beat missed every other time: wider windows
    _assert_same(x, fs, peaks[3:-3].copy())
    _assert_same(x, fs, peaks.astype(float))
    _assert_same(x, fs, list(peaks))
    _assert_same(x, fs, peaks[::-1].copy())  # not increasing: NeuroKit2's own result
    for k in range(6):  # too few peaks (no rate) and too few beats inside the signal
        _assert_same(x, fs, peaks[:k].copy())
        _assert_same(x, fs, peaks[len(peaks) - k :].copy())


def test_regular_peaks_where_window_lengths_round_differently():
    # evenly spaced peaks: 60 / rate is a hair off the spacing, so the window start rounds one way
    # early in the recording and the other way later; NeuroKit2 then keeps no beat and fails
    fs = 64
    x = np.sin(np.arange(30 * fs) * (2 * np.pi * 1.1 / fs))
    assert _assert_same(x, fs, np.arange(0, x.size, 26)) is None  # both fail: no beat kept
    for step, offset in ((26, 13), (34, 0), (42, 21), (40, 0)):
        _assert_same(x, fs, np.arange(offset, x.size, step))


def test_failures_match_neurokit():
    fs = 100
    x = _clean(_ppg(fs, 10, 70, seed=6), fs)
    _assert_same(x[: 4 * fs - 1], fs)  # under 4 s
    _assert_same(x[: 4 * fs], fs)
    _assert_same(np.full(10 * fs, 2.0), fs)  # no beats
    _assert_same(np.linspace(0.0, 1.0, 10 * fs), fs)


def _old_window_sqi(cleaned: np.ndarray, fs: float, starts_s: np.ndarray, window_s: float) -> np.ndarray:
    """The index as it was computed with ``nk.ppg_quality`` directly."""
    x = np.asarray(cleaned, dtype=np.float64)
    ok = np.isfinite(x)
    x = np.interp(np.arange(x.size), np.flatnonzero(ok), x[ok])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = _reference(x, fs)
    n_win = int(round(window_s * fs))
    out = [np.nanmean(q[s : s + n_win]) for s in np.round(starts_s * fs).astype(np.int64)]
    return np.clip(np.array(out), 0.0, 1.0)


def test_window_quality_sqi_is_unchanged():
    fs = 100
    rng = np.random.default_rng(7)
    raw = 2.0 + _ppg(fs, 60, 72, seed=7)
    raw[int(33 * fs) : int(36 * fs)] += rng.normal(0.0, 1.5, 3 * fs)
    cleaned = _clean(raw, fs)
    cleaned[int(50 * fs) : int(50.5 * fs)] = np.nan  # a gap, interpolated before the index
    starts = np.arange(0.0, 51.0, 5.0)
    q = window_quality(raw, fs, "bvp", starts_s=starts, window_s=10.0, cleaned=cleaned)
    expected = _old_window_sqi(cleaned, fs, starts, 10.0)
    assert np.isfinite(q.sqi).all()
    np.testing.assert_allclose(q.sqi, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(q.low_sqi, expected < 0.8)


def test_low_amplitude_noise_is_scored_as_neurokit_scores_it():
    # NeuroKit2's peak finder is scale-free: it finds "beats" in faint noise, which score low
    fs = 100
    x = 1e-9 * np.random.default_rng(8).normal(size=30 * fs)
    starts = np.array([0.0, 10.0, 20.0])
    q = window_quality(x, fs, "bvp", starts_s=starts, window_s=10.0)
    np.testing.assert_allclose(q.sqi, _old_window_sqi(x, fs, starts, 10.0), rtol=1e-9, atol=1e-12)
    assert q.low_sqi.all()


@pytest.mark.parametrize("kind", ["constant", "zeros", "ramp", "two bumps"])
def test_beatless_signal_has_no_index(kind):
    fs = 100.0
    t = np.arange(3000) / fs
    x = {"constant": np.full(t.size, 2.0), "zeros": np.zeros(t.size), "ramp": t / 30.0,
         "two bumps": np.exp(-(((t - 3.0) / 0.1) ** 2)) + np.exp(-(((t - 16.0) / 0.1) ** 2))}[kind]
    q = window_quality(x, fs, "bvp", starts_s=np.array([0.0, 10.0, 20.0]), window_s=10.0)
    assert np.isnan(q.sqi).all() and not q.low_sqi.any()
