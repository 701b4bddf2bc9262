"""Sharded window storage: raw signal windows written once, memory-mapped for training.

Layout of one task (``<shards.dir>/<task>/``)::

    task.json                 settings fixed before the first shard (rate, window, classes, fingerprint)
    shard-00000.x.npy         float32 (n, window_samples) windows
    shard-00000.y.npy         int64 class indices, or float32 regression targets
    shard-00000.r.npy         int32 recording index of each window (for by-recording validation splits)
    shard-00000.json          written last: marks the shard as finished (n windows, recordings, skips)
    index.json                written when every shard is done: the list the trainer reads

Shard ``k`` holds the windows of recordings ``k*R .. (k+1)*R-1`` (recordings sorted by path,
``R = shards.recordings_per_shard``), so a resumed preparation knows which shards are finished
and rebuilds only the others. Every file is written atomically. Images are never stored: the
trainer renders windows on its device (:func:`tiny_biomoe.representations.render`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._io import atomic_path, atomic_write_text
from ..errors import DatasetError, SignalError
from .config import PretrainConfig, SourceConfig, TaskConfig

__all__ = ["RecordingRef", "list_recordings", "prepare_shards", "prepare_task", "ShardedTask", "open_task", "SHARD_FORMAT"]

SHARD_FORMAT = 1
_DEFAULT_PATTERNS = {"wfdb": "**/*.hea", "edf": "**/*.[eEbB][dD][fF]", "csv": "**/*.csv", "npy": "**/*.npy"}


@dataclass(frozen=True)
class RecordingRef:
    """One recording of a task: a stable id, its label and how to load its signal.

    ``segments`` (``[(start_s, end_s, label), ...]``) replaces ``label`` when labels change
    within the recording; windows are then cut inside each segment.
    """

    id: str
    label: Any
    load: Callable[[], tuple[np.ndarray, float]]
    segments: tuple[tuple[float, float, Any], ...] | None = None

    def labels(self) -> list[Any]:
        """Every label this recording contributes."""
        return [s[2] for s in self.segments] if self.segments is not None else [self.label]


# ----------------------------------------------------------------------------- sources
def _read_labels_file(src: SourceConfig, base: Callable[[str], Path]) -> dict[str, str]:
    path = base(src.labels_file)  # type: ignore[arg-type]
    if not path.is_file():
        raise DatasetError(f"labels file {str(path)!r} not found; it needs columns {src.record_column!r} and {src.label_column!r}")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for c in (src.record_column, src.label_column):
            if c not in cols:
                raise DatasetError(f"labels file {str(path)!r} has no column {c!r} (columns: {cols}); set record_column/label_column")
        return {str(row[src.record_column]).strip(): str(row[src.label_column]).strip() for row in reader}


def _read_segments_file(src: SourceConfig, base: Callable[[str], Path]) -> dict[str, list[tuple[float, float, str]]]:
    path = base(src.segments_file)  # type: ignore[arg-type]
    cols = (src.record_column, src.start_column, src.end_column, src.label_column)
    if not path.is_file():
        raise DatasetError(f"segments file {str(path)!r} not found; it needs columns {list(cols)}")
    out: dict[str, list[tuple[float, float, str]]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in cols if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"segments file {str(path)!r} lacks columns {missing} (has {reader.fieldnames})")
        for i, row in enumerate(reader):
            try:
                a, b = float(row[src.start_column]), float(row[src.end_column])
            except ValueError:
                raise DatasetError(f"segments file {str(path)!r} row {i + 2}: start/end are not numbers") from None
            if b <= a:
                raise DatasetError(f"segments file {str(path)!r} row {i + 2}: end {b} is not after start {a}")
            out.setdefault(str(row[src.record_column]).strip(), []).append((a, b, str(row[src.label_column]).strip()))
    return out


def _file_recordings(task: TaskConfig, cfg: PretrainConfig) -> list[RecordingRef]:
    from ..signals import read_signal

    src = task.source
    root = cfg.resolve(src.path)  # type: ignore[arg-type]
    if not root.is_dir():
        raise DatasetError(f"task {task.name!r}: source folder {str(root)!r} does not exist")
    pattern = src.pattern or _DEFAULT_PATTERNS[src.format]
    files = sorted(p for p in root.glob(pattern) if p.is_file())
    if src.format == "edf":
        files = [p for p in files if p.suffix.lower() in (".edf", ".bdf")]
    if not files:
        raise DatasetError(f"task {task.name!r}: no files match {pattern!r} under {str(root)!r}; check source.path/pattern")
    labels = _read_labels_file(src, cfg.resolve) if src.labels_file else None
    regex = re.compile(src.label_pattern) if src.label_pattern else None
    segs = _read_segments_file(src, cfg.resolve) if src.segments_file else None
    refs: list[RecordingRef] = []
    unlabelled = 0
    for p in files:
        rel = p.relative_to(root).with_suffix("").as_posix()
        label: str | None = None
        segments = None
        if segs is not None:
            segments = segs.get(rel, segs.get(p.stem))
            label = "segments" if segments else None
        elif labels is not None:
            label = labels.get(rel, labels.get(p.stem))
        elif regex is not None:
            m = regex.search(p.relative_to(root).as_posix())
            label = m.group("label") if m else None
        if label is None or label == "":
            unlabelled += 1
            continue
        fmt = "wfdb" if src.format == "wfdb" else None
        target = p.with_suffix("") if src.format == "wfdb" else p

        def load(target: Path = target, fmt: str | None = fmt) -> tuple[np.ndarray, float]:
            kwargs: dict[str, Any] = {"sampling_rate": src.sampling_rate, "format": fmt}
            if src.format == "csv":
                kwargs["time_column"] = src.time_column
            rec = read_signal(target, **kwargs)
            _, x, fs = rec.pick(src.channel, task.modality)
            return np.asarray(x, dtype=np.float64), float(fs)

        refs.append(RecordingRef(rel, label, load, tuple(segments) if segments else None))
    if unlabelled:
        warnings.warn(f"task {task.name!r}: {unlabelled} of {len(files)} recordings have no label and are left out", stacklevel=3)
    if src.max_recordings is not None:
        refs = refs[: src.max_recordings]
    if not refs:
        raise DatasetError(f"task {task.name!r}: no recording has a label; check labels_file/label_pattern")
    return refs


def _synthetic_recordings(task: TaskConfig) -> tuple[list[RecordingRef], list[str]]:
    from ..data.synthetic import make_synthetic_pain

    opts = dict(task.source.synthetic)
    opts.setdefault("partitions", None)
    try:
        ds = make_synthetic_pain(**opts)
    except TypeError as exc:
        raise DatasetError(f"task {task.name!r}: bad source.synthetic settings {opts}: {exc}") from None
    channel = str(task.source.channel) if not isinstance(task.source.channel, int) else ds.modalities[task.source.channel]
    if channel not in ds.modalities:
        raise DatasetError(f"task {task.name!r}: synthetic data has channels {ds.modalities}, not {channel!r}; set source.channel")
    refs = []
    for t in ds.labelled().trials:
        x, fs = t.signals[channel], float(t.sampling_rates[channel])
        label: Any = t.label if task.target == "class" else float(ds.classes.index(t.label))  # regression: pain level 0,1,2
        refs.append(RecordingRef(f"{t.subject}/{t.trial}", label, (lambda x=x, fs=fs: (x, fs))))
    if task.source.max_recordings is not None:
        refs = refs[: task.source.max_recordings]
    return refs, list(ds.classes)


def list_recordings(task: TaskConfig, cfg: PretrainConfig) -> tuple[list[RecordingRef], list[str] | None]:
    """The task's labelled recordings (sorted) and, for class targets, the class names in index order."""
    if task.source.format == "synthetic":
        refs, classes = _synthetic_recordings(task)
    else:
        refs, classes = _file_recordings(task, cfg), None
    if task.target == "class":
        seen = sorted({str(lab) for r in refs for lab in r.labels()})
        classes = [c for c in classes if c in seen] if classes else seen
        if len(classes) < 2:
            raise DatasetError(f"task {task.name!r}: a class target needs at least two classes, found {classes}")
    else:
        classes = None
        for r in refs:
            for lab in r.labels():
                try:
                    float(lab)
                except (TypeError, ValueError):
                    raise DatasetError(f"task {task.name!r}: regression label {lab!r} of {r.id} is not a number") from None
    return refs, classes


# ----------------------------------------------------------------------------- preparation
def _fingerprint(task: TaskConfig, cfg: PretrainConfig) -> str:
    d = asdict(task)
    for k in ("weight", "representations", "representation_mode", "render_params"):
        d.pop(k, None)  # training-only settings do not change the stored windows
    d["recordings_per_shard"] = cfg.shards.recordings_per_shard
    d["format"] = SHARD_FORMAT
    from ..signals.conditioning import CONDITIONING

    d["conditioning"] = CONDITIONING  # windows conditioned in another order are other settings
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _labelled_windows(task: TaskConfig, ref: RecordingRef, x: np.ndarray, fs: float, rate: float, n_samples: int) -> list[tuple[np.ndarray, Any]]:
    """``[(windows float32 (n, n_samples), label)]``: the whole recording, or each labelled segment.

    The recording is conditioned whole by :func:`tiny_biomoe.signals.conditioning.condition` (gaps ->
    filter if ``task.preprocess`` -> resample to ``rate`` -> windows), the path every other caller uses;
    segments only choose where the windows are cut.
    """
    from ..signals.conditioning import condition

    w = task.window
    spans = None if ref.segments is None else [(a, b) for a, b, _ in ref.segments]
    try:
        c = condition(x, sampling_rate=fs, modality=task.modality, window_s=n_samples / rate, stride_s=w.stride_s,
                      resample=rate,
                      preprocess=task.preprocess, max_windows=w.max_windows_per_recording, spans=spans, quality=False)
    except SignalError as exc:
        if spans is not None and "no span" in str(exc):
            raise DatasetError(f"{ref.id}: no labelled segment is as long as one window ({task.window.length_s} s)") from None
        raise
    data = np.asarray(c.data, dtype=np.float32)
    if data.shape[1] != n_samples:  # cannot happen: the window is n_samples / rate
        raise DatasetError(f"{ref.id}: windows of {data.shape[1]} samples, the task's are {n_samples}")
    if ref.segments is None:
        return [(data, ref.label)]
    return [(data[c.span_index == j], ref.segments[j][2]) for j in range(len(ref.segments)) if (c.span_index == j).any()]


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, arr)


def _grow(bar: Any, n: int) -> None:
    bar.total = (bar.total or 0) + n
    bar.refresh()


def _shard_done(folder: Path, k: int) -> bool:
    meta = folder / f"shard-{k:05d}.json"
    return meta.is_file() and all((folder / f"shard-{k:05d}.{s}.npy").is_file() for s in "xyr")


def prepare_task(
    task: TaskConfig, cfg: PretrainConfig, *, force: bool = False, progress: Any = None, workers: int = 1
) -> Path:
    """Write (or complete) the shards of one task and its ``index.json``; return the task folder.

    Finished shards are skipped unless ``force``; a folder built with different settings is a
    :class:`DatasetError` (use ``force`` or another ``shards.dir``).
    """
    folder = cfg.resolve(cfg.shards.dir) / task.name
    folder.mkdir(parents=True, exist_ok=True)
    fp = _fingerprint(task, cfg)
    meta_path = folder / "task.json"
    if meta_path.is_file() and not force:
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        _check_shard_conditioning(old, folder)
        if old.get("fingerprint") != fp:
            raise DatasetError(
                f"shards in {str(folder)!r} were built with other settings for task {task.name!r}; "
                "rerun with --force to rebuild them, or set another shards.dir"
            )
        if (folder / "index.json").is_file():
            if progress is not None:
                _grow(progress, len(old["shards"]))
                progress.update(len(old["shards"]))
            return folder
    if force:
        for p in folder.glob("shard-*"):
            p.unlink()
        for name in ("index.json", "task.json"):
            (folder / name).unlink(missing_ok=True)
    refs, classes = list_recordings(task, cfg)
    r_per = cfg.shards.recordings_per_shard
    n_shards = (len(refs) + r_per - 1) // r_per
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    else:
        rate = task.window.resample_hz
        if rate is None:
            _, rate = refs[0].load()
        n_samples = int(round(task.window.length_s * rate))
        rng = np.random.default_rng(7)  # fixed: the split must not change with the training seed
        n_val = int(round(task.val_fraction * len(refs)))
        val = sorted(int(i) for i in rng.permutation(len(refs))[:n_val])
        meta = {
            "format": SHARD_FORMAT,
            "task": task.name,
            "fingerprint": fp,
            "modality": task.modality,
            "target": task.target,
            "classes": classes,
            "sampling_rate": float(rate),
            "window_samples": n_samples,
            "conditioning": _conditioning_record(),
            "recordings": [r.id for r in refs],
            "val_recordings": val,
            "shards": [f"shard-{k:05d}" for k in range(n_shards)],
            "task_config": asdict(task),
        }
        atomic_write_text(meta_path, json.dumps(meta, indent=1))
    rate, n_samples = float(meta["sampling_rate"]), int(meta["window_samples"])
    if progress is not None:
        _grow(progress, n_shards)
    if meta["recordings"] != [r.id for r in refs]:
        raise DatasetError(f"the recordings of task {task.name!r} changed since its shards were started; rerun with --force")
    pending = [k for k in range(n_shards) if not _shard_done(folder, k)]
    if progress is not None:
        progress.update(n_shards - len(pending))
    if workers > 1 and len(pending) > 1 and task.source.format != "synthetic":
        _build_parallel(task, cfg, folder, pending, workers, progress)
    else:
        for k in pending:
            skipped = _build_shard(task, refs, classes, k, r_per, rate, n_samples, folder)
            _warn_skipped(task, k, skipped)
            if progress is not None:
                progress.update(1)
    counts = [json.loads((folder / f"{s}.json").read_text())["n"] for s in meta["shards"]]
    if sum(counts) == 0:
        raise DatasetError(f"task {task.name!r}: no windows were produced; are the recordings shorter than {task.window.length_s} s?")
    index = {k: meta[k] for k in meta if k != "recordings"}
    index.update({"counts": counts, "n_windows": int(sum(counts)), "n_recordings": len(refs)})
    atomic_write_text(folder / "index.json", json.dumps(index, indent=1))
    return folder


def _build_shard(task: TaskConfig, refs: list[RecordingRef], classes: list[str] | None, k: int, r_per: int,
                 rate: float, n_samples: int, folder: Path) -> list[dict[str, str]]:
    """Write shard ``k`` (recordings ``k*r_per ..``); return the recordings that were skipped."""
    xs, ys, rs, skipped = [], [], [], []
    for ri in range(k * r_per, min((k + 1) * r_per, len(refs))):
        ref = refs[ri]
        try:
            x, fs = ref.load()
            parts = _labelled_windows(task, ref, x, fs, rate, n_samples)
        except (SignalError, DatasetError) as exc:
            skipped.append({"recording": ref.id, "reason": str(exc)})
            continue
        for w, label in parts:
            xs.append(w)
            y = classes.index(str(label)) if classes is not None else float(label)
            ys.append(np.full(len(w), y, dtype=np.int64 if classes is not None else np.float32))
            rs.append(np.full(len(w), ri, dtype=np.int32))
    x = np.concatenate(xs) if xs else np.zeros((0, n_samples), np.float32)
    y = np.concatenate(ys) if ys else np.zeros(0, np.int64 if classes is not None else np.float32)
    r = np.concatenate(rs) if rs else np.zeros(0, np.int32)
    name = f"shard-{k:05d}"
    _save_npy(folder / f"{name}.x.npy", np.ascontiguousarray(x, dtype=np.float32))
    _save_npy(folder / f"{name}.y.npy", y)
    _save_npy(folder / f"{name}.r.npy", r)
    atomic_write_text(folder / f"{name}.json", json.dumps({"n": int(len(x)), "skipped": skipped}))  # last: marks it done
    return skipped


def _warn_skipped(task: TaskConfig, k: int, skipped: list[dict[str, str]]) -> None:
    if skipped:
        warnings.warn(f"task {task.name!r} shard-{k:05d}: {len(skipped)} recordings skipped, e.g. {skipped[0]}", stacklevel=3)


def _shard_worker(cfg_dict: dict[str, Any], base_dir: str, task_index: int, k: int) -> list[dict[str, str]]:
    """Build one shard in a worker process (recordings are listed again there: closures do not pickle)."""
    from .config import config_from_dict

    cfg = config_from_dict(cfg_dict, base_dir=base_dir)
    task = cfg.tasks[task_index]
    folder = cfg.resolve(cfg.shards.dir) / task.name
    meta = json.loads((folder / "task.json").read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refs, classes = list_recordings(task, cfg)
    return _build_shard(task, refs, classes, k, cfg.shards.recordings_per_shard,
                        float(meta["sampling_rate"]), int(meta["window_samples"]), folder)


def _build_parallel(task: TaskConfig, cfg: PretrainConfig, folder: Path, pending: list[int], workers: int, progress: Any) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from .config import config_to_dict

    ti = cfg.tasks.index(task)
    # spawn, not fork: the parent may hold torch/BLAS threads that a fork would copy in a broken state
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(_shard_worker, config_to_dict(cfg), cfg.base_dir, ti, k): k for k in pending}
        for fut in as_completed(futures):
            _warn_skipped(task, futures[fut], fut.result())
            if progress is not None:
                progress.update(1)


def prepare_shards(
    cfg: PretrainConfig, *, tasks: Sequence[str] | None = None, force: bool = False, progress: bool = True,
    workers: int = 1,
) -> dict[str, Path]:
    """Build the shards of every task in ``cfg`` (or those named in ``tasks``); resumable.

    ``workers > 1`` builds the shards of file-based tasks in that many processes. Returns task
    name -> task folder. Shows one tqdm bar over all shards when ``progress``.

    Args:
        cfg: the pretraining configuration.
        tasks: names of the tasks to build; ``None``: all; an unknown name is a DatasetError.
        force: delete each chosen task's shards and start again (otherwise finished shards are kept, and a
            folder built with other settings is a DatasetError).
        progress: show the tqdm bar.
        workers: processes building the shards of file-based tasks (1: in this process).
    """
    from tqdm.auto import tqdm

    chosen = [t for t in cfg.tasks if tasks is None or t.name in tasks]
    if tasks is not None:
        unknown = sorted(set(tasks) - {t.name for t in cfg.tasks})
        if unknown:
            raise DatasetError(f"unknown task(s) {unknown}; the config has {[t.name for t in cfg.tasks]}")
    out: dict[str, Path] = {}
    with tqdm(total=None, desc="shards", unit="shard", disable=not progress) as bar:
        for t in chosen:
            bar.set_postfix_str(t.name)
            out[t.name] = prepare_task(t, cfg, force=force, progress=bar, workers=workers)
    return out


def _conditioning_record() -> dict[str, Any]:
    from ..signals.conditioning import CONDITIONING

    return dict(CONDITIONING)


def _check_shard_conditioning(meta: dict[str, Any], folder: Path) -> None:
    """DatasetError when the shards' windows were conditioned otherwise than today (e.g. the old
    resample -> filter order, recorded as no ``conditioning``): never mixed with today's windows."""
    from ..signals.conditioning import check_conditioning

    why = check_conditioning(meta.get("conditioning"), f"the shards in {str(folder)!r}")
    if why:
        raise DatasetError(f"{why}; rebuild them: biomoe prepare-shards --config CONFIG --force")


# ----------------------------------------------------------------------------- reading
class ShardedTask:
    """Memory-mapped windows of one task, with by-recording train/validation index arrays."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        p = self.folder / "index.json"
        if not p.is_file():
            raise DatasetError(f"{str(p)!r} not found; build the shards first: biomoe prepare-shards --config CONFIG")
        self.index: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        if self.index.get("format") != SHARD_FORMAT:
            raise DatasetError(f"{str(p)!r} has shard format {self.index.get('format')}, expected {SHARD_FORMAT}; rebuild with --force")
        _check_shard_conditioning(self.index, self.folder)
        names = self.index["shards"]
        self._x = [np.load(self.folder / f"{s}.x.npy", mmap_mode="r") for s in names]
        self._y = [np.load(self.folder / f"{s}.y.npy") for s in names]
        rec = [np.load(self.folder / f"{s}.r.npy") for s in names]
        for s, x, y, n in zip(names, self._x, self._y, self.index["counts"]):
            if len(x) != n or len(y) != n:
                raise DatasetError(f"shard {s} of {self.folder} holds {len(x)} windows, index says {n}; rebuild with --force")
        self._offsets = np.concatenate([[0], np.cumsum([len(x) for x in self._x])]).astype(np.int64)
        self.labels = np.concatenate(self._y) if self._y else np.zeros(0)
        recs = np.concatenate(rec) if rec else np.zeros(0, np.int32)
        is_val = np.isin(recs, np.asarray(self.index["val_recordings"], dtype=np.int32))
        self.train_indices = np.flatnonzero(~is_val).astype(np.int64)
        self.val_indices = np.flatnonzero(is_val).astype(np.int64)
        if len(self.train_indices) == 0:
            raise DatasetError(f"task {self.name!r} has no training windows (val_fraction too large?)")

    name = property(lambda self: self.index["task"])
    sampling_rate = property(lambda self: float(self.index["sampling_rate"]))
    modality = property(lambda self: self.index["modality"])
    target = property(lambda self: self.index["target"])
    classes = property(lambda self: self.index["classes"])

    @property
    def num_outputs(self) -> int:
        """Head width: number of classes, or 1 for regression."""
        return len(self.classes) if self.target == "class" else 1

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows ``(b, L)`` float32 and targets ``(b,)`` for global window indices."""
        indices = np.asarray(indices, dtype=np.int64)
        shard = np.searchsorted(self._offsets, indices, side="right") - 1
        local = indices - self._offsets[shard]
        x = np.empty((len(indices), int(self.index["window_samples"])), dtype=np.float32)
        for s in np.unique(shard):  # one fancy-indexed read per shard touched
            sel = np.flatnonzero(shard == s)
            x[sel] = self._x[int(s)][local[sel]]
        return x, self.labels[indices]


def open_task(cfg: PretrainConfig, task: TaskConfig) -> ShardedTask:
    """Open the shards of ``task``; a DatasetError says to run prepare-shards when they are missing or stale."""
    folder = cfg.resolve(cfg.shards.dir) / task.name
    st = ShardedTask(folder)
    if st.index.get("fingerprint") != _fingerprint(task, cfg):
        raise DatasetError(
            f"the shards of task {task.name!r} in {str(folder)!r} were built with other settings; "
            "rebuild them: biomoe prepare-shards --config CONFIG --force"
        )
    return st
