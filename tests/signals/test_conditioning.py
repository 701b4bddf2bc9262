"""signals.conditioning.condition against an independent scipy computation, for every modality."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal as sps

from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import get_modality, list_modalities
from tiny_biomoe.signals.conditioning import CONDITIONING, check_conditioning, condition, resolve_rate

#: native rate per modality: above the model rate (downsampling) and high enough for its filter
NATIVE = {"eda": 32.0, "bvp": 250.0, "resp": 50.0, "spo2": 1.0, "ecg": 1000.0, "emg": 2000.0, "eeg": 500.0}


def _recording(fs: float, seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    rng = np.random.default_rng(seed)
    f = min(1.3, fs / 5)
    return 3.0 + 0.05 * t + np.sin(2 * np.pi * f * t) + 0.3 * rng.normal(size=t.size)


def _scipy_expected(x: np.ndarray, fs: float, name: str) -> np.ndarray:
    """Zero-phase Butterworth at the native rate (mirrored edges over the settling length, as the
    package documents), then resample_poly with a linear edge model, written from scipy directly."""
    m = get_modality(name)
    hp, lp = m.highpass_hz, m.lowpass_hz
    if lp is not None and lp >= 0.45 * fs:  # the documented cap below Nyquist
        lp = 0.45 * fs if hp is not None else None
    y = x
    if hp is not None or lp is not None:
        if hp is not None and lp is not None:
            sos = sps.butter(m.filter_order, [hp, lp], btype="bandpass", fs=fs, output="sos")
        elif hp is not None:
            sos = sps.butter(m.filter_order, hp, btype="highpass", fs=fs, output="sos")
        else:
            sos = sps.butter(m.filter_order, lp, btype="lowpass", fs=fs, output="sos")
        radius = np.abs(sps.sos2zpk(sos)[1]).max()
        settle = int(math.ceil(math.log(1e-3) / math.log(radius)))
        y = sps.sosfiltfilt(sos, x, padtype="even", padlen=min(settle, x.size - 1))
    from fractions import Fraction

    r = Fraction(m.model_rate_hz / fs).limit_denominator(1000)
    return sps.resample_poly(y, r.numerator, r.denominator, padtype="line")


@pytest.mark.parametrize("name", list_modalities())
def test_condition_equals_scipy_filter_then_resample_then_windows(name):
    fs = NATIVE[name]
    m = get_modality(name)
    seconds = 3 * m.window_s + 1.0
    x = _recording(fs, seconds)
    c = condition(x, sampling_rate=fs, modality=name, quality=False)
    y = _scipy_expected(x, fs, name)
    n = int(round(m.window_s * m.model_rate_hz))
    expect = np.stack([y[i * n : (i + 1) * n] for i in range(3)])
    assert c.sampling_rate == m.model_rate_hz and c.original_sampling_rate == fs
    np.testing.assert_allclose(c.data, expect, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(c.starts, [0.0, m.window_s, 2 * m.window_s])
    assert c.settings["conditioning"] == {"order": ["gaps", "filter", "resample", "windows"], "version": 2}


def test_model_rates_documented():
    rates = {n: get_modality(n).model_rate_hz for n in list_modalities()}
    assert rates == {"eda": 100.0, "bvp": 100.0, "resp": 100.0, "spo2": 100.0, "ecg": 250.0, "emg": 1000.0, "eeg": 250.0}
    for n in list_modalities():  # every model rate holds the modality's filter band below the 0.45 x rate cap
        lp = get_modality(n).lowpass_hz
        assert lp is None or lp <= 0.45 * rates[n] + 1e-9


def test_native_and_explicit_rates():
    x = _recording(250.0, 25.0)
    assert condition(x, sampling_rate=250.0, modality="bvp", resample="native", quality=False).sampling_rate == 250.0
    assert condition(x, sampling_rate=250.0, modality="bvp", resample=50, quality=False).data.shape == (2, 500)
    assert resolve_rate(None, "ecg", 1000.0) == 250.0 and resolve_rate("native", "ecg", 1000.0) == 1000.0
    with pytest.raises(SignalError, match="'model', 'native' or a rate"):
        resolve_rate("fast", "ecg", 1000.0)


def test_one_gap_policy():
    fs = 100.0
    x = _recording(fs, 30.0)
    x[1500:1520] = np.nan  # 0.2 s: interpolated before filtering
    x[2100:2900] = np.nan  # 8 s: stays missing, its window is dropped
    with pytest.warns(UserWarning, match="dropped 1 of 3 windows"):
        c = condition(x, sampling_rate=fs, modality="bvp", quality=False)
    np.testing.assert_array_equal(c.starts, [0.0, 10.0])
    assert np.isfinite(c.data).all()
    assert c.settings["gaps"]["samples_interpolated"] == 20 and c.settings["gaps"]["samples_missing"] == 800


def test_never_padded():
    x = _recording(100.0, 8.0)
    with pytest.raises(SignalError, match="shorter than one window"):
        condition(x, sampling_rate=100.0, modality="bvp", window_s=10.0)
    with pytest.raises(SignalError, match="never padded"):
        condition(x, sampling_rate=100.0, modality="bvp", window_s=10.0, placement="centre")
    c = condition(x, sampling_rate=100.0, modality="bvp", window_s=5.0, placement="centre", quality=False)
    assert c.data.shape == (1, 500) and c.starts[0] == pytest.approx(1.5)  # the centre 5 s of 8 s


def test_lines_come_from_the_whole_unconditioned_recording():
    fs = 200.0
    x = _recording(fs, 40.0)
    c = condition(x, sampling_rate=fs, modality="bvp", lines=("raw", "filtered"), quality=False)
    np.testing.assert_array_equal(c.lines["filtered"], c.data)  # the band-passed line is the conditioned window
    assert not np.allclose(c.lines["raw"], c.data)  # raw is not the filtered window any more
    raw = sps.resample_poly(x, 1, 2, padtype="line")
    np.testing.assert_allclose(c.lines["raw"], np.stack([raw[i * 1000 : (i + 1) * 1000] for i in range(4)]), atol=1e-10)
    # EDA: tonic/phasic split over the whole recording (0.05 Hz needs more than a 10 s window)
    e = condition(x, sampling_rate=fs, modality="eda", lines=("raw", "tonic", "phasic"), quality=False)
    np.testing.assert_allclose(e.lines["tonic"] + e.lines["phasic"], e.lines["raw"], atol=1e-9)
    assert not np.allclose(e.lines["tonic"][0] - e.lines["tonic"][0].mean(), e.lines["tonic"][1] - e.lines["tonic"][1].mean())


def test_spans_cut_inside_segments_of_the_whole_conditioned_recording():
    fs = 100.0
    x = _recording(fs, 60.0)
    whole = condition(x, sampling_rate=fs, modality="bvp", window_s=5.0, quality=False)
    c = condition(x, sampling_rate=fs, modality="bvp", window_s=5.0, spans=[(10.0, 22.0), (30.0, 33.0), (40.0, 50.0)],
                  quality=False)
    np.testing.assert_array_equal(c.starts, [10.0, 15.0, 40.0, 45.0])
    np.testing.assert_array_equal(c.span_index, [0, 0, 2, 2])
    np.testing.assert_array_equal(c.data[2], whole.data[8])  # filtered whole, not per segment


def test_check_conditioning_recognises_the_old_order():
    assert check_conditioning(dict(CONDITIONING), "x") is None
    assert "old conditioning order (resample -> filter" in check_conditioning(None, "head")
    assert "version 1" in check_conditioning({"order": ["resample", "filter", "windows"], "version": 1}, "shards")


def test_a_recording_below_the_modality_band_is_warned_about_not_refused():
    import warnings as _w

    from tiny_biomoe.signals.conditioning import band_top_hz, condition

    x = np.random.default_rng(0).normal(size=250 * 20)
    assert band_top_hz("emg") == 450.0 and band_top_hz("spo2") == 0.5
    with pytest.warns(UserWarning, match=r"EMG recorded at 250 Hz: its Nyquist frequency \(125 Hz\) is below"):
        w = condition(x, sampling_rate=250, modality="emg")
    assert w.sampling_rate == 1000.0  # still made, at the model rate
    with _w.catch_warnings():
        _w.simplefilter("error", UserWarning)
        condition(x, sampling_rate=250, modality="emg", resample="native")  # not resampled up: no empty band is added
        condition(np.random.default_rng(1).normal(size=1000 * 20), sampling_rate=1000, modality="emg")
