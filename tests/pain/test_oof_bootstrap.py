"""Out-of-fold predictions and subject-level bootstrap intervals (checked against a plain sklearn loop)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from tiny_biomoe.data import make_synthetic_pain
from tiny_biomoe.pain import FusionSpec, PipelineConfig, evaluate
from tiny_biomoe.pain.metrics import bootstrap_ci, predictions_frame


def _loop_bootstrap(y, p, groups, n_boot, seed, level):
    subj, inv = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(subj.size, np.full(subj.size, 1.0 / subj.size), size=n_boot)
    acc, f1 = [], []
    for c in counts:
        idx = np.concatenate([np.repeat(np.flatnonzero(inv == s)[None], k, axis=0).ravel() for s, k in enumerate(c) if k])
        present = np.unique(np.concatenate([y[idx], p[idx]]))
        acc.append(accuracy_score(y[idx], p[idx]))
        f1.append(f1_score(y[idx], p[idx], labels=present, average="macro", zero_division=0))
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return np.percentile(acc, q), np.percentile(f1, q)


def test_bootstrap_matches_a_plain_loop():
    rng = np.random.default_rng(5)
    groups = np.repeat([f"s{i}" for i in range(7)], 9)
    y = rng.integers(0, 3, groups.size)
    p = np.where(rng.random(groups.size) < 0.6, y, rng.integers(0, 3, groups.size))
    ci = bootstrap_ci(y, p, groups, 3, n_boot=300, seed=11, level=0.9)
    acc, f1 = _loop_bootstrap(y, p, groups, 300, 11, 0.9)
    np.testing.assert_allclose([ci["accuracy"]["low"], ci["accuracy"]["high"]], acc, rtol=1e-12)
    np.testing.assert_allclose([ci["macro_f1"]["low"], ci["macro_f1"]["high"]], f1, rtol=1e-12)
    assert ci["accuracy"]["low"] <= accuracy_score(y, p) <= ci["accuracy"]["high"]
    assert bootstrap_ci(y, p, groups, 3, n_boot=300, seed=11, level=0.9) == ci  # seeded
    one = bootstrap_ci(y[:9], p[:9], groups[:9], 3, n_boot=50)  # one subject: every resample is the same
    assert one["accuracy"]["low"] == one["accuracy"]["high"] == accuracy_score(y[:9], p[:9])
    with pytest.raises(ValueError):
        bootstrap_ci([], [], [], 3)


def _feature_embed(w, fs, m, k, model, **kw):
    spec = np.abs(np.fft.rfft(w - w.mean(1, keepdims=True), axis=1))[:, :188]
    mom = np.stack([w.mean(1), w.std(1), np.ptp(w, 1), np.abs(np.diff(w, axis=1)).mean(1)], 1)
    return np.concatenate([spec, mom], 1).astype(np.float32)


def test_evaluate_keeps_out_of_fold_predictions():
    ds = make_synthetic_pain(n_subjects=4, trials_per_class=2, seed=2)
    cfg = PipelineConfig(modalities=["EDA"], kinds=["waveform"], protocol="loso")
    spec = FusionSpec("EDA/waveform", "single", (("EDA", "waveform"),), "none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, table = evaluate(ds, cfg, model=None, embed_fn=_feature_embed)
    from tiny_biomoe.pain.pipeline import evaluate_embeddings

    res = {**res, **evaluate_embeddings(table, cfg, experiments=[spec])}
    e = res["experiments"][0]
    oof = e["oof"]
    assert sorted(oof["index"]) == list(range(len(table.labels)))  # each trial tested exactly once
    assert oof["true"] == table.labels[oof["index"]].tolist()
    assert [table.groups[i] for i in oof["index"]] == oof["subject"]
    proba = np.asarray(oof["proba"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert oof["predicted"] == proba.argmax(axis=1).tolist()
    for fold in e["folds"]:  # per-fold metrics agree with the stored predictions
        rows = [i for i, f in enumerate(oof["fold"]) if f == fold["fold"]]
        assert fold["accuracy"] == pytest.approx(np.mean([oof["true"][i] == oof["predicted"][i] for i in rows]))
        assert {oof["subject"][i] for i in rows} == set(fold["test_subjects"])
    b = e["bootstrap"]
    assert b["unit"] == "subject" and b["subjects"] == 4 and b["n_boot"] == 1000
    assert b["accuracy"]["low"] <= e["aggregate"]["pooled_accuracy"] <= b["accuracy"]["high"]
    df = predictions_frame(res)
    assert list(df.columns) == ["experiment", "level", "subject", "trial", "fold", "true", "predicted",
                                "p_No_Pain", "p_Low_Pain", "p_High_Pain"]
    assert len(df) == len(table.labels) and set(df["true"]) <= set(res["classes"])
