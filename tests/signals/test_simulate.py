"""Generated recordings: every modality, deterministic per seed, the requested length, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from tiny_biomoe.errors import InputError, SignalError
from tiny_biomoe.signals.modalities import list_modalities
from tiny_biomoe.signals.simulate import simulate_recording


@pytest.mark.parametrize("modality", list_modalities())
def test_every_modality_is_deterministic_and_has_the_requested_length(modality):
    a = simulate_recording(modality, duration_s=12.5, sampling_rate=64, seed=4)
    b = simulate_recording(modality, duration_s=12.5, sampling_rate=64, seed=4)
    c = simulate_recording(modality, duration_s=12.5, sampling_rate=64, seed=5)
    assert a.shape == (800,) and a.dtype == np.float64 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and np.ptp(a) > 0


def test_spo2_is_whole_percents_read_once_a_second():
    x = simulate_recording("spo2", duration_s=60, sampling_rate=100, seed=1)
    assert np.all(x == np.round(x)) and 80 <= x.min() and x.max() <= 100
    assert np.all(np.diff(x)[np.arange(x.size - 1) % 100 != 99] == 0)  # changes only at whole seconds


def test_bvp_has_its_pulse_where_the_heart_rate_is():
    x = simulate_recording("bvp", duration_s=60, sampling_rate=100, seed=2)
    f, p = sps.welch(x - x.mean(), 100.0, nperseg=2000)
    assert 0.9 <= f[np.argmax(p)] <= 1.5  # 60-85 bpm: the pulse dominates the spectrum


def test_bad_inputs():
    with pytest.raises(InputError, match="whole number of Hz"):
        simulate_recording("eda", sampling_rate=64.5)
    with pytest.raises(InputError, match="at least 10 s"):
        simulate_recording("eda", duration_s=5)
    with pytest.raises(SignalError, match="unknown modality"):
        simulate_recording("xyz")
