"""Pretraining configuration: a tree of dataclasses loaded from YAML with strict key checking.

Every section is a dataclass; unknown or missing keys and wrong types raise
:class:`~tiny_biomoe.errors.ConfigError` naming the full key path (for example
``tasks[1].window.length_s``) and the keys that are allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

__all__ = [
    "SourceConfig",
    "WindowConfig",
    "TaskConfig",
    "ShardsConfig",
    "SamplingConfig",
    "LossConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "PretrainConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "packaged_config",
]

SourceFormat = Literal["wfdb", "edf", "csv", "npy", "synthetic"]


@dataclass
class SourceConfig:
    """Where a task's recordings come from and how their labels are found.

    Attributes:
        format: ``wfdb`` (PhysioNet ``.hea``/``.dat``), ``edf`` (EDF/BDF), ``csv`` (one column per
            channel), ``npy`` (``(samples,)`` or ``(channels, samples)`` arrays) or ``synthetic``
            (the package's synthetic pain data; ``path`` is ignored).
        path: root folder searched recursively for recordings.
        pattern: glob of recording files below ``path`` (default from the format, e.g. ``**/*.hea``).
        channel: channel name (WFDB signal name, EDF label, CSV column) or 0-based index.
        sampling_rate: Hz; needed for ``csv`` without a time column and for ``npy``.
        time_column: CSV column holding time in seconds (gives the sampling rate).
        labels_file: CSV with one row per recording: ``record_column`` (file stem, or path relative
            to ``path`` without suffix) and ``label_column``.
        label_pattern: alternative to ``labels_file``: a regex with a named group ``label``
            matched against the recording's path relative to ``path``.
        segments_file: alternative for labels that change within a recording (e.g. sleep stages
            per 30-s epoch): CSV with ``record_column``, ``start_column``, ``end_column`` (seconds)
            and ``label_column``; windows are cut inside each labelled segment.
        record_column: column of ``labels_file``/``segments_file`` naming the recording.
        label_column: column of ``labels_file``/``segments_file`` holding the label.
        start_column / end_column: segment bounds in seconds (``segments_file``).
        max_recordings: use only the first N recordings (sorted by path); for quick trials.
        synthetic: keyword arguments for the synthetic generator (``format: synthetic`` only),
            for example ``{subjects: 6, trials_per_class: 4, seed: 0}``.
    """

    format: SourceFormat = "synthetic"
    path: str | None = None
    pattern: str | None = None
    channel: str | int = 0
    sampling_rate: float | None = None
    time_column: str | None = None
    labels_file: str | None = None
    label_pattern: str | None = None
    segments_file: str | None = None
    record_column: str = "record"
    label_column: str = "label"
    start_column: str = "start_s"
    end_column: str = "end_s"
    max_recordings: int | None = None
    synthetic: dict[str, Any] = field(default_factory=dict)


@dataclass
class WindowConfig:
    """Windowing of each recording (seconds). ``resample_hz`` resamples recordings first."""

    length_s: float = 10.0
    stride_s: float | None = None
    resample_hz: float | None = None
    max_windows_per_recording: int | None = None


@dataclass
class TaskConfig:
    """One pretraining task: a source, its windowing and representations, and a target.

    Attributes:
        name: unique task name (letters, digits, ``_`` and ``-``); also the shard folder name.
        modality: modality of the signal (``ecg``, ``emg``, ``eeg``, ``eda``, ``bvp``, ...); picks
            preprocessing and rendering defaults.
        target: ``class`` (cross-entropy over the labels found) or ``regression`` (labels are
            numbers; mean-squared error on standardised targets).
        representations: representation kinds to render (each window gets one of them per draw,
            chosen at random, or all of them with ``representation_mode: all``).
        representation_mode: ``random`` or ``all``.
        render_params: extra keyword arguments for :func:`tiny_biomoe.representations.render`.
        preprocess: apply the modality's default preprocessing before windowing.
        weight: fixed loss weight (``loss.weighting: fixed``).
        val_fraction: fraction of recordings held out (by recording) for per-task validation.
    """

    name: str
    source: SourceConfig
    modality: str
    target: Literal["class", "regression"] = "class"
    window: WindowConfig = field(default_factory=WindowConfig)
    representations: list[str] = field(default_factory=lambda: ["waveform"])
    representation_mode: Literal["random", "all"] = "random"
    render_params: dict[str, Any] = field(default_factory=dict)
    preprocess: bool = True
    weight: float = 1.0
    val_fraction: float = 0.0


@dataclass
class ShardsConfig:
    """Where windows are stored: ``<dir>/<task>/shard-00000.x.npy`` + ``.y.npy`` + ``index.json``."""

    dir: str = "shards"
    recordings_per_shard: int = 64


@dataclass
class SamplingConfig:
    """Which task each micro-batch comes from: ``proportional`` (p ~ n), ``uniform``, or
    ``temperature`` (p ~ n^(1/T))."""

    strategy: Literal["proportional", "uniform", "temperature"] = "temperature"
    temperature: float = 2.0


@dataclass
class LossConfig:
    """``fixed``: sum of ``weight * loss``; ``uncertainty``: learned homoscedastic weights (Kendall et al. 2018)."""

    weighting: Literal["fixed", "uncertainty"] = "fixed"


@dataclass
class OptimConfig:
    """AdamW settings; ``head_lr_scale`` multiplies the learning rate of the task heads."""

    lr: float = 3e-4
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    head_lr_scale: float = 1.0
    grad_clip: float | None = 1.0


@dataclass
class ScheduleConfig:
    """Linear warm-up for ``warmup_steps`` then cosine decay to ``min_lr_ratio * lr`` at the last step."""

    warmup_steps: int = 0
    min_lr_ratio: float = 0.0


@dataclass
class TrainConfig:
    """Engine settings.

    Attributes:
        steps: optimizer steps in total.
        batch_size: windows per micro-batch per process (images = windows, or windows x kinds
            with ``representation_mode: all``).
        grad_accum: micro-batches per optimizer step (DDP synchronises only on the last).
        precision: ``fp32``, ``bf16`` (autocast) or ``fp16`` (autocast + GradScaler).
        seed: seeds weights, task order and window order.
        device: ``auto``, ``cpu``, ``cuda``; under torchrun each process uses ``cuda:LOCAL_RANK``.
        backend: torch.distributed backend; ``auto`` = ``nccl`` on CUDA, ``gloo`` otherwise.
        init: ``random`` or a weights source for :meth:`TinyBioMoE.from_pretrained`.
        output_dir: run folder (checkpoints, logs, exported model).
        log_every / ckpt_every / eval_every: in optimizer steps (0 disables eval/ckpt).
        keep_checkpoints: how many recent checkpoints to keep.
        eval_batches: validation micro-batches per task at each evaluation.
        tensorboard: also log to TensorBoard (needs the ``train`` extra).
        num_threads: torch CPU threads per process (``null``: torch's default).
        progress: show a tqdm bar on rank 0.
        channels_last: store the convolution weights channels-last, so that the convolutions run
            channels-last (faster with oneDNN/cuDNN; the same model up to float rounding; the
            exported model and the returned modules are contiguous).
    """

    steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"
    init: str = "random"
    output_dir: str = "runs/pretrain"
    log_every: int = 10
    ckpt_every: int = 500
    eval_every: int = 0
    eval_batches: int = 4
    keep_checkpoints: int = 2
    tensorboard: bool = False
    num_threads: int | None = None
    progress: bool = True
    channels_last: bool = True


@dataclass
class PretrainConfig:
    """The whole pretraining run (see ``configs/pretrain_tiny.yaml`` for an example).

    Attributes:
        tasks: the pretraining tasks (at least one, names unique).
        shards: where and how the windows are stored.
        sampling: which task each micro-batch comes from.
        loss: how the task losses are weighted.
        optim: AdamW settings.
        schedule: learning-rate warm-up and decay.
        train: engine settings.
        base_dir: folder relative paths are resolved against (:func:`load_config`: the working directory).
    """

    tasks: list[TaskConfig]
    shards: ShardsConfig = field(default_factory=ShardsConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    #: folder relative paths are resolved against (load_config sets the working directory)
    base_dir: str = "."

    def __post_init__(self) -> None:
        _validate(self)

    def resolve(self, p: str | os.PathLike) -> Path:
        """A path from the config, relative to ``base_dir`` (the working directory at load time) unless absolute."""
        q = Path(os.path.expanduser(str(p)))
        return q if q.is_absolute() else Path(self.base_dir) / q


# ----------------------------------------------------------------------------- loading
_short = reprlib.Repr()
_short.maxlevel, _short.maxlist, _short.maxdict, _short.maxstring, _short.maxother = 2, 4, 4, 60, 60
#: largest config file read (a pretraining config is a few KB)
MAX_CONFIG_BYTES = 4 * 2**20


def _r(value: Any) -> str:
    """A short repr for messages (a YAML alias bomb's full repr would take minutes and gigabytes)."""
    return _short.repr(value)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check/convert ``value`` against the annotation ``tp``; raise ConfigError at ``where``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:  # X | None: X's own, more precise message
            return _convert(value, real[0], where)
        for a in args:
            if a is type(None):
                continue
            with contextlib.suppress(ConfigError):
                return _convert(value, a, where)
        raise ConfigError(f"{where}: expected {' or '.join(_type_name(a) for a in args)}, got {_r(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {_r(value)} is not allowed; choose one of {list(args)}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_r(value)}")
        return [_convert(v, args[0] if args else Any, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_r(value)}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {_r(value)}")
        if not math.isfinite(float(value)):
            raise ConfigError(f"{where}: must be a finite number, got {value!r} (NaN/inf settings would train a "
                              "model of NaN weights)")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_r(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_r(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_r(value)}")
        return value
    return value


def _from_dict(cls: Any, data: Any, where: str) -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of {cls.__name__} settings, got {_r(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where or 'config'}: unknown key(s) {unknown}; allowed keys: {sorted(fields)} "
            "(check the spelling and the indentation of the YAML file)"
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: required key is missing; add '{name}:' to the {cls.__name__} section")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if where and not str(exc).startswith(where):
            raise ConfigError(f"{where}: {exc}") from None
        raise


def _validate(cfg: PretrainConfig) -> None:
    import re

    if not cfg.tasks:
        raise ConfigError("tasks: at least one task is needed")
    names = [t.name for t in cfg.tasks]
    for i, t in enumerate(cfg.tasks):
        w = f"tasks[{i}]"
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", t.name):
            raise ConfigError(f"{w}.name: {t.name!r} may only hold letters, digits, '_' and '-'")
        if not t.representations:
            raise ConfigError(f"{w}.representations: give at least one representation kind, e.g. [waveform]")
        if t.window.length_s <= 0:
            raise ConfigError(f"{w}.window.length_s: must be > 0, got {t.window.length_s}")
        if t.window.stride_s is not None and t.window.stride_s <= 0:
            raise ConfigError(f"{w}.window.stride_s: must be > 0 or null, got {t.window.stride_s}")
        if not 0.0 <= t.val_fraction < 1.0:
            raise ConfigError(f"{w}.val_fraction: must be in [0, 1), got {t.val_fraction}")
        if t.weight < 0:
            raise ConfigError(f"{w}.weight: must be >= 0, got {t.weight}")
        s = t.source
        if s.format != "synthetic" and not s.path:
            raise ConfigError(f"{w}.source.path: required for format {s.format!r}; point it at the data folder")
        if s.format == "npy" and not s.sampling_rate:
            raise ConfigError(f"{w}.source.sampling_rate: required for .npy recordings")
        n_lab = sum(bool(v) for v in (s.labels_file, s.label_pattern, s.segments_file))
        if s.format != "synthetic" and n_lab != 1:
            raise ConfigError(f"{w}.source: give exactly one of labels_file (CSV record,label), label_pattern "
                              "(regex with (?P<label>...)) or segments_file (CSV record,start_s,end_s,label)")
        if s.label_pattern and "(?P<label>" not in s.label_pattern:
            raise ConfigError(f"{w}.source.label_pattern: needs a named group, e.g. '(?P<label>[A-Z]+)_'")
    _check_names(cfg)
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"tasks: task names must be unique, repeated: {dup}")
    tr = cfg.train
    for key in ("steps", "batch_size", "grad_accum", "log_every"):
        if getattr(tr, key) < 1:
            raise ConfigError(f"train.{key}: must be >= 1, got {getattr(tr, key)}")
    for key in ("ckpt_every", "eval_every", "eval_batches", "keep_checkpoints"):
        if getattr(tr, key) < 0:
            raise ConfigError(f"train.{key}: must be >= 0, got {getattr(tr, key)}")
    if cfg.sampling.strategy == "temperature" and cfg.sampling.temperature <= 0:
        raise ConfigError(f"sampling.temperature: must be > 0, got {cfg.sampling.temperature}")
    if cfg.optim.lr <= 0:
        raise ConfigError(f"optim.lr: must be > 0, got {cfg.optim.lr}")
    if len(cfg.optim.betas) != 2:
        raise ConfigError(f"optim.betas: give two numbers, got {cfg.optim.betas}")
    _check_ranges(cfg)
    if cfg.schedule.warmup_steps < 0 or cfg.schedule.warmup_steps > tr.steps:
        raise ConfigError(f"schedule.warmup_steps: must be in [0, train.steps={tr.steps}], got {cfg.schedule.warmup_steps}")
    if not 0.0 <= cfg.schedule.min_lr_ratio <= 1.0:
        raise ConfigError(f"schedule.min_lr_ratio: must be in [0, 1], got {cfg.schedule.min_lr_ratio}")
    if cfg.shards.recordings_per_shard < 1:
        raise ConfigError(f"shards.recordings_per_shard: must be >= 1, got {cfg.shards.recordings_per_shard}")


def _check_ranges(cfg: PretrainConfig) -> None:
    """Numbers that must be positive, bounded or in [0, 1) (finiteness is checked on conversion)."""
    from .._validate import check_number, check_seed

    def num(value: Any, where: str, **kw: Any) -> None:
        if value is not None:
            check_number(value, where, error=ConfigError, **kw)

    o = cfg.optim
    num(o.weight_decay, "optim.weight_decay", min=0)
    num(o.head_lr_scale, "optim.head_lr_scale", min=0, min_inclusive=False)
    num(o.grad_clip, "optim.grad_clip", min=0, min_inclusive=False, hint="use null to disable clipping")
    for i, b in enumerate(o.betas):
        num(b, f"optim.betas[{i}]", min=0, max=1, max_inclusive=False)
    num(o.lr, "optim.lr", max=10.0)
    tr = cfg.train
    check_seed(tr.seed, "train.seed", error=ConfigError)
    num(tr.num_threads, "train.num_threads", min=1, max=1024, integer=True)
    for i, t in enumerate(cfg.tasks):
        w = f"tasks[{i}]"
        num(t.window.length_s, f"{w}.window.length_s", max=7 * 86400)
        num(t.window.resample_hz, f"{w}.window.resample_hz", min=0, min_inclusive=False, max=1e6)
        num(t.window.max_windows_per_recording, f"{w}.window.max_windows_per_recording", min=1, integer=True)
        num(t.source.sampling_rate, f"{w}.source.sampling_rate", min=0, min_inclusive=False, max=1e6)
        num(t.source.max_recordings, f"{w}.source.max_recordings", min=1, integer=True)


def _check_names(cfg: PretrainConfig) -> None:
    """Modality and representation names must be known (custom kinds: register them before loading)."""
    from ..representations import list_kinds
    from ..signals import list_modalities, get_modality
    from ..errors import SignalError

    kinds = set(list_kinds())
    for i, t in enumerate(cfg.tasks):
        try:
            get_modality(t.modality)
        except SignalError:
            raise ConfigError(f"tasks[{i}].modality: unknown modality {t.modality!r}; known: {list_modalities()}") from None
        bad = [k for k in t.representations if k not in kinds]
        if bad:
            raise ConfigError(f"tasks[{i}].representations: unknown kind(s) {bad}; known: {sorted(kinds)}")


def config_from_dict(data: dict[str, Any], base_dir: str | os.PathLike = ".") -> PretrainConfig:
    """Build a :class:`PretrainConfig` from a plain dict (as read from YAML)."""
    if not isinstance(data, dict):
        raise ConfigError(f"a pretraining config must be a mapping with a 'tasks' list, got {type(data).__name__}")
    data = dict(data)
    data.setdefault("base_dir", str(base_dir))
    return _from_dict(PretrainConfig, data, "")


def load_config(path: str | os.PathLike, overrides: list[str] | None = None) -> PretrainConfig:
    """Read a YAML config (a path, or ``"tiny"`` for the packaged example); ``overrides`` are
    ``dotted.key=value`` strings (value parsed as YAML, list items by index: ``tasks.0.weight=2``).

    Relative paths inside the file are resolved against the current working directory
    (recorded as ``base_dir``, so every process of a run agrees). The file must be UTF-8 YAML with few
    aliases; every number must be finite (``.nan``/``.inf`` are refused).
    """
    p = Path(path)
    if not p.is_file() and p.suffix == "" and len(p.parts) == 1 and (Path(__file__).with_name("configs") / f"{p}.yaml").is_file():
        p = packaged_config(str(p))  # a bare name such as "tiny" means a config shipped in the package
    if not p.exists():
        raise ConfigError(f"config file {str(p)!r} not found; give a YAML path or 'tiny' (the packaged example)")
    from .._validate import check_input_file

    check_input_file(p, what="config file", error=ConfigError)
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: {p.stat().st_size} bytes is far too large for a pretraining config "
                          f"(at most {MAX_CONFIG_BYTES} bytes)")
    data = _safe_yaml(p.read_bytes(), str(p))
    if data is None:
        raise ConfigError(f"{p}: the file is empty; it needs at least a 'tasks' list")
    for ov in overrides or []:
        _apply_override(data, ov)
    try:
        return config_from_dict(data, base_dir=Path.cwd())
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def _apply_override(data: dict, item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r}: use key.sub=value, e.g. train.steps=100")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")

    def slot(node: Any, part: str) -> tuple[Any, Any]:
        """The container holding ``part`` of ``node`` and the key/index to use in it."""
        if isinstance(node, list):
            try:
                index = int(part)
                node[index]
            except (ValueError, IndexError):
                raise ConfigError(f"override {item!r}: {part!r} is not a valid list index") from None
            return node, index
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part!r} is below a plain value ({node!r}), not a section")
        return node, part

    node: Any = data
    for part in parts[:-1]:
        container, k = slot(node, part)
        node = container[k] if isinstance(container, list) else container.setdefault(k, {})
    container, k = slot(node, parts[-1])
    container[k] = _safe_yaml(raw.encode("utf-8", "surrogateescape"), f"override {item!r}")


def _safe_yaml(raw: bytes, where: str) -> Any:
    """Parse YAML safely: UTF-8 only (a clear message for Latin-1 and other bytes), and at most
    ``TINY_BIOMOE_MAX_YAML_NODES`` nodes once aliases are expanded (a few-KB alias bomb would otherwise take
    minutes and gigabytes wherever the structure is walked); no recursive aliases."""
    import yaml

    from .._validate import limit

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}, e.g. Latin-1); "
                          "save the file as UTF-8") from None
    max_nodes = int(limit("MAX_YAML_NODES"))

    def expanded_size(root: Any) -> int:
        """Nodes of the document with every alias expanded, computed on the shared graph (no expansion)."""
        memo: dict[int, int] = {}
        busy: set[int] = set()

        def size(node: Any) -> int:
            key = id(node)
            if key in memo:
                return memo[key]
            if key in busy:
                raise ConfigError(f"{where}: a YAML alias refers to itself (a recursive structure); remove it")
            busy.add(key)
            if isinstance(node, yaml.SequenceNode):
                n = 1 + sum(size(c) for c in node.value)
            elif isinstance(node, yaml.MappingNode):
                n = 1 + sum(size(k) + size(v) for k, v in node.value)
            else:
                n = 1
            busy.discard(key)
            memo[key] = n = min(n, max_nodes + 1)
            return n

        return size(root)

    class _Loader(yaml.SafeLoader):
        def compose_document(self) -> Any:
            node = super().compose_document()
            if node is not None and expanded_size(node) > max_nodes:
                raise ConfigError(f"{where}: more than {max_nodes} YAML nodes once its aliases (*name) are expanded "
                                  "(a YAML 'alias bomb'?); a pretraining config has a few hundred. Raise "
                                  "TINY_BIOMOE_MAX_YAML_NODES if this is intended")
            return node

    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: YAML nested too deeply") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict (YAML/JSON-friendly) form of a config dataclass."""
    d = dataclasses.asdict(cfg)
    d.pop("base_dir", None)
    return d


def packaged_config(name: str = "tiny") -> Path:
    """Path of a config shipped inside the package (``tiny``)."""
    p = Path(__file__).with_name("configs") / f"{name}.yaml"
    if not p.is_file():
        raise ConfigError(f"no packaged config named {name!r}; available: "
                          f"{sorted(q.stem for q in p.parent.glob('*.yaml'))}")
    return p
