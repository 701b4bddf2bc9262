"""Preprocessing against scipy, modality defaults, gaps and windowing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import signal as sps

from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import (
    eda_components,
    fill_short_gaps,
    get_modality,
    list_modalities,
    make_windows,
    normalize,
    preprocess,
    resample,
    signal_windows,
    zero_phase_filter,
)


def _noise(n=3000, seed=0):
    return np.random.default_rng(seed).normal(size=n).cumsum() * 0.1 + np.random.default_rng(seed + 1).normal(size=n)


def _filtfilt(sos, x):
    """scipy's zero-phase filter with the documented edges: mirror padding until the slowest pole decays to 1e-3."""
    settle = int(np.ceil(np.log(1e-3) / np.log(np.abs(sps.sos2zpk(sos)[1]).max())))
    return sps.sosfiltfilt(sos, x, padtype="even", padlen=min(settle, x.size - 1))


def _pulse_train(seconds, fs, seed):
    """A PPG-like quasi-periodic signal (~66 bpm, three harmonics) with drift and noise."""
    t = np.arange(int(seconds * fs)) / fs
    phase = 2 * np.pi * np.cumsum(1.1 + 0.1 * np.sin(2 * np.pi * 0.1 * t)) / fs
    x = sum(a * np.sin(k * phase + p) for k, a, p in ((1, 1.0, 0.0), (2, 0.5, 1.0), (3, 0.25, 2.0)))
    return x + 0.1 * t / seconds + 0.02 * np.random.default_rng(seed).normal(size=t.size)


# the spec table, written out independently of the code
SPEC = {
    "eda": (10.0, None, 5.0, 4.0, 0.9),
    "bvp": (10.0, 0.5, 8.0, 2.0, 0.9),
    "resp": (10.0, 0.05, 1.0, 4.0, 0.9),
    "spo2": (10.0, None, None, 4.0, 0.9),
    "ecg": (10.0, 0.5, 40.0, 1.0, 0.9),
    "emg": (5.0, 20.0, 450.0, 0.25, 0.75),
    "eeg": (10.0, 0.5, 45.0, 2.0, 0.9),
}


@pytest.mark.parametrize("name", sorted(SPEC))
def test_modality_defaults_match_spec_table(name):
    m = get_modality(name)
    assert (m.window_s, m.highpass_hz, m.lowpass_hz, m.stft_segment_s, m.stft_overlap) == SPEC[name]


def test_aliases_overrides_and_unknown():
    assert get_modality("PPG").name == "bvp" and get_modality("gsr").name == "eda"
    assert get_modality("spo2").value_range == (80.0, 100.0)
    assert get_modality("eda", window_s=5).window_s == 5 and get_modality("eda").window_s == 10
    with pytest.raises(SignalError, match="known modalities: " + ", ".join(list_modalities())):
        get_modality("ekgg")
    with pytest.raises(SignalError, match="unknown modality setting"):
        get_modality("eda", windw_s=3)


@pytest.mark.parametrize("name, fs", [("bvp", 100.0), ("ecg", 500.0), ("eeg", 256.0), ("resp", 50.0)])
def test_bandpass_equals_scipy(name, fs):
    x = _noise()
    m = get_modality(name)
    sos = sps.butter(4, [m.highpass_hz, m.lowpass_hz], btype="bandpass", fs=fs, output="sos")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = preprocess(x, sampling_rate=fs, modality=name)
    np.testing.assert_allclose(y, _filtfilt(sos, x), rtol=1e-10, atol=1e-12)


def test_eda_lowpass_and_spo2_untouched():
    x = _noise()
    sos = sps.butter(4, 5.0, btype="lowpass", fs=100.0, output="sos")
    np.testing.assert_allclose(preprocess(x, sampling_rate=100.0, modality="eda"), _filtfilt(sos, x), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_array_equal(preprocess(x, sampling_rate=100.0, modality="spo2"), x)
    # at 4 Hz the 5 Hz low-pass is above Nyquist: nothing to do
    np.testing.assert_array_equal(preprocess(x, sampling_rate=4.0, modality="eda"), x)


def test_emg_cutoff_capped_below_nyquist():
    x = _noise()
    y = preprocess(x, sampling_rate=500.0, modality="emg")  # 450 Hz > 0.45 * 500: capped at 225 Hz
    sos = sps.butter(4, [20.0, 225.0], btype="bandpass", fs=500.0, output="sos")
    np.testing.assert_allclose(y, _filtfilt(sos, x), rtol=1e-10, atol=1e-12)
    with pytest.raises(SignalError, match="band-pass"):
        preprocess(x, sampling_rate=40.0, modality="emg")


def test_filter_is_zero_phase():
    fs = 100.0
    t = np.arange(2000) / fs
    x = np.sin(2 * np.pi * 1.0 * t)
    y = zero_phase_filter(x, sampling_rate=fs, highpass_hz=0.5, lowpass_hz=8.0)
    mid = slice(500, 1500)
    lag = np.argmax(np.correlate(y[mid], x[mid], "full")) - (1000 - 1)
    assert lag == 0


def test_filtered_window_edges_follow_the_continuous_signal():
    # a 10 s window filtered on its own should match the filtered long recording at its edges too
    # (scipy's default odd, 0.27 s padding gave errors up to ~65 % of the range: a spike at the start)
    fs = 100.0
    sos = sps.butter(4, [0.5, 8.0], btype="bandpass", fs=fs, output="sos")
    errs = []
    for seed in range(3):
        x = _pulse_train(60.0, fs, seed)
        truth = sps.sosfiltfilt(sos, x)  # the middle of a long recording is free of edge effects
        for start in range(2000, 3000, 73):
            w, tw = x[start : start + 1000], truth[start : start + 1000]
            err = np.abs(preprocess(w, sampling_rate=fs, modality="bvp") - tw) / np.ptp(tw)
            errs.append((err[:50].max(), err[-50:].max()))
    errs = np.array(errs)
    assert errs.max() < 0.3 and errs.mean() < 0.15, errs.max(axis=0)


def test_eda_tonic_phasic_split():
    fs = 100.0
    x = _noise(4000)
    tonic, phasic = eda_components(x, sampling_rate=fs, cutoff_hz=0.05)
    sos = sps.butter(4, 0.05, btype="highpass", fs=fs, output="sos")
    np.testing.assert_allclose(phasic, _filtfilt(sos, x), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(tonic + phasic, x, rtol=1e-12)


def test_gaps_short_interpolated_long_kept():
    fs = 10.0
    x = np.arange(100, dtype=float)
    x[10:13] = np.nan  # 0.3 s gap
    x[40:70] = np.nan  # 3 s gap
    y, n = fill_short_gaps(x, sampling_rate=fs, max_gap_s=0.5)
    assert n == 3
    np.testing.assert_allclose(y[10:13], [10, 11, 12])
    assert np.isnan(y[40:70]).all()
    # filtering keeps the long gap and filters each stretch
    z = zero_phase_filter(y, sampling_rate=fs, highpass_hz=None, lowpass_hz=2.0)
    assert np.isnan(z[40:70]).all() and np.isfinite(z[:40]).all() and np.isfinite(z[70:]).all()


def test_windowing_drops_mostly_missing_and_reports():
    fs = 10.0
    x = np.sin(np.arange(400) / 5.0)
    x[100:180] = np.nan  # window 1 (100..199) is 80 % missing
    x[205:210] = np.nan  # window 2 is 5 % missing: kept and interpolated
    with pytest.warns(UserWarning, match="dropped 1 of 4"):
        w = make_windows(x, sampling_rate=fs, window_s=10.0)
    assert (w.n_candidates, w.n_dropped, len(w)) == (4, 1, 3)
    np.testing.assert_allclose(w.starts, [0.0, 20.0, 30.0])
    assert np.isfinite(w.data).all()
    np.testing.assert_array_equal(w.data[0], x[:100])


def test_windowing_stride_and_limits():
    x = np.arange(1000, dtype=float)
    w = make_windows(x, sampling_rate=100.0, window_s=2.0, stride_s=0.5, max_windows=3)
    assert w.data.shape == (3, 200) and w.stride_s == 0.5
    np.testing.assert_array_equal(w.data[2], x[100:300])
    assert make_windows(x, sampling_rate=100.0, window_s=2.0, stride_s=0.5).n_candidates == (1000 - 200) // 50 + 1
    with pytest.raises(SignalError, match="shorter than one window"):
        make_windows(x[:150], sampling_rate=100.0, window_s=2.0)
    with pytest.raises(SignalError, match="max_windows"):
        make_windows(x, sampling_rate=100.0, window_s=2.0, max_windows=0)
    with pytest.raises(SignalError, match="stride"):
        make_windows(x, sampling_rate=100.0, window_s=2.0, stride_s=-1.0)


@pytest.mark.parametrize(
    "sig, fs, match",
    [
        (np.full(1000, np.nan), 100.0, "no finite values"),
        (np.full(1000, 3.0), 100.0, "constant"),
        (np.zeros((2, 3, 4)), 100.0, "one channel"),
        (np.arange(10.0), 0.0, "not plausible"),
        (np.arange(10.0), 5e6, "not plausible"),
        (np.array([]), 100.0, "empty"),
    ],
)
def test_bad_signals(sig, fs, match):
    with pytest.raises(SignalError, match=match):
        preprocess(sig, sampling_rate=fs, modality="eda")


def test_resample_matches_resample_poly_and_keeps_gaps():
    x = _noise(1000)
    np.testing.assert_allclose(resample(x, sampling_rate=100.0, target_rate=64.0), sps.resample_poly(x, 16, 25),
                               rtol=1e-12)
    y = x.copy()
    y[400:600] = np.nan
    r = resample(y, sampling_rate=100.0, target_rate=50.0)
    assert r.size == 500 and np.isnan(r[210:290]).all() and np.isfinite(r[:190]).all()


def test_normalize():
    x = _noise(500)
    z = normalize(x, method="zscore")
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12
    mm = normalize(x, method="minmax")
    assert mm.min() == 0 and mm.max() == 1
    with pytest.raises(SignalError):
        normalize(x, method="l2")


def test_signal_windows_is_preprocess_resample_make_windows():
    x = _noise(6000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = signal_windows(x, 100.0, "ppg", 5.0, 2.5, target_rate=50.0, max_windows=4)
        y = sps.resample_poly(_filtfilt(sps.butter(4, [0.5, 8.0], btype="bandpass", fs=100.0, output="sos"), x), 1, 2,
                              padtype="line")  # the conditioning path resamples with a line-padded edge
    assert (got.sampling_rate, got.window_s, len(got)) == (50.0, 5.0, 4)
    np.testing.assert_allclose(got.data, [y[i * 125 : i * 125 + 250] for i in range(4)], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(signal_windows(x, 100.0, "spo2").data[0], x[:1000])  # no filter, 10 s windows
