"""Metrics against scikit-learn on independent random inputs; aggregation against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tiny_biomoe.pain import aggregate_folds, classification_metrics

CLASSES = ["No_Pain", "Low_Pain", "High_Pain"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 50)
    p = np.where(rng.random(50) < 0.6, y, rng.integers(0, 3, 50))
    m = classification_metrics(y, p, CLASSES)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
    rec = skm.recall_score(y, p, average=None)
    assert [m["recall"][c] for c in CLASSES] == pytest.approx(list(rec))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, p).tolist()


def test_absent_class_recall_is_none():
    m = classification_metrics([0, 0, 1], [0, 1, 1], CLASSES)
    assert m["recall"]["High_Pain"] is None
    assert np.asarray(m["confusion_matrix"]).shape == (3, 3)


def test_aggregate():
    rng = np.random.default_rng(3)
    folds = []
    for _ in range(4):
        y = rng.integers(0, 3, 30)
        p = rng.integers(0, 3, 30)
        folds.append(classification_metrics(y, p, CLASSES))
    agg = aggregate_folds(folds, CLASSES)
    accs = np.array([f["accuracy"] for f in folds])
    assert agg["accuracy"]["mean"] == pytest.approx(accs.mean())
    assert agg["accuracy"]["std"] == pytest.approx(accs.std())
    f1 = np.array([f["macro_f1"] for f in folds])
    assert agg["macro_f1"]["mean"] == pytest.approx(f1.mean())
    cm = sum(np.asarray(f["confusion_matrix"]) for f in folds)
    assert agg["confusion_matrix"] == cm.tolist()
    assert agg["pooled_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())


@pytest.mark.parametrize("seed", range(6))
def test_against_sklearn_with_absent_and_never_predicted_classes(seed):
    # 4 classes, some never true or never predicted: macro-F1 over the classes present (sklearn's labels=present)
    rng = np.random.default_rng(10 + seed)
    classes = ["a", "b", "c", "d"]
    y = rng.choice([0, 1, 3] if seed % 2 else [0, 1], 20)
    p = np.where(rng.random(20) < 0.5, y, rng.choice([0, 2], 20))
    m = classification_metrics(y, p, classes)
    present = np.unique(np.concatenate([y, p]))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p, labels=present, average="macro", zero_division=0))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    rec = skm.recall_score(y, p, labels=np.arange(4), average=None, zero_division=0)
    for i, c in enumerate(classes):
        assert m["recall"][c] == (None if not (y == i).any() else pytest.approx(rec[i]))
    assert m["confusion_matrix"] == skm.confusion_matrix(y, p, labels=np.arange(4)).tolist()


def test_metrics_refuse_labels_outside_the_classes():
    with pytest.raises(ValueError, match="class indices 0..2"):
        classification_metrics([0, 1, 3], [0, 1, 1], CLASSES)
    with pytest.raises(ValueError, match="same 1-D shape"):
        classification_metrics([0, 1], [0, 1, 1], CLASSES)
    assert classification_metrics([], [], CLASSES)["n"] == 0
