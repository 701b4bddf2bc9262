"""Synthetic pain data: determinism, shape, plausible label effects, learnable but not trivial."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks

from tiny_biomoe.data import SyntheticPainConfig, make_synthetic_pain
from tiny_biomoe.errors import ConfigError
from tiny_biomoe.pain import HeadConfig, make_folds, train_head


@pytest.fixture(scope="module")
def syn():
    return make_synthetic_pain(n_subjects=10, trials_per_class=3, seed=0)


def test_deterministic_and_seed_dependent():
    a = make_synthetic_pain(n_subjects=3, trials_per_class=1, seed=5)
    b = make_synthetic_pain(SyntheticPainConfig(n_subjects=3, trials_per_class=1, seed=5))
    c = make_synthetic_pain(n_subjects=3, trials_per_class=1, seed=6)
    for ta, tb in zip(a.trials, b.trials):
        assert (ta.subject, ta.trial, ta.label) == (tb.subject, tb.trial, tb.label)
        for m in ta.signals:
            np.testing.assert_array_equal(ta.signals[m], tb.signals[m])
    assert not np.array_equal(a.trials[0].signals["BVP"], c.trials[0].signals["BVP"])


def test_shape_rates_partitions(syn):
    assert syn.classes == ["No_Pain", "Low_Pain", "High_Pain"]
    assert len(syn.trials) == 90 and len(syn.subjects) == 10
    for t in syn.trials[:5]:
        assert set(t.signals) == {"EDA", "BVP", "RESP", "SpO2"}
        assert all(len(x) == 1000 and np.all(np.isfinite(x)) for x in t.signals.values())
        assert all(fs == 100.0 for fs in t.sampling_rates.values())
        assert 80 <= t.signals["SpO2"].min() and t.signals["SpO2"].max() <= 100
    parts = {}
    for t in syn.trials:
        parts.setdefault(t.subject, set()).add(t.partition)
    assert all(len(p) == 1 for p in parts.values())  # partitions are subject-disjoint
    assert {p for s in parts.values() for p in s} == {"train", "validation", "test"}
    assert any("say nothing about real patients" in n for n in syn.notes)
    with pytest.raises(ConfigError):
        make_synthetic_pain(n_subjects=1)


def _heart_rate(x: np.ndarray, fs: float) -> float:
    peaks, _ = find_peaks(x, distance=int(0.33 * fs), prominence=0.3 * np.std(x))
    return 60.0 * fs / np.median(np.diff(peaks))


def _breaths(x: np.ndarray, fs: float) -> float:
    peaks, _ = find_peaks(x, distance=int(1.2 * fs), prominence=0.5 * np.std(x))
    return len(peaks)


def test_label_effects_have_plausible_direction(syn):
    hr = {c: [] for c in syn.classes}
    br = {c: [] for c in syn.classes}
    for t in syn.trials:
        hr[t.label].append(_heart_rate(t.signals["BVP"], 100.0))
        br[t.label].append(_breaths(t.signals["RESP"], 100.0))
    m_hr = {c: np.median(v) for c, v in hr.items()}
    assert m_hr["High_Pain"] - m_hr["No_Pain"] > 3  # bpm, measured with scipy peak detection
    assert m_hr["High_Pain"] - m_hr["No_Pain"] < 20  # modest, not a giveaway
    assert np.mean(br["High_Pain"]) > np.mean(br["No_Pain"])
    assert 55 <= m_hr["No_Pain"] <= 95


def test_learnable_but_not_trivial(syn):
    """Simple hand features + logistic regression under LOSO: clearly above chance, far from perfect."""
    def feats(t):
        f = []
        for m in ("EDA", "BVP", "RESP", "SpO2"):
            x = t.signals[m]
            spec = np.abs(np.fft.rfft(x - x.mean(), n=8000))
            fr = np.fft.rfftfreq(8000, 0.01)
            band = (fr > 0.1) & (fr < 3)
            f += [x.std(), np.ptp(x), fr[band][np.argmax(spec[band])], np.abs(np.diff(x)).mean(), x[-100:].mean() - x[:100].mean()]
        return f

    x = np.array([feats(t) for t in syn.trials])
    y, g = syn.labels_array(), syn.groups_array()
    correct = 0
    for f in make_folds("loso", g):
        head, _ = train_head(x[f.train], y[f.train], 3, HeadConfig(kind="logreg"))
        correct += int((head.predict(x[f.test]) == y[f.test]).sum())
    acc = correct / len(y)
    assert 0.40 < acc < 0.95
