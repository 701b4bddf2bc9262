"""Heads: seeded reproducibility, learning, logistic regression vs scikit-learn, save/load, fine-tuning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from tiny_biomoe.errors import CheckpointError, ConfigError
from tiny_biomoe.pain import FineTuneConfig, HeadConfig, finetune, load_head, save_head, train_head


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(seed=0, n=120, d=32, shift=1.5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += shift * y
    x[:, 1] -= shift * (y == 1)
    g = np.repeat(np.arange(n // 10), 10)
    return x, y, g


def test_mlp_reproducible_with_seed():
    x, y, g = _data()
    cfg = HeadConfig(max_epochs=30, seed=7)
    h1, hist1 = train_head(x, y, 3, cfg, groups=g)
    h2, hist2 = train_head(x, y, 3, cfg, groups=g)
    for (k, a), (_, b) in zip(h1.state_dict().items(), h2.state_dict().items()):
        assert torch.equal(a, b), k
    assert hist1["val_loss"] == hist2["val_loss"]
    h3, _ = train_head(x, y, 3, HeadConfig(max_epochs=30, seed=8), groups=g)
    assert not torch.equal(h1.net[0].weight, h3.net[0].weight)


def test_mlp_learns_and_stops_early():
    x, y, g = _data(n=300, shift=3.0)
    xt, yt, _ = _data(seed=1, shift=3.0)
    head, hist = train_head(x, y, 3, HeadConfig(max_epochs=300, patience=10, batch_size=512, lr=3e-3), groups=g)
    assert (head.predict(xt) == yt).mean() > 0.8  # chance is 1/3; the Bayes rate here is ~0.93
    assert hist["epochs"] < 300 and hist["epochs"] - 1 - hist["best_epoch"] == 10
    assert min(hist["val_loss"]) == pytest.approx(hist["val_loss"][hist["best_epoch"]])


def test_logreg_matches_sklearn():
    x, y, _ = _data(2)
    head, _ = train_head(x, y, 3, HeadConfig(kind="logreg", C=0.5))
    xs = StandardScaler().fit_transform(x)
    ref = LogisticRegression(C=0.5, max_iter=2000, random_state=0).fit(xs, y)
    np.testing.assert_array_equal(head.predict(x), ref.predict(xs))
    np.testing.assert_allclose(head.predict_proba(x), ref.predict_proba(xs), atol=1e-4)
    yb = (y > 0).astype(int)  # binary: sklearn's one-column form
    hb, _ = train_head(x, yb, 2, HeadConfig(kind="logreg"))
    refb = LogisticRegression(max_iter=2000).fit(xs, yb)
    np.testing.assert_allclose(hb.predict_proba(x), refb.predict_proba(xs), atol=1e-4)


def test_save_load_round_trip(tmp_path):
    x, y, g = _data(3)
    head, _ = train_head(x, y, 3, HeadConfig(max_epochs=5), groups=g)
    save_head(head, tmp_path / "h", {"kinds": ["waveform"], "classes": ["a", "b", "c"]})
    loaded, meta = load_head(tmp_path / "h")
    np.testing.assert_array_equal(loaded.predict_proba(x), head.predict_proba(x))
    assert meta == {"kinds": ["waveform"], "classes": ["a", "b", "c"]}
    with pytest.raises(CheckpointError):
        load_head(tmp_path / "missing")
    doc = json.loads((tmp_path / "h" / "head.json").read_text())
    del doc["arch"]["in_dim"]  # a damaged head.json is a CheckpointError, not a KeyError
    (tmp_path / "h" / "head.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="in_dim"):
        load_head(tmp_path / "h")


def test_bad_config():
    x, y, _ = _data()
    with pytest.raises(ConfigError):
        train_head(x, y, 3, HeadConfig(kind="svm"))
    with pytest.raises(ConfigError):
        train_head(x, y + 5, 3)


def test_finetune_two_steps_pretrained_and_scratch(reference_model):
    imgs = torch.rand(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    labels = [0, 1, 2, 0]
    before = {k: v.clone() for k, v in reference_model.state_dict().items()}
    net, hist = finetune(imgs, labels, 3, reference_model, FineTuneConfig(steps=2, batch_size=2, lr=1e-3), device="cpu")
    assert len(hist["loss"]) == 2 and all(np.isfinite(hist["loss"]))
    for k, v in reference_model.state_dict().items():  # the shared model is untouched
        assert torch.equal(v, before[k]), k
    changed = [k for k, v in net.backbone.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert changed  # the backbone was trained, not only the classifier
    with torch.no_grad():
        assert net(imgs[:1]).shape == (1, 3)
    scratch, h2 = finetune(imgs, labels, 3, reference_model, FineTuneConfig(steps=1, batch_size=1, pretrained=False), device="cpu")
    w = "ln_out.weight"
    assert len(h2["loss"]) == 1
    assert not torch.equal(scratch.backbone.state_dict()["fcn.1.weight"], before["fcn.1.weight"])
    assert scratch.backbone.state_dict()[w].shape == before[w].shape
