"""Classification metrics per fold and their aggregation across folds (scikit-learn underneath)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn import metrics as skm

__all__ = ["classification_metrics", "aggregate_folds"]


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class recall and the confusion matrix (rows = true, columns = predicted).

    Classes absent from both ``y_true`` and ``y_pred`` get recall ``nan`` (not 0) so that they do not
    distort averages; macro-F1 averages over the classes present in ``y_true`` or ``y_pred``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    labels = np.arange(len(classes))
    cm = skm.confusion_matrix(y_true, y_pred, labels=labels)
    present = np.unique(np.concatenate([y_true, y_pred]))
    recall = skm.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0).astype(float)
    support = cm.sum(axis=1)
    recall[support == 0] = np.nan
    return {
        "n": int(y_true.size),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_f1": float(skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(classes, recall)},
        "confusion_matrix": cm.tolist(),
    }


def aggregate_folds(folds: Sequence[dict], classes: Sequence[str]) -> dict:
    """Mean and (population) standard deviation across folds of accuracy, macro-F1 and per-class
    recall, plus the summed confusion matrix and the pooled metrics over all test predictions."""
    if not folds:
        raise ValueError("no folds to aggregate")
    out: dict = {"folds": len(folds)}
    for k in ("accuracy", "macro_f1"):
        v = np.array([f[k] for f in folds], dtype=float)
        out[k] = {"mean": float(v.mean()), "std": float(v.std())}
    rec = {}
    for c in classes:
        v = np.array([f["recall"][c] for f in folds if f["recall"].get(c) is not None], dtype=float)
        rec[c] = {"mean": float(v.mean()), "std": float(v.std())} if v.size else None
    out["recall"] = rec
    cm = np.sum([np.asarray(f["confusion_matrix"]) for f in folds], axis=0)
    out["confusion_matrix"] = cm.tolist()
    out["pooled_accuracy"] = float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan")
    return out
