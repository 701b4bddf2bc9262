"""signals.quality: flat-line dropouts, clipping and NeuroKit2's SQI on a synthetic PPG."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_biomoe.signals.conditioning import condition
from tiny_biomoe.signals.quality import flat_runs, window_quality

FS = 100.0


def _ppg(seconds: float = 60.0) -> np.ndarray:
    import neurokit2 as nk

    return 2.0 + nk.ppg_simulate(duration=seconds, sampling_rate=int(FS), heart_rate=70, random_state=3)


@pytest.fixture(scope="module")
def damaged():
    x = _ppg()
    x[int(12 * FS) : int(19 * FS)] = 0.0  # a sensor dropout to 0 for 7 s, inside window 1 (10-20 s)
    seg = slice(int(40 * FS), int(48 * FS))  # window 4 (40-50 s): a gain jump saturates the converter
    limit = x.max() * 1.01  # the converter's top, above every other sample
    x[seg] = np.minimum(2.0 + 3.0 * (x[seg] - 2.0), limit)
    return x


def test_flat_runs_are_runs_of_identical_samples():
    x = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, np.nan, np.nan, 4.0])
    assert flat_runs(x) == [(0, 2), (3, 6)]  # NaN gaps are not flat


def test_dropout_and_clipping_are_flagged_in_their_windows(damaged):
    c = condition(damaged, sampling_rate=FS, modality="bvp")
    q = c.quality
    assert len(q) == 6
    assert q.flatline.tolist() == [False, True, False, False, False, False]
    assert q.flatline_s[1] == pytest.approx(7.0)
    assert q.clipped.tolist() == [False, False, False, False, True, False]
    assert q.clipped_fraction[4] > 0.05 and q.clipped_fraction[1] == 0.0  # the dropout is not counted as clipping
    # the band-pass turns the dropout into a smooth line that passes as signal: only the flags tell
    assert np.ptp(c.data[1]) > 0
    assert np.isfinite(q.sqi).all() and (q.sqi[[0, 2, 3, 5]] > 0.9).all()  # NeuroKit2's templatematch on clean windows
    assert q.counts() == {"windows": 6, "flagged": 2, "flatline": 1, "clipped": 1, "low_sqi": int(q.low_sqi.sum())}
    assert "2 of 6 windows flagged" in q.summary()


def test_clean_ppg_has_no_flags():
    q = condition(_ppg(30.0), sampling_rate=FS, modality="bvp").quality
    assert not q.flagged.any()


def test_low_sqi_flags_a_noisy_ppg():
    x = _ppg(30.0) + np.random.default_rng(0).normal(0, 1.5, int(30 * FS))
    q = condition(x, sampling_rate=FS, modality="bvp").quality
    assert q.low_sqi.all() and q.settings["sqi_method"] == "ppg_templatematch"


def test_spo2_plateaus_are_not_flagged_and_other_modalities_have_no_sqi():
    spo2 = np.repeat([97.0, 98.0, 97.0], 1000)  # whole-percent saturation: flat for 10 s at a time
    q = window_quality(spo2, FS, "spo2", starts_s=np.array([0.0, 10.0, 20.0]), window_s=10.0)
    assert not q.flagged.any() and np.isnan(q.sqi).all()
    eda = np.linspace(2.0, 3.0, 3000)
    assert np.isnan(window_quality(eda, FS, "eda", starts_s=np.array([0.0]), window_s=10.0).sqi).all()
