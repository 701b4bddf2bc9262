"""BioMoEEmbedder(pooling="attention"): the parameter-free attention pool of window embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from tiny_biomoe.embed import embed_signal
from tiny_biomoe.errors import InputError
from tiny_biomoe.sklearn import BioMoEEmbedder, clear_memory_cache, pool_windows

FS = 20.0


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_memory_cache()
    yield
    clear_memory_cache()


def _softmax_cos_reference(e, t):
    """The definition written out window by window (independent of the vectorised implementation)."""
    m = sum(e) / len(e)
    scores = [float(np.dot(x, m) / (np.linalg.norm(x) * np.linalg.norm(m))) for x in e]
    w = [np.exp(s / t) for s in scores]
    return sum(wi * x for wi, x in zip(w, e)) / sum(w)


def test_one_window_and_identical_windows_give_the_mean():
    rng = np.random.default_rng(0)
    one = rng.normal(size=(1, 192)).astype(np.float32)
    np.testing.assert_array_equal(pool_windows(one, "attention"), pool_windows(one, "mean"))
    same = np.repeat(rng.normal(size=(1, 192)), 7, axis=0)
    np.testing.assert_allclose(pool_windows(same, "attention", 0.01), same.mean(axis=0), rtol=1e-12, atol=1e-12)


def test_matches_definition_and_temperature_limits():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(5, 16)) + 2.0
    for t in (0.05, 0.1, 1.0):
        np.testing.assert_allclose(pool_windows(e, "attention", t), _softmax_cos_reference(list(e), t), rtol=1e-10)
    np.testing.assert_allclose(pool_windows(e, "attention", 1e9), e.mean(axis=0), rtol=1e-6)
    # scale invariance of the weights (cosine scores): scaling all windows scales the pool
    np.testing.assert_allclose(pool_windows(10 * e, "attention"), 10 * pool_windows(e, "attention"), rtol=1e-10)
    assert not np.allclose(pool_windows(e, "attention", 0.05), e.mean(axis=0), rtol=1e-3)


def test_outlier_window_gets_less_weight_than_in_the_mean():
    rng = np.random.default_rng(2)
    majority = rng.normal(size=32)
    e = np.stack([majority + 0.05 * rng.normal(size=32) for _ in range(5)] + [rng.normal(size=32) * 3])
    att, mean = pool_windows(e, "attention"), pool_windows(e, "mean")
    assert np.linalg.norm(att - majority) < 0.5 * np.linalg.norm(mean - majority)
    zero = np.vstack([e[:5], np.zeros((1, 32))])  # a norm-0 window scores 0 instead of NaN
    assert np.all(np.isfinite(pool_windows(zero, "attention")))


def test_bad_pooling_and_temperature():
    e = np.ones((3, 4))
    with pytest.raises(InputError, match="pooling must be one of.*attention"):
        pool_windows(e, "median")
    for t in (0, -1.0, float("nan"), "warm"):
        with pytest.raises(InputError, match="temperature"):
            pool_windows(e, "attention", t)
    with pytest.raises(InputError, match="n_windows"):
        pool_windows(np.ones(4), "attention")


def test_params_round_trip_and_errors(reference_model):
    emb = BioMoEEmbedder(sampling_rate=FS, pooling="attention", temperature=0.2, weights=reference_model)
    p = emb.get_params()
    assert p["pooling"] == "attention" and p["temperature"] == 0.2
    other = BioMoEEmbedder().set_params(**p)
    assert other.get_params() == p
    assert clone(emb).get_params()["temperature"] == 0.2
    X = np.ones((2, 200)) + np.linspace(0, 1, 200)
    with pytest.raises(InputError, match="pooling must be one of"):
        clone(emb).set_params(pooling="attn").fit(X)
    with pytest.raises(InputError, match="temperature"):
        clone(emb).set_params(temperature=0.0).fit(X)


def test_transform_attention_pools_real_window_embeddings(reference_model):
    t = np.arange(100) / FS
    clean = 2 + 0.3 * np.sin(2 * np.pi * 0.4 * t)
    noisy = 2 + np.random.default_rng(3).normal(size=100)  # one artefact window among four clean ones
    trial = np.concatenate([clean, clean, clean, clean, noisy])
    kw = dict(sampling_rate=FS, modality="eda", kinds="waveform", window=5.0, preprocess=False,
              weights=reference_model)
    att = BioMoEEmbedder(pooling="attention", **kw).fit([trial]).transform([trial])[0]
    mean = BioMoEEmbedder(pooling="mean", **kw).fit([trial]).transform([trial])[0]
    res = embed_signal(trial, sampling_rate=FS, modality="eda", kinds="waveform", model=reference_model,
                       window=5.0, preprocess=False)
    wins = res.embeddings["waveform"]
    assert wins.shape[0] == 5
    np.testing.assert_allclose(att, pool_windows(wins, "attention", 0.1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mean, wins.mean(axis=0), rtol=1e-4, atol=1e-5)
    majority = wins[:4].mean(axis=0)
    assert np.linalg.norm(att - majority) < np.linalg.norm(mean - majority)
    # a one-window trial: attention equals mean through the estimator
    short = clean.copy()
    one = dict(kw, window=None)
    a1 = BioMoEEmbedder(pooling="attention", **one).fit([short]).transform([short])
    m1 = BioMoEEmbedder(pooling="mean", **one).fit([short]).transform([short])
    np.testing.assert_array_equal(a1, m1)
    # temperature is part of the cache key only where it matters
    hot = BioMoEEmbedder(pooling="attention", temperature=100.0, **kw).fit([trial]).transform([trial])[0]
    assert not np.allclose(hot, att, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hot, mean, rtol=1e-3, atol=1e-4)
