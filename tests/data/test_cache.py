"""Embedding cache: keys, hit/miss, and its use by the pipeline."""

from __future__ import annotations

import json

import numpy as np

from tiny_biomoe.data import EmbeddingCache, default_cache_dir, make_synthetic_pain
from tiny_biomoe.pain import PipelineConfig, extract_embeddings

BASE = dict(dataset_id="d", sampling_rate=100.0, modality="EDA", kind="waveform", params={"a": 1}, version="1", weights_hash="w")


def test_key_depends_on_every_part():
    w = np.arange(20.0).reshape(2, 10)
    k0 = EmbeddingCache.key(windows=w, **BASE)
    assert k0 == EmbeddingCache.key(windows=w.copy(), **BASE)
    w2 = w.copy()
    w2[1, 3] += 1
    keys = {EmbeddingCache.key(windows=w2, **BASE)}
    for name, val in (("dataset_id", "e"), ("sampling_rate", 50.0), ("modality", "BVP"), ("kind", "psd"),
                      ("params", {"a": 2}), ("version", "2"), ("weights_hash", "v")):
        keys.add(EmbeddingCache.key(windows=w, **{**BASE, name: val}))
    assert k0 not in keys and len(keys) == 8


def test_get_put_hit_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_BIOMOE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "embeddings"
    c = EmbeddingCache()
    assert c.get("abc") is None and c.misses == 1
    arr = np.random.default_rng(0).normal(size=(3, 192)).astype(np.float32)
    c.put("abc", arr, {"kind": "waveform"})
    np.testing.assert_array_equal(c.get("abc"), arr)
    assert c.hits == 1
    assert json.loads((tmp_path / "c" / "embeddings" / "abc.json").read_text())["kind"] == "waveform"
    off = EmbeddingCache(tmp_path / "c" / "embeddings", enabled=False)
    assert off.get("abc") is None


def test_pipeline_uses_cache(tmp_path):
    ds = make_synthetic_pain(n_subjects=2, trials_per_class=1, duration_s=5.0, seed=1, partitions=None)
    calls = []

    def fake(w, fs, m, k, model, **kw):
        calls.append((m, k))
        return np.tile(w[:, :1], (1, 192)).astype(np.float32)

    cfg = PipelineConfig(modalities=["EDA", "BVP"], kinds=["waveform", "psd"], window_s=5.0)
    cache = EmbeddingCache(tmp_path)
    t1 = extract_embeddings(ds, None, cfg, weights_info="w1", cache=cache, embed_fn=fake)
    assert len(calls) == 4 and cache.misses == 4 and cache.hits == 0
    t2 = extract_embeddings(ds, None, cfg, weights_info="w1", cache=cache, embed_fn=fake)
    assert len(calls) == 4 and cache.hits == 4
    for k in t1.embeddings:
        np.testing.assert_array_equal(t1.embeddings[k], t2.embeddings[k])
    extract_embeddings(ds, None, cfg, weights_info="w2", cache=cache, embed_fn=fake)  # other weights: misses
    assert len(calls) == 8
    cfg2 = PipelineConfig(modalities=["EDA"], kinds=["waveform"], window_s=5.0, render_params={"waveform": {"line_width": 3.0}})
    extract_embeddings(ds, None, cfg2, weights_info="w1", cache=cache, embed_fn=fake)  # other params: miss
    assert len(calls) == 9


def test_models_changed_in_memory_never_share_cached_embeddings(tmp_path, reference_checkpoint):
    """Two in-memory models, or a loaded checkpoint changed after loading (fine-tuned), are told apart by
    their tensors' hash, not by the file they came from or a common 'in-memory' source."""
    import torch

    from tiny_biomoe import TinyBioMoE
    from tiny_biomoe.model.provenance import describe_model, load_model

    ds = make_synthetic_pain(n_subjects=2, trials_per_class=1, duration_s=5.0, seed=1, partitions=None)
    calls = []

    def fake(w, fs, m, k, model, **kw):
        calls.append(m)
        return np.zeros((w.shape[0], 192), np.float32)

    cfg = PipelineConfig(modalities=["EDA"], kinds=["waveform"], window_s=5.0)
    cache = EmbeddingCache(tmp_path)
    torch.manual_seed(0)
    a, b = TinyBioMoE(), TinyBioMoE()
    for m in (a, b, a):
        extract_embeddings(ds, m, cfg, weights_info=describe_model(m), cache=cache, embed_fn=fake)
    assert len(calls) == 2 and cache.hits == 1  # a, b computed; a again from the cache
    loaded, info = load_model(str(reference_checkpoint), device="cpu")
    extract_embeddings(ds, loaded, cfg, weights_info=info, cache=cache, embed_fn=fake)
    with torch.no_grad():
        next(loaded.parameters()).add_(1.0)  # "fine-tuned": the same file, other tensors
    changed = describe_model(loaded)
    assert changed.sha256 == info.sha256 and changed.tensors_sha256 != info.tensors_sha256
    extract_embeddings(ds, loaded, cfg, weights_info=changed, cache=cache, embed_fn=fake)
    assert len(calls) == 4
