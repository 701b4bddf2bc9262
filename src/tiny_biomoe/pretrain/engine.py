"""The pretraining engine: plain PyTorch DistributedDataParallel, launched by ``torchrun`` or alone.

One process per GPU (or a single process on a laptop). Every micro-step all processes train
the same task (drawn by :class:`~tiny_biomoe.pretrain.sampler.MultiTaskSampler`) on different
windows; windows are rendered to images on the training device in batches. Gradients are
accumulated over ``train.grad_accum`` micro-steps with ``DDP.no_sync`` on all but the last.
Checkpoints hold model, optimizer, scheduler, GradScaler, sampler and per-process RNG states,
are written into a temporary folder that is renamed when complete, and are loaded with
``torch.load(weights_only=True)``, so a killed run resumes exactly.

Multi-GPU / multi-node (see docs/pretraining.md)::

    torchrun --nproc_per_node=8 --module tiny_biomoe.cli pretrain --config configs/pretrain_paper.yaml
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import re
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .._device import resolve_device
from .._io import atomic_dir, atomic_path, atomic_write_text
from ..errors import CheckpointError, ConfigError, require
from ..model import TinyBioMoE
from ..model.init import random_model
from ..model.training import adamw, convs_channels_last, convs_contiguous
from ..representations import render, render_info
from .config import PretrainConfig, TaskConfig, config_to_dict
from .sampler import MultiTaskSampler, task_probabilities
from .shards import ShardedTask, open_task

__all__ = ["MultiTaskModel", "PretrainResult", "pretrain", "build_model", "build_optimizer", "process_state",
           "cosine_with_warmup", "latest_checkpoint", "CKPT_FORMAT"]

CKPT_FORMAT = 1


# ----------------------------------------------------------------------------- model
class MultiTaskModel(nn.Module):
    """The shared :class:`~tiny_biomoe.TinyBioMoE` backbone, one linear head per task and, for
    uncertainty weighting, one learned log-variance ``s_t`` per task."""

    def __init__(self, backbone: nn.Module, outputs: dict[str, int], uncertainty: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        dim = int(getattr(backbone, "embed_dim", 192))
        self.heads = nn.ModuleDict({name: nn.Linear(dim, n) for name, n in outputs.items()})
        self.log_vars = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(())) for name in outputs} if uncertainty else {}
        )

    def forward(self, images: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Head output of ``task`` and a zero that touches every other head.

        The zero (``0 * sum of the other heads' and log-variances' parameters``) gives them zero
        gradients, so DDP needs no ``find_unused_parameters``; the engine drops those gradients
        (sets them to ``None``) before the optimizer step, so idle heads are not decayed or moved.
        """
        emb = self.backbone(images)
        out = self.heads[task](emb)
        others = [p for n, h in self.heads.items() if n != task for p in h.parameters()]
        others += [p for n, p in self.log_vars.items()]
        zero = sum((p.sum() for p in others), torch.zeros((), device=emb.device)) * 0.0
        return out, zero


def task_loss(out: torch.Tensor, y: torch.Tensor, target: str, mean: float = 0.0, std: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and the summed metric (correct predictions for ``class``, absolute error for ``regression``)."""
    out = out.float()
    if target == "class":
        loss = nn.functional.cross_entropy(out, y)
        metric = (out.argmax(1) == y).sum().float()
    else:
        pred = out.squeeze(-1)
        loss = nn.functional.mse_loss(pred, (y - mean) / std)
        metric = (pred.detach() * std + mean - y).abs().sum()
    return loss, metric.detach()


def weighted_loss(loss: torch.Tensor, task: TaskConfig, weighting: str, log_var: torch.Tensor | None) -> torch.Tensor:
    """Fixed: ``w * L``. Uncertainty (Kendall, Gal & Cipolla 2018, with ``s = log sigma^2``):
    classification ``exp(-s) L + s/2``, regression ``exp(-s) L / 2 + s/2``."""
    if weighting == "fixed":
        return task.weight * loss
    assert log_var is not None
    scale = 1.0 if task.target == "class" else 0.5
    return scale * torch.exp(-log_var) * loss + 0.5 * log_var


def _forward_loss(net: nn.Module, images: torch.Tensor, y: np.ndarray, task: TaskConfig, reg_stats: dict,
                  amp_dtype: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Head output under autocast, then :func:`task_loss` in float32: ``(loss, metric, zero)``."""
    yt = torch.as_tensor(y, device=images.device)
    if task.target == "regression":
        yt = yt.float()
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        out, zero = net(images, task.name)
    loss, metric = task_loss(out, yt, task.target, *reg_stats.get(task.name, (0.0, 1.0)))
    return loss, metric, zero


def cosine_with_warmup(total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0):
    """LR factor for step ``s``: linear warm-up ``(s+1)/W`` for ``s < W``, then cosine from 1 to ``min_lr_ratio``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


# ----------------------------------------------------------------------------- distributed
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    created: bool = False

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def _setup_distributed(cfg: PretrainConfig) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
    if world <= 1:
        return _Dist(device=resolve_device(cfg.train.device))
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    want = cfg.train.device
    if want in ("auto", "cuda") and torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = resolve_device("cpu" if want == "auto" else want)
    created = False
    if not dist.is_initialized():
        backend = cfg.train.backend
        if backend == "auto":
            backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        created = True
    return _Dist(dist.get_rank(), dist.get_world_size(), local_rank, device, created)


def _sync_buffers(model: nn.Module, d: _Dist) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) to every rank.

    DDP broadcasts them at the start of each forward, so in between each rank holds the
    statistics of its own last batch; syncing before evaluation and export makes the replicas
    identical without changing the training trajectory.
    """
    if d.enabled:
        for b in model.buffers():
            dist.broadcast(b.data, src=0)


def _all_reduce(t: torch.Tensor, d: _Dist) -> torch.Tensor:
    if d.enabled:
        dist.all_reduce(t)
    return t


# ----------------------------------------------------------------------------- RNG + checkpoints
def _rng_state(device: torch.device) -> dict[str, Any]:
    """RNG states as tensors/lists/ints, so ``torch.load(weights_only=True)`` can read them."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    pv, pstate, pgauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(pv), "state": [int(v) for v in pstate], "gauss": pgauss},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


_CKPT_RE = re.compile(r"^step-(\d{8})$")


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder under ``output_dir/checkpoints`` (or ``None``)."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return None
    found = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _CKPT_RE.match(p.name)) and (p / "state.pt").is_file())
    return found[-1][1] if found else None


def _save_checkpoint(root: Path, step: int, d: _Dist, main: dict[str, Any] | None, rank_state: dict[str, Any], keep: int) -> Path:
    """All ranks write their RNG file into ``step-N.partial``; rank 0 adds ``state.pt`` and renames
    the folder to ``step-N`` (the rename is what marks a checkpoint as complete)."""
    tmp, final = root / f"step-{step:08d}.partial", root / f"step-{step:08d}"
    if d.rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    d.barrier()
    with atomic_path(tmp / f"rank-{d.rank:05d}.pt") as p:
        torch.save(rank_state, p)
    if d.rank == 0:
        with atomic_path(tmp / "state.pt") as p:
            torch.save(main, p)
    d.barrier()
    if d.rank == 0:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        olds = sorted(p for p in root.iterdir() if _CKPT_RE.match(p.name))
        for p in olds[: max(0, len(olds) - max(1, keep))]:
            shutil.rmtree(p, ignore_errors=True)
        for p in root.glob("step-*.partial"):  # left by a run killed while saving a step not saved since
            shutil.rmtree(p, ignore_errors=True)
    d.barrier()
    return final


def _load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported as a checkpoint problem
        raise CheckpointError(f"cannot read checkpoint file {str(path)!r} safely (weights_only=True): {exc}") from exc


# ----------------------------------------------------------------------------- rendering
def _images_for(x: np.ndarray, y: np.ndarray, kinds: np.ndarray, task: TaskConfig, st: ShardedTask, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Render a micro-batch on ``device``: one kind per window (``random``) or every kind (``all``)."""
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    fs, kw = st.sampling_rate, dict(task.render_params)
    if task.representation_mode == "all":
        imgs = [render(xt, kind=k, sampling_rate=fs, modality=task.modality, device=device,
                       **kw) for k in task.representations]
        return torch.cat(imgs), np.concatenate([y] * len(imgs))
    out = torch.empty((len(x), 3, 224, 224), dtype=torch.float32, device=device)
    for ki in np.unique(kinds):
        sel = np.flatnonzero(kinds == ki)
        out[torch.from_numpy(sel).to(device)] = render(xt[sel], kind=task.representations[int(ki)], sampling_rate=fs,
                                                       modality=task.modality, device=device, **kw)
    return out, y


# ----------------------------------------------------------------------------- logging
class _Logger:
    """Long-format CSV (step, split, task, loss, metric, value, n, lr) and optional TensorBoard, rank 0 only."""

    FIELDS = ["step", "split", "task", "loss", "metric", "value", "n", "lr", "elapsed_s"]

    def __init__(self, out: Path, start_step: int, tensorboard: bool, active: bool) -> None:
        self.active = active
        self.path = out / "metrics.csv"
        self.tb = None
        if not active:
            return
        rows: list[dict[str, str]] = []
        if self.path.is_file() and start_step > 0:  # drop rows a killed run logged after its last checkpoint
            with open(self.path, newline="", encoding="utf-8") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= start_step]
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, self.FIELDS)
            w.writeheader()
            w.writerows(rows)
        if tensorboard:
            require("tensorboard", "train", "TensorBoard logging (train.tensorboard: true)")
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def log(self, rows: list[dict[str, Any]]) -> None:
        if not self.active or not rows:
            return
        with open(self.path, "a", newline="", encoding="utf-8") as fh:
            csv.DictWriter(fh, self.FIELDS).writerows(rows)
        if self.tb is not None:
            for r in rows:
                tag = f"{r['split']}/{r['task']}"
                self.tb.add_scalar(f"{tag}/loss", r["loss"], r["step"])
                if r["metric"]:
                    self.tb.add_scalar(f"{tag}/{r['metric']}", r["value"], r["step"])
            self.tb.add_scalar("train/lr", rows[0]["lr"], rows[0]["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _rows(step: int, split: str, names: list[str], targets: list[str], acc: torch.Tensor, lr: float, t0: float) -> list[dict[str, Any]]:
    """acc: (tasks, 4) = [loss sum over batches, windows, metric sum, batches]."""
    rows = []
    for i, name in enumerate(names):
        loss_sum, n, metric_sum, batches = (float(v) for v in acc[i])
        if n == 0:
            continue
        metric = "accuracy" if targets[i] == "class" else "mae"
        rows.append({"step": step, "split": split, "task": name, "loss": loss_sum / max(batches, 1), "metric": metric,
                     "value": metric_sum / n, "n": int(n), "lr": lr, "elapsed_s": round(time.time() - t0, 3)})
    return rows


# ----------------------------------------------------------------------------- result
@dataclass
class PretrainResult:
    """What :func:`pretrain` returns (on every process).

    ``model`` is the trained backbone (on the training device), ``export_dir`` the folder written
    by :meth:`TinyBioMoE.save_pretrained` (``None`` when stopped early), ``metrics`` the last
    logged rows (rank 0), ``stopped`` whether ``stop_at_step`` ended the run, ``rank`` this process's rank.
    """

    output_dir: Path
    step: int
    model: nn.Module
    heads: nn.Module
    export_dir: Path | None
    checkpoint: Path | None
    metrics: list[dict[str, Any]]
    stopped: bool = False
    rank: int = 0


# ----------------------------------------------------------------------------- process state
@contextlib.contextmanager
def process_state(num_threads: int | None = None) -> Iterator[None]:
    """Set torch's intra-op thread count (if given) for the block; on exit restore it, the global
    torch (CPU and CUDA), NumPy and Python RNG states and the current CUDA device, whatever the
    block seeded, drew or selected."""
    threads = torch.get_num_threads()
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()
    py_state = random.getstate()
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    cuda_states = torch.cuda.get_rng_state_all() if cuda else None
    cuda_device = torch.cuda.current_device() if cuda else 0  # DDP set-up selects cuda:LOCAL_RANK
    try:
        if num_threads:
            torch.set_num_threads(int(num_threads))
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.set_device(cuda_device)


# ----------------------------------------------------------------------------- model set-up
def _open_tasks(cfg: PretrainConfig) -> tuple[list[ShardedTask], dict[str, tuple[float, float]]]:
    """Open every task's shards, check its render parameters, compute regression target statistics."""
    data = [open_task(cfg, t) for t in cfg.tasks]
    for i, (t, st) in enumerate(zip(cfg.tasks, data)):  # fail before training on bad render_params
        for k in t.representations:
            try:
                render_info(k, st.sampling_rate, int(st.index["window_samples"]), t.modality, **t.render_params)
            except Exception as exc:  # noqa: BLE001 - reported as a config problem with its cause
                raise ConfigError(f"tasks[{i}].render_params {t.render_params} do not fit kind {k!r}: {exc}") from exc
    reg_stats = {}
    for t, st in zip(cfg.tasks, data):
        if t.target == "regression":
            yv = st.labels[st.train_indices].astype(np.float64)
            reg_stats[t.name] = (float(yv.mean()), float(yv.std()) or 1.0)
    return data, reg_stats


def build_model(cfg: PretrainConfig, outputs: dict[str, int]) -> MultiTaskModel:
    """The initial multi-task model, identical on every process and for every run of the same config.

    ``train.init: random`` starts the backbone from the authors' initialisation
    (:func:`tiny_biomoe.model.init.random_model`, seed ``train.seed``); otherwise it loads those
    weights. Heads: truncated normal (std 0.02), bias 0, from a generator seeded with ``train.seed + 1``;
    log-variances 0. Nothing global is drawn from or changed.
    """
    tr = cfg.train
    backbone = random_model(int(tr.seed)) if tr.init == "random" else TinyBioMoE.from_pretrained(tr.init)
    with torch.random.fork_rng(devices=[]):  # nn.Linear's constructor draws from the global RNG
        model = MultiTaskModel(backbone, outputs, uncertainty=cfg.loss.weighting == "uncertainty")
    g = torch.Generator().manual_seed(int(tr.seed) + 1)
    with torch.no_grad():
        for head in model.heads.values():
            nn.init.trunc_normal_(head.weight, std=0.02, generator=g)
            nn.init.zeros_(head.bias)
    return model


def build_optimizer(model: MultiTaskModel, cfg: PretrainConfig) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW and its warm-up + cosine schedule. Parameter groups: the backbone's decayed weights,
    its :meth:`~tiny_biomoe.TinyBioMoE.no_weight_decay` parameters (attention-bias tables, norms,
    biases; no decay), the heads (``optim.head_lr_scale``) and the log-variances (no decay)."""
    o, tr = cfg.optim, cfg.train
    skip = model.backbone.no_weight_decay() if hasattr(model.backbone, "no_weight_decay") else set()
    decay, no_decay = [], []
    for n, p in model.backbone.named_parameters():
        (no_decay if n in skip else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": o.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": list(model.heads.parameters()), "weight_decay": o.weight_decay, "lr": o.lr * o.head_lr_scale},
    ]
    if len(model.log_vars):
        groups.append({"params": list(model.log_vars.parameters()), "weight_decay": 0.0})
    optimizer = adamw(groups, lr=o.lr, betas=tuple(o.betas))  # fused where it exists (model.training)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, cosine_with_warmup(tr.steps, cfg.schedule.warmup_steps, cfg.schedule.min_lr_ratio)
    )
    return optimizer, scheduler


def _seed_process(seed: int, rank: int) -> None:
    """Per-process streams for anything random during training (none in the network today); the
    caller's states come back when :func:`process_state` exits."""
    s = seed * 1000 + rank + 1
    torch.manual_seed(s)
    np.random.seed(s % 2**32)
    random.seed(s)


# ----------------------------------------------------------------------------- checkpointing
@dataclass
class _Trainer:
    """Everything a step changes, and what a checkpoint holds."""

    model: MultiTaskModel
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    sampler: MultiTaskSampler
    names: list[str]
    acc: torch.Tensor
    step: int = 0

    def main_state(self, world: int) -> dict[str, Any]:
        return {"format": CKPT_FORMAT, "step": self.step, "tasks": self.names, "world_size": world,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "sampler": self.sampler.state_dict()}


def _find_resume(resume: Any, out: Path) -> Path | None:
    """The checkpoint folder to resume from (``"auto"``, ``"never"`` or a folder), or ``None``."""
    if str(resume) == "auto":
        return latest_checkpoint(out)
    if str(resume) == "never":
        if latest_checkpoint(out) is not None:
            raise ConfigError(f"{str(out)!r} already holds checkpoints; use --resume auto to continue, or another --output")
        return None
    ckpt = Path(resume)
    if not (ckpt / "state.pt").is_file():
        raise CheckpointError(f"{str(ckpt)!r} is not a checkpoint folder (no state.pt); pass e.g. {out}/checkpoints/step-00000100")
    return ckpt


def _restore(ckpt: Path, tr: _Trainer, d: _Dist) -> None:
    """Load a checkpoint into ``tr`` (model, optimizer, schedule, scaler, sampler, step) and this
    process's RNG streams and unlogged metrics, when the process count is unchanged."""
    main = _load(ckpt / "state.pt")
    if main.get("format") != CKPT_FORMAT or main.get("tasks") != tr.names:
        raise CheckpointError(f"checkpoint {str(ckpt)!r} was made for tasks {main.get('tasks')}, this config has {tr.names}")
    tr.model.load_state_dict(main["model"])
    tr.optimizer.load_state_dict(main["optimizer"])
    tr.scheduler.load_state_dict(main["scheduler"])
    if main.get("scaler"):
        tr.scaler.load_state_dict(main["scaler"])
    tr.sampler.load_state_dict(main["sampler"])
    tr.step = int(main["step"])
    rank_file = ckpt / f"rank-{d.rank:05d}.pt"
    if rank_file.is_file() and int(main.get("world_size", 1)) == d.world:
        rs = _load(rank_file)
        _set_rng_state(rs["rng"], d.device)
        tr.acc = rs["acc"].to(torch.float64)
    else:
        warnings.warn(f"resuming {ckpt} with a different number of processes ({main.get('world_size')} -> {d.world}): "
                      "the data order continues, but RNG streams restart from the seed", stacklevel=3)


def _checkpoint(tr: _Trainer, out: Path, d: _Dist, keep: int) -> Path:
    main = tr.main_state(d.world) if d.rank == 0 else None
    return _save_checkpoint(out / "checkpoints", tr.step, d, main, {"rng": _rng_state(d.device), "acc": tr.acc.clone()}, keep)


# ----------------------------------------------------------------------------- run files + console
def _write_run_files(out: Path, cfg: PretrainConfig, data: list[ShardedTask], probs: Any, d: _Dist, start_step: int) -> None:
    """Rank 0: ``config.json``, ``data_summary.json`` and (with ``train.progress``) a summary on stdout."""
    if d.rank != 0:
        return
    tr = cfg.train
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(config_to_dict(cfg), indent=1, default=str))
    summary = [{"task": t.name, "target": t.target, "classes": st.classes, "train_windows": int(len(st.train_indices)),
                "val_windows": int(len(st.val_indices)), "probability": float(p), "representations": t.representations}
               for t, st, p in zip(cfg.tasks, data, probs)]
    atomic_write_text(out / "data_summary.json", json.dumps(summary, indent=1))
    if tr.progress:
        for r in summary:
            print(f"task {r['task']}: {r['train_windows']} train / {r['val_windows']} val windows, "
                  f"p={r['probability']:.3f}, {r['target']}{' ' + str(r['classes']) if r['classes'] else ''}")
        print(f"{d.world} process(es) on {d.device}, global batch {tr.batch_size * d.world * tr.grad_accum} windows, "
              f"{tr.steps} steps, precision {tr.precision}" + (f", resuming at step {start_step}" if start_step else ""))


# ----------------------------------------------------------------------------- main loop
def pretrain(
    cfg: PretrainConfig,
    *,
    resume: str | os.PathLike = "auto",
    stop_at_step: int | None = None,
    output_dir: str | os.PathLike | None = None,
) -> PretrainResult:
    """Run multi-task pretraining from a :class:`PretrainConfig`; return a :class:`PretrainResult`.

    Args:
        cfg: the configuration (shards must exist: :func:`~tiny_biomoe.pretrain.prepare_shards`).
        resume: ``"auto"`` (continue from the newest checkpoint in the output folder, if any),
            ``"never"`` (start fresh; refuses a folder that already holds checkpoints) or a
            checkpoint folder.
        stop_at_step: save a checkpoint after this many optimizer steps and return (a planned
            interruption; the learning-rate schedule still follows ``train.steps``).
        output_dir: overrides ``train.output_dir``.

    Under ``torchrun`` (``WORLD_SIZE > 1``) each process trains one replica with DDP; the
    process group is created here unless it already exists, and destroyed at the end if created here.
    ``train.num_threads`` and the seeds apply during the run only: the caller's thread count and
    global RNG states are restored on return (see :func:`process_state`).
    """
    tr = cfg.train
    with process_state(tr.num_threads):
        d = _setup_distributed(cfg)
        try:
            return _pretrain(cfg, d, resume, stop_at_step, Path(output_dir) if output_dir else cfg.resolve(tr.output_dir))
        finally:
            if d.created and dist.is_initialized():
                dist.destroy_process_group()


def _pretrain(cfg: PretrainConfig, d: _Dist, resume: Any, stop_at_step: int | None, out: Path) -> PretrainResult:
    tr = cfg.train
    device = d.device
    if tr.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("train.precision: bf16 is not supported on this GPU; use fp16 or fp32")
    data, reg_stats = _open_tasks(cfg)
    names = [t.name for t in cfg.tasks]
    sizes = [len(st.train_indices) for st in data]
    probs = task_probabilities(sizes, cfg.sampling.strategy, cfg.sampling.temperature)
    sampler = MultiTaskSampler(sizes, probs, tr.batch_size, [len(t.representations) for t in cfg.tasks],
                               seed=tr.seed, rank=d.rank, world_size=d.world)
    # identical initial weights on every process (DDP also broadcasts rank 0's at construction)
    model = build_model(cfg, {t.name: st.num_outputs for t, st in zip(cfg.tasks, data)}).to(device)
    if tr.channels_last:  # before the optimizer, whose state takes the parameters' layout; the convolutions
        convs_channels_last(model)  # then run channels-last (the images enter through ln_img, a plain layer norm)
    model.train()
    _seed_process(int(tr.seed), d.rank)
    optimizer, scheduler = build_optimizer(model, cfg)
    scaler = torch.amp.GradScaler(device.type, enabled=tr.precision == "fp16")
    trainer = _Trainer(model, optimizer, scheduler, scaler, sampler, names,
                       torch.zeros((len(names), 4), dtype=torch.float64))
    ckpt = _find_resume(resume, out)
    if ckpt is not None:
        _restore(ckpt, trainer, d)
    start_step = trainer.step

    ddp: nn.Module = model
    if d.enabled:
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    logger = _Logger(out, start_step, tr.tensorboard, active=d.rank == 0)
    _write_run_files(out, cfg, data, probs, d, start_step)
    from tqdm.auto import tqdm

    bar = tqdm(total=tr.steps, initial=start_step, desc="pretrain", unit="step", disable=not (tr.progress and d.rank == 0))
    try:
        last_ckpt, last_rows, stopped = _train_loop(trainer, ddp, cfg, data, reg_stats, d, out, logger, bar, stop_at_step, ckpt)
    finally:
        bar.close()
        logger.close()
        convs_contiguous(model)  # the returned modules are plain (contiguous) ones

    _sync_buffers(model, d)
    export_dir = None
    if not stopped:
        export_dir = out / "model"
        if d.rank == 0:
            export(model, cfg, data, reg_stats, export_dir, step=trainer.step, world_size=d.world)
        d.barrier()
    return PretrainResult(out, trainer.step, model.backbone, model.heads, export_dir, last_ckpt, last_rows, stopped, d.rank)


def _train_loop(tr_: _Trainer, ddp: nn.Module, cfg: PretrainConfig, data: list[ShardedTask], reg_stats: dict, d: _Dist,
                out: Path, logger: _Logger, bar: Any, stop_at_step: int | None,
                last_ckpt: Path | None) -> tuple[Path | None, list[dict[str, Any]], bool]:
    """Optimizer steps until ``train.steps`` (or ``stop_at_step``): returns (last checkpoint, last rows, stopped)."""
    tr, o = cfg.train, cfg.optim
    model, optimizer, scaler = tr_.model, tr_.optimizer, tr_.scaler
    names = tr_.names
    targets = [t.target for t in cfg.tasks]
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(tr.precision)
    t0 = time.time()
    last_rows: list[dict[str, Any]] = []
    while tr_.step < tr.steps:
        used: set[str] = set()
        for micro in range(tr.grad_accum):
            draw = tr_.sampler.next()
            task, st = cfg.tasks[draw.task], data[draw.task]
            used.add(task.name)
            x, y = st.get(st.train_indices[draw.positions])
            images, y = _images_for(x, y, draw.kinds, task, st, d.device)
            sync = contextlib.nullcontext() if (micro == tr.grad_accum - 1 or not d.enabled) else ddp.no_sync()  # type: ignore[operator]
            with sync:
                loss, metric, zero = _forward_loss(ddp, images, y, task, reg_stats, amp_dtype)
                lv = model.log_vars[task.name] if len(model.log_vars) else None
                total = (weighted_loss(loss, task, cfg.loss.weighting, lv) + zero) / tr.grad_accum
                with warnings.catch_warnings():  # DDP's stride hint for size-1 dims of depthwise kernels: harmless
                    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
                    scaler.scale(total).backward()
            tr_.acc[draw.task] += torch.tensor([float(loss.detach()), len(y), float(metric), 1.0], dtype=torch.float64)
        # idle heads got exact-zero gradients: drop them so AdamW leaves those heads alone
        for name in names:
            if name not in used:
                for p in model.heads[name].parameters():
                    p.grad = None
                if name in model.log_vars:
                    model.log_vars[name].grad = None
        if o.grad_clip:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], o.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        lr = optimizer.param_groups[0]["lr"]
        with warnings.catch_warnings():  # fp16: GradScaler skips steps with inf gradients, which is expected
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step()`")
            tr_.scheduler.step()
        tr_.step += 1
        step = tr_.step
        bar.update(1)
        if step % tr.log_every == 0 or step == tr.steps:
            tot = _all_reduce(tr_.acc.clone().to(d.device), d).cpu()
            last_rows = _rows(step, "train", names, targets, tot, lr, t0)
            logger.log(last_rows)
            if last_rows:
                bar.set_postfix_str(" ".join(f"{r['task']}:{r['loss']:.3f}" for r in last_rows))
            tr_.acc.zero_()
        if tr.eval_every and (step % tr.eval_every == 0 or step == tr.steps):
            _sync_buffers(model, d)
            logger.log(_evaluate(model, cfg, data, reg_stats, d, step, lr, t0, amp_dtype))
        if stop_at_step is not None and step >= stop_at_step and step < tr.steps:
            return _checkpoint(tr_, out, d, tr.keep_checkpoints), last_rows, True
        if (tr.ckpt_every and step % tr.ckpt_every == 0) or step == tr.steps:
            last_ckpt = _checkpoint(tr_, out, d, tr.keep_checkpoints)
    return last_ckpt, last_rows, False


@torch.no_grad()
def _evaluate(model: MultiTaskModel, cfg: PretrainConfig, data: list[ShardedTask], reg_stats: dict, d: _Dist,
              step: int, lr: float, t0: float, amp_dtype: Any) -> list[dict[str, Any]]:
    """Per-task validation on the first ``eval_batches`` global batches of held-out windows."""
    tr = cfg.train
    model.eval()
    acc = torch.zeros((len(cfg.tasks), 4), dtype=torch.float64)
    for i, (task, st) in enumerate(zip(cfg.tasks, data)):
        idx = st.val_indices[: tr.eval_batches * tr.batch_size * d.world]
        mine = idx[d.rank :: d.world]
        for b in range(0, len(mine), tr.batch_size):
            sel = mine[b : b + tr.batch_size]
            x, y = st.get(sel)
            kinds = (np.arange(len(sel)) + b) % len(task.representations)
            images, y = _images_for(x, y, kinds, task, st, d.device)
            loss, metric, _ = _forward_loss(model, images, y, task, reg_stats, amp_dtype)
            acc[i] += torch.tensor([float(loss), len(y), float(metric), 1.0], dtype=torch.float64)
    model.train()
    tot = _all_reduce(acc.to(d.device), d).cpu()
    return _rows(step, "val", [t.name for t in cfg.tasks], [t.target for t in cfg.tasks], tot, lr, t0)


def export(model: MultiTaskModel, cfg: PretrainConfig, data: list[ShardedTask], reg_stats: dict, folder: Path,
           *, step: int, world_size: int) -> Path:
    """Save the backbone with :meth:`TinyBioMoE.save_pretrained` (metadata: representations,
    preprocessing and tasks) and the task heads as ``heads.safetensors`` beside it, as one folder
    that appears complete (built beside ``folder``, then renamed; a previous export is replaced)."""
    from safetensors.torch import save_file

    from ..signals import describe_preprocessing

    tasks = []
    for t, st in zip(cfg.tasks, data):
        n = int(st.index["window_samples"])
        tasks.append({
            "name": t.name, "modality": t.modality, "target": t.target, "classes": st.classes,
            "regression_mean_std": reg_stats.get(t.name), "sampling_rate": st.sampling_rate,
            "window_s": t.window.length_s, "window_samples": n, "train_windows": int(len(st.train_indices)),
            "representations": [render_info(k, st.sampling_rate, n, t.modality, **t.render_params) for k in t.representations],
            "preprocessing": describe_preprocessing(t.modality, st.sampling_rate) if t.preprocess else None,
        })
    metadata = {
        "pretraining": {"steps": step, "world_size": world_size, "tasks": tasks, "config": config_to_dict(cfg)},
        "representations": sorted({k for t in cfg.tasks for k in t.representations}),
    }
    # the whole folder (backbone, config, card, heads) is built in a temporary folder beside the
    # target and renamed into place, so a run killed while exporting never leaves weights without
    # their config or heads; the temporary carries this process's id, so the next run removes it
    folder = Path(folder)
    for p in (folder.with_name(f".{folder.name}.export.tmp"), folder.with_name(f".{folder.name}.old.tmp")):
        shutil.rmtree(p, ignore_errors=True)  # fixed-name temporaries of earlier versions
    with atomic_dir(folder, replace=True) as tmp:
        model.backbone.save_pretrained(tmp, metadata=json.loads(json.dumps(metadata, default=str)))
        heads = {k: v.detach().cpu().contiguous() for k, v in model.heads.state_dict().items()}
        save_file(heads, str(tmp / "heads.safetensors"), metadata={"tasks": json.dumps([t["name"] for t in tasks])})
    return folder
