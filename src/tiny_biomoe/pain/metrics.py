"""Classification metrics per fold and their aggregation across folds (scikit-learn's definitions)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["classification_metrics", "aggregate_folds", "out_of_fold", "bootstrap_ci", "predictions_frame"]


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class recall and the confusion matrix (rows = true, columns = predicted).

    Classes absent from both ``y_true`` and ``y_pred`` get recall ``nan`` (not 0) so that they do not
    distort averages; macro-F1 averages over the classes present in ``y_true`` or ``y_pred``. The
    values are scikit-learn's (``accuracy_score``, ``f1_score(labels=present, zero_division=0)``,
    ``recall_score``), computed from the confusion matrix as :func:`bootstrap_ci` does per resample:
    the pipeline calls this once per fold and experiment, and scikit-learn's input checks took ~7 ms
    a call, more than the rest of an experiment's evaluation.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    c = len(classes)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred need the same 1-D shape, got {y_true.shape} and {y_pred.shape}")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= c):
        raise ValueError(f"labels must be class indices 0..{c - 1}")
    cm = np.bincount(y_true * c + y_pred, minlength=c * c).reshape(c, c)
    acc, f1, recall = _scores(cm[None].astype(np.float64))
    return {
        "n": int(y_true.size),
        "accuracy": float(acc[0]),
        "macro_f1": float(f1[0]),
        "recall": {k: (None if np.isnan(r) else float(r)) for k, r in zip(classes, recall[0])},
        "confusion_matrix": cm.tolist(),
    }


def _scores(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Accuracy ``(B,)``, macro-F1 ``(B,)`` over the classes present (true or predicted) and per-class
    recall ``(B, C)`` (NaN for a class without true samples) of confusion matrices ``(B, C, C)``."""
    tp = np.einsum("bii->bi", cm)
    rows, cols = cm.sum(axis=2), cm.sum(axis=1)  # true counts (support), predicted counts
    acc = tp.sum(axis=1) / np.maximum(rows.sum(axis=1), 1)
    denom = rows + cols  # 2 tp + fp + fn
    present = denom > 0
    f1 = np.where(present, 2 * tp / np.where(present, denom, 1), 0.0)
    mf1 = (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(rows > 0, tp / np.where(rows > 0, rows, 1), np.nan)
    return acc, mf1, recall


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


def out_of_fold(folds: Sequence, y: np.ndarray, proba: Sequence[np.ndarray], groups: np.ndarray,
                trial_ids: Sequence[str] | None = None) -> dict:
    """Out-of-fold predictions as JSON-able columns: per test trial its ``subject``, ``trial``,
    ``fold``, ``true`` and ``predicted`` class index and class ``proba`` (rows in fold order).

    ``folds`` are :class:`~tiny_biomoe.pain.protocols.Fold` objects and ``proba[i]`` the
    ``(len(folds[i].test), n_classes)`` probabilities of fold ``i``.
    """
    idx = np.concatenate([np.asarray(f.test, dtype=np.int64) for f in folds]) if folds else np.zeros(0, np.int64)
    p = np.concatenate([np.asarray(a, dtype=np.float64) for a in proba], axis=0) if folds else np.zeros((0, 0))
    ids = list(trial_ids) if trial_ids is not None else [str(i) for i in range(len(y))]
    return {
        "index": idx.tolist(),
        "subject": [str(groups[i]) for i in idx],
        "trial": [ids[i] for i in idx],
        "fold": [f.name for f in folds for _ in range(len(f.test))],
        "true": np.asarray(y)[idx].astype(int).tolist(),
        "predicted": p.argmax(axis=1).astype(int).tolist() if p.size else [],
        "proba": np.round(p, 6).tolist(),
    }


def bootstrap_ci(y_true: Sequence[int], y_pred: Sequence[int], groups: Sequence, n_classes: int, *,
                 n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Percentile bootstrap intervals of accuracy and macro-F1 over pooled predictions, resampling
    whole subjects with replacement (trials of one subject are not independent).

    Macro-F1 is computed per resample as in :func:`classification_metrics` (over classes present in
    the resample's true or predicted labels). Returns ``{"accuracy": {"low", "high"}, "macro_f1":
    {...}, "level", "n_boot", "seed", "unit": "subject", "subjects"}``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    subj, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    if y_true.size == 0 or n_boot < 1 or not 0 < level < 1:
        raise ValueError("bootstrap needs predictions, n_boot >= 1 and 0 < level < 1")
    per = np.zeros((subj.size, n_classes, n_classes), np.int64)  # one confusion matrix per subject
    np.add.at(per, (inv, y_true, y_pred), 1)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(subj.size, np.full(subj.size, 1.0 / subj.size), size=n_boot)  # (B, S) draws
    cm = np.einsum("bs,sij->bij", counts, per).astype(np.float64)  # (B, C, C)
    acc, mf1, _ = _scores(cm)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    lo_a, hi_a = np.percentile(acc, q)
    lo_f, hi_f = np.percentile(mf1, q)
    return {"accuracy": {"low": float(lo_a), "high": float(hi_a)}, "macro_f1": {"low": float(lo_f), "high": float(hi_f)},
            "level": float(level), "n_boot": int(n_boot), "seed": int(seed), "unit": "subject", "subjects": int(subj.size)}


def predictions_frame(results: dict) -> "Any":
    """All experiments' out-of-fold predictions of :func:`~tiny_biomoe.pain.evaluate` results as one
    pandas DataFrame: ``experiment, level, subject, trial, fold, true, predicted, p_<class> ...``
    (labels as class names)."""
    import pandas as pd

    classes = list(results.get("classes", []))
    frames = []
    for e in results.get("experiments", []):
        oof = e.get("oof")
        if not oof:
            continue
        df = pd.DataFrame({"experiment": e["name"], "level": e.get("level"), "subject": oof["subject"],
                           "trial": oof["trial"], "fold": oof["fold"],
                           "true": [classes[i] for i in oof["true"]], "predicted": [classes[i] for i in oof["predicted"]]})
        p = np.asarray(oof["proba"], dtype=np.float64).reshape(len(df), -1)
        for j, c in enumerate(classes[: p.shape[1]]):
            df[f"p_{c}"] = p[:, j]
        frames.append(df)
    cols = ["experiment", "level", "subject", "trial", "fold", "true", "predicted"] + [f"p_{c}" for c in classes]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
