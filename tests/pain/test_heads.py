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
from tiny_biomoe.pain import train_heads
from tiny_biomoe.pain.heads import Head
from tiny_biomoe.pain.protocols import inner_validation_split


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


def _plain_training(x, y, n_classes, cfg, groups):
    """The documented procedure written the obvious way: one nn.Module, F.dropout, AdamW, mean cross-entropy."""
    fit, val = inner_validation_split(groups, cfg.val_fraction, cfg.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        head = Head(x.shape[1], n_classes, cfg.hidden, cfg.dropout)
        mu, sd = x[fit].mean(0), x[fit].std(0)
        head.mean.copy_(torch.from_numpy(mu))
        head.scale.copy_(torch.from_numpy(np.where(sd < 1e-8, 1.0, sd).astype(np.float32)))
        gen = torch.Generator().manual_seed(cfg.seed)
        xf, yf = torch.from_numpy(x[fit]), torch.from_numpy(y[fit])
        xv, yv = torch.from_numpy(x[val]), torch.from_numpy(y[val])
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        best, state, losses = (float("inf"), -1), None, []
        for epoch in range(cfg.max_epochs):
            head.train()
            perm = torch.randperm(len(xf), generator=gen)
            for s in range(0, len(perm), cfg.batch_size):
                b = perm[s : s + cfg.batch_size]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(head(xf[b]), yf[b]).backward()
                opt.step()
            head.eval()
            with torch.no_grad():
                vl = float(torch.nn.functional.cross_entropy(head(xv), yv))
            losses.append(vl)
            if vl < best[0] - 1e-6:
                best, state = (vl, epoch), {k: v.clone() for k, v in head.state_dict().items()}
            elif epoch - best[1] >= cfg.patience:
                break
    head.load_state_dict(state)
    return head, best[1], losses


def test_heads_trained_together_match_the_plain_procedure_one_by_one():
    x, y, g = _data(3, n=160, d=24, shift=1.0)
    folds = [np.flatnonzero(g % 4 != f) for f in range(3)] + [np.flatnonzero(g < 9)]  # 120, 120, 120, 90 samples
    cfgs = [HeadConfig(max_epochs=25, patience=4, batch_size=32, hidden=16, seed=s) for s in (0, 1, 2, 5)]
    together = train_heads([x[i] for i in folds], [y[i] for i in folds], 3, cfgs, [g[i] for i in folds])
    for i, cfg, (head, hist) in zip(folds, cfgs, together):
        ref, best_epoch, losses = _plain_training(x[i], y[i], 3, cfg, g[i])
        assert hist["best_epoch"] == best_epoch and hist["epochs"] == len(losses)
        np.testing.assert_allclose(hist["val_loss"], losses, rtol=1e-5, atol=1e-6)
        for (k, a), b in zip(head.state_dict().items(), ref.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)
        alone, _ = train_head(x[i], y[i], 3, cfg, groups=g[i])  # a head does not depend on its neighbours
        torch.testing.assert_close(alone.net[3].weight, head.net[3].weight, rtol=1e-5, atol=1e-6)
    assert len({h.net[0].weight.sum().item() for h, _ in together}) == 4  # four different heads


@pytest.mark.parametrize("fused", [True, False])
def test_heads_optimiser_is_bitwise_torch_adamw(fused):
    """The heads' AdamW steps the kernel of torch.optim.AdamW(fused=True), or without it the arithmetic of
    the single-tensor form: the same bits after 200 steps, with a parameter that has no gradient on some."""
    from tiny_biomoe.pain.heads import _AdamW

    if fused and not hasattr(torch, "_fused_adamw_"):
        pytest.fail("this torch has no _fused_adamw_: the fused branch is untested")
    gen = torch.Generator().manual_seed(0)
    init = [torch.randn(8, 16, 5, generator=gen), torch.randn(8, 16, generator=gen), torch.randn(3, generator=gen)]
    mine = [p.clone() for p in init]
    ref = [p.clone().requires_grad_() for p in init]
    opt = _AdamW(mine, lr=3e-3, weight_decay=0.05)
    opt.fused = fused
    ref_opt = torch.optim.AdamW(ref, lr=3e-3, weight_decay=0.05, **({"fused": True} if fused else {"foreach": False}))
    for step in range(200):
        for a, b in zip(mine, ref):
            a.grad = None if (step % 7 == 3 and a.shape == (3,)) else torch.randn(a.shape, generator=gen)
            b.grad = None if a.grad is None else a.grad.clone()
        opt.step()
        ref_opt.step()
    for a, b in zip(mine, ref):
        assert torch.equal(a, b.detach())
    assert not torch.equal(mine[0], init[0])


def test_training_heads_does_not_import_torch_dynamo():
    """torch.optim's first optimiser imports torch._dynamo (about a second); the heads do without it."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from tiny_biomoe.pain import HeadConfig, train_head\n"
            "x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)\n"
            "train_head(x, np.arange(60) % 3, 3, HeadConfig(max_epochs=3, hidden=4), groups=np.arange(60) // 6)\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_heads_refuses_mixed_settings():
    x, y, g = _data()
    with pytest.raises(ConfigError, match="differ only in seed"):
        train_heads([x, x], [y, y], 3, [HeadConfig(seed=0), HeadConfig(seed=1, lr=1e-2)], [g, g])
    with pytest.raises(ConfigError, match="as many xs, ys, configs"):
        train_heads([x, x], [y], 3, [HeadConfig(), HeadConfig()])
    assert train_heads([], [], 3, []) == []


def test_heads_of_different_widths_train_together_and_match_alone(monkeypatch):
    # Several fusion experiments' heads in one call: grouped by width, chunked, returned in input order.
    from tiny_biomoe.pain import heads as heads_mod

    x, y, g = _data(3, n=90, d=24, shift=1.0)
    xs = [x, x[:, :10], x[:, :20], x[:, :10], x]
    cfgs = [HeadConfig(max_epochs=12, patience=3, batch_size=32, hidden=8, seed=s) for s in range(5)]
    calls = []
    real = heads_mod._train_mlps

    def spy(xs_, *a, **k):
        calls.append([v.shape[1] for v in xs_])
        return real(xs_, *a, **k)

    monkeypatch.setattr(heads_mod, "_train_mlps", spy)
    together = train_heads(xs, [y] * 5, 3, cfgs, [g] * 5)
    assert calls == [[24, 24], [10, 10], [20]]  # one batched network per width
    for xi, cfg, (head, hist) in zip(xs, cfgs, together):
        assert head.in_dim == xi.shape[1]
        alone, hist_alone = train_head(xi, y, 3, cfg, groups=g)
        assert hist["best_epoch"] == hist_alone["best_epoch"]
        for a, b in zip(head.state_dict().values(), alone.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    calls.clear()
    monkeypatch.setattr(heads_mod, "STEP_ELEMENTS", 90 * 24)  # room for one 24-wide head per step
    train_heads(xs, [y] * 5, 3, cfgs, [g] * 5)
    assert calls == [[24], [24], [10, 10], [20]]


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
