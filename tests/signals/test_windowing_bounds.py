"""make_windows bounds its memory: a tiny stride with max_windows copies only those windows; too many is refused."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals.windowing import make_windows


def test_tiny_stride_with_max_windows_allocates_little():
    x = np.sin(np.arange(720_000) / 50.0)  # 2 h at 100 Hz: 719,001 windows of 10 s at a 1-sample stride
    x[5000:5300] = np.nan
    tracemalloc.start()
    try:
        w = make_windows(x, sampling_rate=100.0, window_s=10.0, stride_s=0.01, max_windows=16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert w.data.shape == (16, 1000) and w.n_candidates == 719_001
    np.testing.assert_array_equal(w.data[3], x[3:1003])
    assert peak < 64 * 2**20  # copying every window first needed 5.7 GB (and a 719 MB NaN mask)


def test_missing_fraction_same_as_per_window_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    x[rng.random(3000) < 0.45] = np.nan
    w = make_windows(x, sampling_rate=100.0, window_s=1.0, stride_s=0.5, max_missing=0.45)
    view = np.lib.stride_tricks.sliding_window_view(x, 100)[::50]
    expect = np.flatnonzero(np.isnan(view).mean(axis=1) <= 0.45)
    np.testing.assert_allclose(w.starts, expect * 0.5)


def test_too_many_windows_refused_with_the_limit(monkeypatch):
    monkeypatch.setenv("TINY_BIOMOE_MAX_WINDOWS", "1000")
    with pytest.raises(SignalError, match=r"over the limit of 1000.*max-windows.*TINY_BIOMOE_MAX_WINDOWS"):
        make_windows(np.sin(np.arange(20_000) / 9.0), sampling_rate=100.0, window_s=1.0, stride_s=0.01)
    assert len(make_windows(np.sin(np.arange(20_000) / 9.0), sampling_rate=100.0, window_s=1.0, stride_s=0.01,
                            max_windows=1000)) == 1000
