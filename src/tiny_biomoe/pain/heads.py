"""Classification heads on frozen 192-D embeddings, and end-to-end fine-tuning of the backbone.

* ``mlp`` (the paper's choice): standardise -> Linear -> GELU -> Dropout -> Linear, trained with
  AdamW and cross-entropy; early stopping on a validation split made of whole *training* subjects;
  the best epoch's weights are kept. :func:`train_heads` trains several (one per fold) as one
  batched network per step, each exactly as :func:`train_head` would alone.
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
from torch.nn import functional as F

from .._io import atomic_path, atomic_write_text
from .._validate import check_bool, check_input_file, check_int, check_number, check_seed, limit
from ..errors import CheckpointError, ConfigError, DatasetError, InputError
from .protocols import inner_validation_split

__all__ = ["HeadConfig", "Head", "train_head", "train_heads", "save_head", "load_head", "FineTuneConfig", "FineTuner", "finetune"]

HEAD_FORMAT = 1


@dataclass
class HeadConfig:
    """How a head is trained. ``kind``: ``'mlp'`` or ``'logreg'``.

    Attributes:
        kind: ``"mlp"`` (one hidden layer, AdamW, early stopping) or ``"logreg"`` (scikit-learn, L2).
        hidden: hidden units of the MLP.
        dropout: dropout probability on the MLP's hidden units (0 <= p < 1).
        lr: AdamW learning rate of the MLP.
        weight_decay: AdamW (decoupled) weight decay of the MLP.
        batch_size: training samples per MLP step.
        max_epochs: most MLP training epochs.
        patience: epochs without a lower validation loss after which MLP training stops (the best epoch is kept).
        val_fraction: share held out for early stopping (0 < f < 1): of the training subjects when groups are
            given (and there are >= 2), else of the samples.
        C: inverse L2 regularisation strength of ``"logreg"``.
        seed: seeds the MLP's initialisation, validation split, batch order and dropout; ``"logreg"``'s
            ``random_state``.
    """

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
        c = ConfigError
        check_number(self.val_fraction, "HeadConfig.val_fraction", min=0, max=1, min_inclusive=False,
                     max_inclusive=False, error=c)
        for name in ("max_epochs", "patience", "hidden", "batch_size"):
            check_int(getattr(self, name), f"HeadConfig.{name}", min=1, max=limit("MAX_HEAD_DIM") * 16, error=c)
        check_number(self.lr, "HeadConfig.lr", min=0, min_inclusive=False, max=10.0, error=c)
        check_number(self.weight_decay, "HeadConfig.weight_decay", min=0, error=c)
        check_number(self.dropout, "HeadConfig.dropout", min=0, max=1, max_inclusive=False, error=c)
        check_number(self.C, "HeadConfig.C", min=0, min_inclusive=False, error=c)
        check_seed(self.seed, "HeadConfig.seed", error=c)


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


def _check_training_data(x: Any, y: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray, int]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ConfigError(f"train_head needs x (N, D) and y (N,) with N >= 2, got {x.shape} and {y.shape}")
    n_classes = check_int(n_classes, "n_classes", min=2, max=limit("MAX_HEAD_DIM"), error=ConfigError)
    if y.min() < 0 or y.max() >= n_classes:
        raise ConfigError(f"labels must be in 0..{n_classes - 1} (one per class), got {sorted(set(y.tolist()))[:10]}; "
                           "check the label column and the class list (--classes)")
    if np.unique(y).size < 2:
        raise DatasetError(f"all {y.size} training samples have the same label ({int(y[0])}); a classifier needs at "
                           "least two classes: check the labels, --classes, or the partitions used for training")
    if not np.isfinite(x).all():
        raise InputError(f"{int((~np.isfinite(x)).any(axis=1).sum())} of {len(x)} embeddings contain NaN or inf; "
                         "check the signals (gaps) and the weights")
    return x, y, n_classes


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
    return train_heads([x], [y], n_classes, [config or HeadConfig()], [groups])[0]


#: at most this many heads are trained together (one batched network per step)
HEADS_PER_STEP = 64
#: ... and their inputs (heads x rows x width, float32) at most this many elements (128 MB)
STEP_ELEMENTS = 2**25


def train_heads(
    xs: Sequence[np.ndarray],
    ys: Sequence[np.ndarray],
    n_classes: int,
    configs: Sequence[HeadConfig],
    groups: Sequence[Sequence | None] | None = None,
) -> list[tuple[Head, dict]]:
    """Train one head per ``(xs[i], ys[i], configs[i], groups[i])``, e.g. one per cross-validation fold.

    The configurations may differ only in ``seed``; the inputs may differ in width (e.g. the heads
    of several fusion experiments). MLP heads of one width are trained together, as one batched
    network per step (a head of 192-1536 inputs is too small for a step to be more than per-operation
    overhead), but each keeps its own initialisation, validation split, batch order, dropout
    stream, optimiser state and early stopping: a head does not depend on which others are trained
    beside it. Returns ``[(head, history), ...]`` in input order, as :func:`train_head` would.
    """
    if not (len(xs) == len(ys) == len(configs)) or (groups is not None and len(groups) != len(xs)):
        raise ConfigError(f"train_heads needs as many xs, ys, configs (and groups) as heads, got {len(xs)}, "
                          f"{len(ys)}, {len(configs)}" + ("" if groups is None else f", {len(groups)}"))
    cfgs = list(configs)
    for c in cfgs:
        c.validate()
    if cfgs and any(dataclasses.replace(c, seed=0) != dataclasses.replace(cfgs[0], seed=0) for c in cfgs):
        raise ConfigError("train_heads: the head configurations may differ only in seed")
    data = [_check_training_data(x, y, n_classes) for x, y in zip(xs, ys)]
    if not data:
        return []
    n_classes = data[0][2]
    if cfgs[0].kind == "logreg":
        with _one_thread():
            return [_train_logreg(x, y, n_classes, c) for (x, y, _), c in zip(data, cfgs)]
    splits = [inner_validation_split(np.asarray(g) if g is not None else np.arange(len(y)), c.val_fraction, c.seed)
              for (_, y, _), c, g in zip(data, cfgs, groups if groups is not None else [None] * len(data))]
    bs = cfgs[0].batch_size
    out: dict[int, tuple[Head, dict]] = {}
    # heads trained together share the width and the number of steps per epoch (so every live head is
    # stepped at every step, as alone)
    keys = [(x.shape[1], -(-len(fit) // bs)) for (x, _, _), (fit, _) in zip(data, splits)]
    for part in _step_groups(keys, [x.size for x, _, _ in data]):
        trained = _train_mlps([data[i][0] for i in part], [data[i][1] for i in part], [splits[i] for i in part],
                              n_classes, [cfgs[i] for i in part])
        out.update(zip(part, trained))
    return [out[i] for i in range(len(data))]


def _step_groups(keys: Sequence[tuple[int, int]], sizes: Sequence[int]) -> list[list[int]]:
    """Indices of the heads trained together: equal ``keys`` (width, steps per epoch), at most
    :data:`HEADS_PER_STEP` heads and :data:`STEP_ELEMENTS` input elements (``sizes``) per group."""
    by_key: dict[tuple[int, int], list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    parts: list[list[int]] = []
    for idx in by_key.values():
        cur: list[int] = []
        size = 0
        for i in idx:
            if cur and (len(cur) == HEADS_PER_STEP or size + sizes[i] > STEP_ELEMENTS):
                parts.append(cur)
                cur, size = [], 0
            cur.append(i)
            size += sizes[i]
        parts.append(cur)
    return parts


@dataclass
class _Task:
    """One head being trained by :func:`_train_mlps`: its data, generators and early-stopping state."""

    head: Head
    xf: torch.Tensor  # standardised fit inputs
    yf: torch.Tensor
    xv: torch.Tensor  # standardised validation inputs
    yv: torch.Tensor
    order: torch.Generator  # batch order
    dropout: torch.Generator  # dropout masks: the stream the global generator would give train_head alone
    hist: dict
    best: tuple[float, int] = (float("inf"), -1)
    best_params: list[torch.Tensor] | None = None  # its slices of the stacked parameters at the best epoch
    perm: torch.Tensor | None = None  # this epoch's batch order
    loss_sum: float = 0.0
    done: bool = False


def _padded(parts: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs ``(H, B, D)``, labels ``(H, B)`` and row weights ``(H, B)`` (``1/n`` on a head's ``n`` rows,
    0 on padding) for one ``(x, y)`` pair per head."""
    width = max(len(y) for _, y in parts)
    x = torch.zeros(len(parts), width, parts[0][0].shape[1])
    y = torch.zeros(len(parts), width, dtype=torch.long)
    w = torch.zeros(len(parts), width)
    for i, (xi, yi) in enumerate(parts):
        x[i, : len(yi)], y[i, : len(yi)], w[i, : len(yi)] = xi, yi, 1.0 / len(yi)
    return x, y, w


def _stacked_logits(params: Sequence[torch.Tensor], x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logits ``(H, B, C)`` of MLP heads with stacked parameters ``(W1 (H, hidden, D), b1, W2, b2)`` on
    their standardised inputs ``(H, B, D)``; ``mask`` (dropout) scales the hidden units."""
    w1, b1, w2, b2 = params
    hid = F.gelu(torch.baddbmm(b1[:, None], x, w1.transpose(1, 2)))
    if mask is not None:
        hid = hid * mask
    return torch.baddbmm(b2[:, None], hid, w2.transpose(1, 2))


def _mean_losses(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Each head's mean cross-entropy over its own rows, ``(H,)``."""
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="none").view_as(w)
    return (ce * w).sum(1)


def _train_mlps(xs: list[np.ndarray], ys: list[np.ndarray], splits: list[tuple[np.ndarray, np.ndarray]],
                n_classes: int, cfgs: list[HeadConfig]) -> list[tuple[Head, dict]]:
    """Train heads of one width and one number of steps per epoch as one network: their parameters are
    stacked into four tensors ``(H, ...)`` that one fused AdamW steps (elementwise, so each head's update
    is its own). A head that stopped early keeps moving but is no longer read: its best epoch's
    parameters were kept."""
    cfg = cfgs[0]
    keep = 1.0 - cfg.dropout
    tasks: list[_Task] = []
    with _one_thread():
        for x, y, (fit_idx, val_idx), c in zip(xs, ys, splits, cfgs):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(c.seed)
                head = Head(x.shape[1], n_classes, c.hidden, c.dropout)
                drop = torch.Generator()
                drop.set_state(torch.get_rng_state())
            _standardise(head, x[fit_idx])
            with torch.no_grad():
                xs_t = (torch.from_numpy(x) - head.mean) / head.scale
            yt = torch.from_numpy(y)
            tasks.append(_Task(head, xs_t[fit_idx], yt[fit_idx], xs_t[val_idx], yt[val_idx],
                               torch.Generator().manual_seed(c.seed), drop,
                               {"train_loss": [], "val_loss": [], "val_accuracy": []}))
        params = [torch.stack(ps).requires_grad_() for ps in zip(*(_mlp_params(t.head) for t in tasks))]
        for i, t in enumerate(tasks):
            t.best_params = [p[i].detach().clone() for p in params]
        opt = _AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        bs = cfg.batch_size
        n_steps = -(-len(tasks[0].xf) // bs)  # the same for every head here (see train_heads)
        for epoch in range(cfg.max_epochs):
            live = [i for i, t in enumerate(tasks) if not t.done]
            if not live:
                break
            idx = None if len(live) == len(tasks) else torch.tensor(live)

            def live_params() -> list[torch.Tensor]:  # gathered afresh after every step
                return params if idx is None else [p[idx] for p in params]

            for i in live:
                tasks[i].perm, tasks[i].loss_sum = torch.randperm(len(tasks[i].xf), generator=tasks[i].order), 0.0
            for step in range(n_steps):
                batches = [tasks[i].perm[step * bs : (step + 1) * bs] for i in live]
                xb, yb, wb = _padded([(tasks[i].xf[b], tasks[i].yf[b]) for i, b in zip(live, batches)])
                masks = None
                if cfg.dropout > 0:  # the mask F.dropout draws on the CPU: bernoulli(1 - p), scaled by 1 / (1 - p)
                    masks = torch.zeros(len(live), xb.shape[1], cfg.hidden)
                    for k, (i, b) in enumerate(zip(live, batches)):
                        masks[k, : len(b)] = torch.empty(len(b), cfg.hidden).bernoulli_(keep, generator=tasks[i].dropout) / keep
                opt.zero_grad()
                per_head = _mean_losses(_stacked_logits(live_params(), xb, masks), yb, wb)
                per_head.sum().backward()
                opt.step()
                for i, lv, b in zip(live, per_head.detach().tolist(), batches):
                    tasks[i].loss_sum += lv * len(b)
            _validate_epoch([tasks[i] for i in live], live_params(), epoch, cfg.patience)
        for t in tasks:
            with torch.no_grad():
                for p, v in zip(_mlp_params(t.head), t.best_params):
                    p.copy_(v)
            t.head.eval()
            t.hist.update(best_epoch=t.best[1], epochs=len(t.hist["train_loss"]), n_fit=int(len(t.xf)), n_val=int(len(t.xv)))
            _check_finite_head(t.head, "training the head")
    return [(t.head, t.hist) for t in tasks]


class _AdamW:
    """AdamW (decoupled weight decay, no AMSGrad) on a few float32 CPU tensors, without ``torch.optim``.

    The first ``torch.optim`` optimiser of a process imports ``torch._dynamo``
    (``Optimizer.add_param_group`` is wrapped by ``torch._disable_dynamo``): 1.0-1.3 s, a third of the
    demo's head training. This steps the same kernel that ``torch.optim.AdamW(fused=True)`` runs
    (``torch._fused_adamw_``), so the results are bitwise those of it; on a torch without that kernel,
    the arithmetic of ``torch.optim.AdamW(foreach=False)`` written out (bitwise equal to that; both tested).
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.state_steps = [torch.zeros(()) for _ in self.params]
        self.fused = hasattr(torch, "_fused_adamw_")

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        live = [k for k, p in enumerate(self.params) if p.grad is not None]
        steps = [self.state_steps[k] for k in live]  # per parameter, as torch.optim counts them
        for t in steps:
            t.add_(1)
        if self.fused and live:
            try:
                torch._fused_adamw_([self.params[k] for k in live], [self.params[k].grad for k in live],
                                    [self.exp_avg[k] for k in live], [self.exp_avg_sq[k] for k in live], [], steps,
                                    lr=self.lr, beta1=beta1, beta2=beta2, weight_decay=self.weight_decay,
                                    eps=self.eps, amsgrad=False, maximize=False)
                return
            except TypeError:  # a torch whose private kernel takes other arguments: refused before any update
                self.fused = False
        for k, t in zip(live, steps):
            p, m, v, n = self.params[k], self.exp_avg[k], self.exp_avg_sq[k], float(t)
            step_size = self.lr / (1 - beta1**n)
            bias_correction2_sqrt = (1 - beta2**n) ** 0.5
            p.mul_(1 - self.lr * self.weight_decay)
            m.lerp_(p.grad, 1 - beta1)
            v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            p.addcdiv_(m, (v.sqrt() / bias_correction2_sqrt).add_(self.eps), value=-step_size)


def _mlp_params(head: Head) -> list[torch.Tensor]:
    """An MLP head's parameters in the order :func:`_stacked_logits` takes them stacked: W1, b1, W2, b2."""
    lin1, lin2 = head.net[0], head.net[3]
    return [lin1.weight.detach(), lin1.bias.detach(), lin2.weight.detach(), lin2.bias.detach()]


@torch.no_grad()
def _validate_epoch(live: list[_Task], params: Sequence[torch.Tensor], epoch: int, patience: int) -> None:
    """Validation loss and accuracy of every live head (one batched pass; ``params``: theirs, stacked);
    early stopping per head."""
    xv, yv, wv = _padded([(t.xv, t.yv) for t in live])
    logits = _stacked_logits(params, xv)
    losses = _mean_losses(logits, yv, wv).tolist()
    accs = (((logits.argmax(2) == yv).float() * wv).sum(1)).tolist()
    for k, (t, vl, va) in enumerate(zip(live, losses, accs)):
        t.hist["train_loss"].append(t.loss_sum / len(t.xf))
        t.hist["val_loss"].append(vl)
        t.hist["val_accuracy"].append(va)
        if vl < t.best[0] - 1e-6:
            t.best = (vl, epoch)
            t.best_params = [p[k].clone() for p in params]
        elif epoch - t.best[1] >= patience:
            t.done = True


def _check_finite_head(head: nn.Module, what: str) -> None:
    bad = [k for k, v in head.state_dict().items() if v.dtype.is_floating_point and not torch.isfinite(v).all()]
    if bad:
        raise ConfigError(f"{what} gave NaN/inf weights in {bad}; lower the learning rate or check the inputs")


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

    import hashlib

    folder = Path(folder)
    _check_finite_head(head, "this head")
    state = {k: v.detach().contiguous().cpu() for k, v in head.state_dict().items()}
    with atomic_path(folder / "head.safetensors") as tmp:
        save_file(state, str(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    # head.json last, naming the weights file it belongs to: a kill between the two files leaves a pair that
    # load_head refuses instead of mixing a new head.safetensors with an old head.json
    doc = {"format": HEAD_FORMAT, "arch": head.arch(), "weights_sha256": digest, "metadata": metadata or {}}
    atomic_write_text(folder / "head.json", json.dumps(doc, indent=2, default=str))
    return folder


def _check_arch(arch: Any, where: str) -> dict:
    """Architecture sizes from head.json: whole numbers in range (a giant in_dim would allocate gigabytes)."""
    if not isinstance(arch, dict):
        raise CheckpointError(f"{where}: head.json 'arch' must be a mapping, got {type(arch).__name__}")
    top = limit("MAX_HEAD_DIM")
    out = {}
    try:
        out["in_dim"] = check_int(arch["in_dim"], f"{where}: arch.in_dim", min=1, max=top, error=CheckpointError)
        out["n_classes"] = check_int(arch["n_classes"], f"{where}: arch.n_classes", min=1, max=top, error=CheckpointError)
        hid = arch["hidden"]
        out["hidden"] = None if hid in (None, 0) else check_int(hid, f"{where}: arch.hidden", min=1, max=top,
                                                                  error=CheckpointError)
        out["dropout"] = check_number(arch.get("dropout", 0.0), f"{where}: arch.dropout", min=0, max=1,
                                      max_inclusive=False, error=CheckpointError)
    except KeyError as exc:
        raise CheckpointError(f"{where}: head.json 'arch' lacks {exc}; save the head again with save_head") from None
    return out


def _check_head_meta(meta: Any, n_classes: int, where: str) -> dict:
    """The recorded settings predict reuses must be sane: classes match the head, windows and rates are numbers."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: head.json 'metadata' must be a mapping, got {type(meta).__name__}")
    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, list) or len(classes) != n_classes
                                or not all(isinstance(c, str) for c in classes)):
        raise CheckpointError(f"{where}: head.json lists classes {classes!r} but the head has {n_classes} outputs")
    windows = meta.get("windows")
    if isinstance(windows, dict):
        for m, w in windows.items():
            if not isinstance(w, dict):
                continue
            for key in ("sampling_rate", "window_s"):
                if key in w:
                    check_number(w[key], f"{where}: windows.{m}.{key}", min=0, min_inclusive=False, max=1e7,
                                 error=CheckpointError)
    return meta


def load_head(folder: str | os.PathLike) -> tuple[Head, dict]:
    """Load a head saved by :func:`save_head`; returns ``(head, metadata)``.

    Refused (:class:`CheckpointError`): missing or non-regular files, head.json that is not UTF-8 JSON, sizes
    out of range (``in_dim`` etc. at most ``TINY_BIOMOE_MAX_HEAD_DIM``), recorded windows/rates that are not
    positive numbers, a head.safetensors that is garbage, does not match head.json or holds NaN/inf.

    Args:
        folder: the folder holding ``head.json`` and ``head.safetensors``.
    """
    import hashlib

    folder = Path(folder)
    where = str(folder)
    hint = "(head.json + head.safetensors, from `biomoe train` or save_head)"
    try:
        jpath = check_input_file(folder / "head.json", what="head file", error=CheckpointError)
        wpath = check_input_file(folder / "head.safetensors", what="head weights", error=CheckpointError)
        if jpath.stat().st_size > 64 * 2**20:
            raise CheckpointError(f"{jpath}: {jpath.stat().st_size} bytes is far too large for a head.json")
        raw = jpath.read_bytes()
        wbytes = wpath.read_bytes()
    except CheckpointError as exc:
        raise CheckpointError(f"{where} does not hold a saved head {hint}: {exc}") from None
    except OSError as exc:
        raise CheckpointError(f"{where}: cannot read the head files: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(f"{where}/head.json is not UTF-8 text; it was not written by save_head") from None
    except ValueError as exc:
        raise CheckpointError(f"{where}/head.json is not valid JSON ({exc}); save the head again") from None
    if not isinstance(doc, dict) or "arch" not in doc:
        raise CheckpointError(f"{where}/head.json is not a head description (no 'arch'); save the head again")
    arch = _check_arch(doc["arch"], where)
    meta = _check_head_meta(doc.get("metadata", {}) or {}, arch["n_classes"], where)
    want = doc.get("weights_sha256")
    if want is not None and hashlib.sha256(wbytes).hexdigest() != want:
        raise CheckpointError(f"{where}: head.safetensors is not the file head.json was saved with (an interrupted "
                              "save or a copied file); train or copy the head again")
    try:
        from safetensors.torch import load as load_bytes

        state = load_bytes(wbytes)
    except Exception as exc:  # safetensors raises its own SafetensorError (and others) on garbage
        raise CheckpointError(f"{where}/head.safetensors is not a readable safetensors file ({exc})") from None
    head = Head(arch["in_dim"], arch["n_classes"], arch["hidden"], arch["dropout"])
    try:
        head.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{where}: head weights do not match head.json: {exc}") from exc
    bad = [k for k, v in state.items() if v.dtype.is_floating_point and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{where}: head weights {bad} contain NaN or inf; train the head again")
    _warn_old_conditioning(meta, where)
    return head.eval(), meta


def _warn_old_conditioning(meta: dict, where: str) -> None:
    """Warn when the head's windows were conditioned otherwise than today (e.g. resample -> filter,
    before conditioning version 2): its embeddings are not today's (``predict`` refuses such a head)."""
    import warnings

    from ..signals.conditioning import check_conditioning

    wins = meta.get("windows")
    if not isinstance(wins, dict):
        return
    for m, w in wins.items():
        why = check_conditioning(w.get("conditioning") if isinstance(w, dict) else None, f"{where}: the head's {m} windows")
        if why:
            warnings.warn(f"{why}; retrain the head with `biomoe train` before predicting with it", stacklevel=3)
            return


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
    #: ``"fp32"`` or ``"bf16"`` (autocast; only where the CPU/GPU has fast bf16 units)
    precision: str = "fp32"
    #: convolutions channels-last while training (a layout change only; saved weights are contiguous)
    channels_last: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for non-finite or out-of-range settings."""
        c = ConfigError
        check_int(self.steps, "FineTuneConfig.steps", min=0, max=10_000_000, error=c)
        check_number(self.lr, "FineTuneConfig.lr", min=0, min_inclusive=False, max=10.0, error=c)
        check_number(self.head_lr, "FineTuneConfig.head_lr", min=0, min_inclusive=False, max=10.0, error=c)
        check_number(self.weight_decay, "FineTuneConfig.weight_decay", min=0, error=c)
        check_int(self.batch_size, "FineTuneConfig.batch_size", min=1, max=4096, error=c)
        check_bool(self.pretrained, "FineTuneConfig.pretrained", error=c)
        check_seed(self.seed, "FineTuneConfig.seed", error=c)
        check_bool(self.channels_last, "FineTuneConfig.channels_last", error=c)
        from ..model.training import PRECISIONS

        if self.precision not in PRECISIONS:
            raise c(f"FineTuneConfig.precision must be one of {list(PRECISIONS)}, got {self.precision!r}")

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
    seeded :class:`~tiny_biomoe.TinyBioMoE` is used. Fused AdamW, channels-last convolutions and, with
    ``config.precision="bf16"``, bf16 autocast (:mod:`tiny_biomoe.model.training`).
    Returns ``(fine-tuned module in eval mode, history)``.

    Args:
        images: ``(N, 3, 224, 224)`` float images in [0, 1].
        labels: ``N`` integer class indices (0 to ``n_classes - 1``).
        n_classes: outputs of the linear classifier.
        model: the backbone to start from (copied); ``None``: a seeded random init.
        config: the training settings; ``None``: :class:`FineTuneConfig` defaults.
        device: where to train (``"auto"``: CUDA, else MPS, else CPU).
    """
    import copy

    from .._device import resolve_device
    from ..model.training import adamw, check_precision, convs_channels_last, convs_contiguous, train_autocast

    cfg = config or FineTuneConfig()
    dev = resolve_device(device)
    imgs = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if imgs.ndim != 4 or imgs.shape[0] != y.shape[0] or imgs.shape[0] < 1:
        raise ConfigError(f"finetune needs images (N, 3, 224, 224) and N labels, got {tuple(imgs.shape)} and {tuple(y.shape)}")
    if y.ndim != 1 or int(y.min()) < 0 or int(y.max()) >= int(n_classes):
        raise ConfigError(f"finetune labels must be class indices 0..{int(n_classes) - 1} (n_classes={n_classes}), "
                          f"got values {int(y.min())}..{int(y.max())}; map the labels to indices first")
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
        precision = check_precision(cfg.precision, dev, "FineTuneConfig.precision")
        if cfg.channels_last:
            convs_channels_last(net)
        opt = adamw(
            [{"params": list(net.backbone.parameters()), "lr": cfg.lr},
             {"params": list(net.classifier.parameters()), "lr": cfg.head_lr}],
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
            with train_autocast(dev, precision):
                logits = net(imgs[b].to(dev))  # ln_img gives the convolutions NCHW input either way
            loss = loss_fn(logits.float(), y[b].to(dev))
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        convs_contiguous(net)
        net.eval()
    _check_finite_head(net, "fine-tuning")
    return net, {"loss": losses, "config": cfg.to_dict()}
