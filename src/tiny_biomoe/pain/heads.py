"""Classification heads on frozen 192-D embeddings, and end-to-end fine-tuning of the backbone.

* ``mlp`` (the paper's choice): standardise -> Linear -> GELU -> Dropout -> Linear, trained with
  AdamW and cross-entropy; early stopping on a validation split made of whole *training* subjects;
  the best epoch's weights are kept.
* ``logreg``: scikit-learn's L2 logistic regression on standardised inputs, converted into the
  same torch form (one Linear layer) so that every head is saved and used the same way.

Heads are saved as ``head.safetensors`` + ``head.json`` (architecture, classes, training config and
whatever metadata the caller adds: representation kinds, preprocessing, weights used).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .._io import atomic_path, atomic_write_text
from ..errors import CheckpointError, ConfigError
from .protocols import inner_validation_split

__all__ = ["HeadConfig", "Head", "train_head", "save_head", "load_head", "FineTuneConfig", "FineTuner", "finetune"]

HEAD_FORMAT = 1


@dataclass
class HeadConfig:
    """How a head is trained. ``kind``: ``'mlp'`` or ``'logreg'``."""

    kind: str = "mlp"
    hidden: int = 128
    dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 20
    val_fraction: float = 0.2
    C: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` for an unknown kind or out-of-range settings."""
        if self.kind not in ("mlp", "logreg"):
            raise ConfigError(f"head kind must be 'mlp' or 'logreg', not {self.kind!r}")
        if not 0 < self.val_fraction < 1:
            raise ConfigError("val_fraction must be in (0, 1)")
        if self.max_epochs < 1 or self.patience < 1 or self.hidden < 1 or self.batch_size < 1:
            raise ConfigError("max_epochs, patience, hidden and batch_size must be positive")


class Head(nn.Module):
    """Standardisation (stored buffers) followed by a linear layer or a one-hidden-layer MLP."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int | None = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim, self.n_classes, self.hidden, self.dropout = int(in_dim), int(n_classes), hidden, float(dropout)
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))
        if hidden:
            self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes))
        else:
            self.net = nn.Sequential(nn.Linear(in_dim, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, n_classes)`` for embeddings ``(N, in_dim)``."""
        return self.net((x - self.mean) / self.scale)

    @torch.no_grad()
    def predict_proba(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` for embeddings ``(N, in_dim)``."""
        self.eval()
        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
        return torch.softmax(self(t), dim=1).numpy()

    def predict(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Predicted class indices."""
        return self.predict_proba(x).argmax(axis=1)

    def arch(self) -> dict:
        """The constructor arguments (saved in ``head.json`` to rebuild the head)."""
        return {"in_dim": self.in_dim, "n_classes": self.n_classes, "hidden": self.hidden, "dropout": self.dropout}


@contextlib.contextmanager
def _one_thread():
    """Heads are tiny: one intra-op thread is fastest, and avoids OpenMP spin-waiting, which makes
    small matrix products 10-30x slower when the cores are shared. The previous setting is restored."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency; limits BLAS/OpenMP pools

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(prev)


def _standardise(head: Head, x: np.ndarray) -> None:
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd < 1e-8] = 1.0
    head.mean.copy_(torch.as_tensor(mu, dtype=torch.float32))
    head.scale.copy_(torch.as_tensor(sd, dtype=torch.float32))


def train_head(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    config: HeadConfig | None = None,
    groups: Sequence | None = None,
) -> tuple[Head, dict]:
    """Train a head on embeddings ``x (N, D)`` with labels ``y`` (0..n_classes-1).

    ``groups`` (subject per sample) makes the early-stopping validation split subject-wise.
    Deterministic for a given ``config.seed``. Returns ``(head, history)``.
    """
    cfg = config or HeadConfig()
    cfg.validate()
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ConfigError(f"train_head needs x (N, D) and y (N,) with N >= 2, got {x.shape} and {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise ConfigError(f"labels must be in 0..{n_classes - 1}")
    if cfg.kind == "logreg":
        with _one_thread():
            return _train_logreg(x, y, n_classes, cfg)
    groups = np.asarray(groups) if groups is not None else np.arange(len(y))
    fit_idx, val_idx = inner_validation_split(groups, cfg.val_fraction, cfg.seed)
    with torch.random.fork_rng(devices=[]), _one_thread():
        torch.manual_seed(cfg.seed)
        head = Head(x.shape[1], n_classes, cfg.hidden, cfg.dropout)
        _standardise(head, x[fit_idx])
        gen = torch.Generator().manual_seed(cfg.seed)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        xf, yf, xv, yv = xt[fit_idx], yt[fit_idx], xt[val_idx], yt[val_idx]
        opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        best = (float("inf"), -1)
        best_state = {k: v.clone() for k, v in head.state_dict().items()}
        hist: dict[str, Any] = {"train_loss": [], "val_loss": [], "val_accuracy": []}
        for epoch in range(cfg.max_epochs):
            head.train()
            perm = torch.randperm(len(xf), generator=gen)
            tot = 0.0
            for s in range(0, len(perm), cfg.batch_size):
                b = perm[s : s + cfg.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(head(xf[b]), yf[b])
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(b)
            head.eval()
            with torch.no_grad():
                lv = head(xv)
                vl = float(loss_fn(lv, yv))
                va = float((lv.argmax(1) == yv).float().mean())
            hist["train_loss"].append(tot / len(perm))
            hist["val_loss"].append(vl)
            hist["val_accuracy"].append(va)
            if vl < best[0] - 1e-6:
                best = (vl, epoch)
                best_state = {k: v.clone() for k, v in head.state_dict().items()}
            elif epoch - best[1] >= cfg.patience:
                break
        head.load_state_dict(best_state)
        head.eval()
    hist.update(best_epoch=best[1], epochs=len(hist["train_loss"]), n_fit=int(len(fit_idx)), n_val=int(len(val_idx)))
    return head, hist


def _train_logreg(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: HeadConfig) -> tuple[Head, dict]:
    from sklearn.linear_model import LogisticRegression

    head = Head(x.shape[1], n_classes, hidden=None)
    _standardise(head, x)
    xs = (x - head.mean.numpy()) / head.scale.numpy()
    present = np.unique(y)
    clf = LogisticRegression(C=cfg.C, max_iter=2000, random_state=cfg.seed)
    clf.fit(xs, y)
    w = np.zeros((n_classes, x.shape[1]), np.float32)
    b = np.full(n_classes, -1e4, np.float32)  # classes never seen in training are never predicted
    if len(present) == 2:  # sklearn's binary form: one decision function for the second class
        w[present[1]], b[present[1]] = clf.coef_[0], clf.intercept_[0]
        w[present[0]], b[present[0]] = 0.0, 0.0
    else:
        w[present], b[present] = clf.coef_, clf.intercept_
    with torch.no_grad():
        head.net[0].weight.copy_(torch.from_numpy(w))
        head.net[0].bias.copy_(torch.from_numpy(b))
    head.eval()
    return head, {"kind": "logreg", "n_iter": int(np.max(clf.n_iter_)), "n_fit": int(len(y))}


def save_head(head: Head, folder: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write ``head.safetensors`` and ``head.json`` (architecture + ``metadata``) into ``folder`` atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
    with atomic_path(folder / "head.safetensors") as tmp:
        save_file(state, str(tmp))
    doc = {"format": HEAD_FORMAT, "arch": head.arch(), "metadata": metadata or {}}
    atomic_write_text(folder / "head.json", json.dumps(doc, indent=2, default=str))
    return folder


def load_head(folder: str | os.PathLike) -> tuple[Head, dict]:
    """Load a head saved by :func:`save_head`; returns ``(head, metadata)``."""
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        doc = json.loads((folder / "head.json").read_text())
        arch = doc["arch"]
        head = Head(arch["in_dim"], arch["n_classes"], arch["hidden"], arch.get("dropout", 0.0))
        state = load_file(str(folder / "head.safetensors"))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder} does not hold a saved head (head.json + head.safetensors): {exc}") from exc
    try:
        head.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{folder}: head weights do not match head.json: {exc}") from exc
    return head.eval(), doc.get("metadata", {})


# ----------------------------------------------------------------------------- fine-tuning
@dataclass
class FineTuneConfig:
    """End-to-end training of backbone + linear head on images.

    ``pretrained=False`` starts the backbone from a seeded random init (the paper's
    non-pretrained counterpart); otherwise the given model's weights are the start.
    """

    steps: int = 100
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 16
    pretrained: bool = True
    seed: int = 0

    def to_dict(self) -> dict:
        """The settings as a plain dict (stored with results and saved backbones)."""
        return dataclasses.asdict(self)


class FineTuner(nn.Module):
    """Backbone (a TinyBioMoE) + linear classifier on its 192-D embedding."""

    def __init__(self, backbone: nn.Module, n_classes: int, embed_dim: int = 192) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(embed_dim, n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, n_classes)`` for images ``(N, 3, 224, 224)``."""
        return self.classifier(self.backbone(images))


def finetune(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    n_classes: int,
    model: nn.Module | None = None,
    config: FineTuneConfig | None = None,
    device: str | torch.device = "auto",
) -> tuple[FineTuner, dict]:
    """Fine-tune backbone + head end to end on ``images (N, 3, 224, 224)`` in [0, 1].

    ``model`` is copied (never modified); with ``config.pretrained=False`` or ``model=None`` a fresh
    seeded :class:`~tiny_biomoe.TinyBioMoE` is used. Returns ``(fine-tuned module in eval mode, history)``.
    """
    import copy

    from .._device import resolve_device

    cfg = config or FineTuneConfig()
    dev = resolve_device(device)
    imgs = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if imgs.ndim != 4 or imgs.shape[0] != y.shape[0] or imgs.shape[0] < 1:
        raise ConfigError(f"finetune needs images (N, 3, 224, 224) and N labels, got {tuple(imgs.shape)} and {tuple(y.shape)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        if model is None or not cfg.pretrained:
            from ..model import TinyBioMoE
            from ..model.init import init_weights

            backbone = init_weights(TinyBioMoE(), seed=cfg.seed, init="original")  # the authors' init rules
        else:
            from ..model.moe import check_model

            backbone = copy.deepcopy(check_model(model))  # another nn.Module fails here, not deep inside
        net = FineTuner(backbone, n_classes, int(getattr(backbone, "embed_dim", 192))).to(dev)
        opt = torch.optim.AdamW(
            [{"params": net.backbone.parameters(), "lr": cfg.lr}, {"params": net.classifier.parameters(), "lr": cfg.head_lr}],
            weight_decay=cfg.weight_decay,
        )
        gen = torch.Generator().manual_seed(cfg.seed)
        loss_fn = nn.CrossEntropyLoss()
        losses = []
        net.train()
        perm = torch.randperm(len(y), generator=gen)
        pos = 0
        for _ in range(cfg.steps):
            if pos >= len(perm):
                perm, pos = torch.randperm(len(y), generator=gen), 0
            b = perm[pos : pos + cfg.batch_size]
            pos += cfg.batch_size
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(imgs[b].to(dev)), y[b].to(dev))
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        net.eval()
    return net, {"loss": losses, "config": cfg.to_dict()}
