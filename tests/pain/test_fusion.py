"""Fusion: shapes and arithmetic, experiment planning."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_biomoe.errors import ConfigError
from tiny_biomoe.pain import fuse, plan_experiments


@pytest.fixture
def emb():
    rng = np.random.default_rng(0)
    return {(m, k): rng.normal(size=(5, 192)).astype(np.float32) for m in ("EDA", "BVP") for k in ("waveform", "psd")}


def test_add_mean_concat(emb):
    keys = [("EDA", "waveform"), ("EDA", "psd"), ("BVP", "psd")]
    s = fuse(emb, keys, "add")
    np.testing.assert_allclose(s, emb[keys[0]] + emb[keys[1]] + emb[keys[2]], rtol=1e-6)
    np.testing.assert_allclose(fuse(emb, keys, "mean"), s / 3, rtol=1e-6)
    c = fuse(emb, keys, "concat")
    assert c.shape == (5, 576)
    np.testing.assert_array_equal(c[:, 192:384], emb[keys[1]])
    np.testing.assert_array_equal(fuse(emb, keys[:1], "add"), emb[keys[0]])


def test_errors(emb):
    with pytest.raises(ConfigError, match="no embeddings"):
        fuse(emb, [("RESP", "waveform")])
    with pytest.raises(ConfigError, match="unknown fusion"):
        fuse(emb, [("EDA", "waveform"), ("EDA", "psd")], "max")
    bad = dict(emb)
    bad[("X", "y")] = np.zeros((4, 192), np.float32)
    with pytest.raises(ConfigError, match="same number of rows"):
        fuse(bad, [("EDA", "psd"), ("X", "y")], "add")


def test_plan_levels():
    exps = plan_experiments(["EDA", "BVP", "RESP"], ["waveform", "psd"], methods=("add", "concat"))
    levels = [e.level for e in exps]
    assert levels.count("single") == 6
    assert levels.count("representations") == 3 * 2
    assert levels.count("modalities") == 2
    allm = [e for e in exps if e.level == "modalities"]
    assert all(len(e.inputs) == 6 for e in allm) and {e.method for e in allm} == {"add", "concat"}
    assert [e.level for e in plan_experiments(["EDA"], ["waveform"])] == ["single"]
    with pytest.raises(ConfigError):
        plan_experiments(["EDA"], ["waveform"], levels=("modalities",))
