"""Generic dataset adapter driven by a manifest CSV (one row per trial and modality)."""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError, SignalError
from ..signals.processing import check_sampling_rate
from . import _files
from .dataset import DatasetWarning, PainDataset, Trial

__all__ = ["load_manifest", "MANIFEST_COLUMNS"]

#: required manifest columns; optional: ``trial``, ``partition``, ``time_column``, ``start_s``/``end_s``
#: (or ``onset``/``duration``, seconds) selecting the trial inside a longer file
MANIFEST_COLUMNS = ("subject", "label", "file", "modality", "column", "fs")


def load_manifest(path: str | Path, *, classes: Sequence[str] | None = None, name: str | None = None) -> PainDataset:
    """Load a dataset described by a manifest CSV.

    Columns: ``subject, label, file, modality, column, fs`` (required) and ``trial``, ``partition``
    (optional). Each row is one modality of one trial; rows with the same (subject, trial) form one
    trial (``trial`` defaults to the file name without extension). ``file`` is relative to the
    manifest's folder; ``.csv``/``.tsv``/``.txt`` files (also ``.gz``/``.bz2``/``.xz`` compressed) are read with ``column`` naming the signal column (empty:
    the first non-time column), ``.npy`` files hold a 1-D array or a 2-D ``(samples, channels)`` array
    with ``column`` the channel index. ``fs`` is the sampling rate in Hz. ``classes`` fixes the class
    order; rows with other labels raise a DatasetError (default: labels in first-seen order).
    Optional ``start_s``/``end_s`` (or ``onset``/``duration``) columns, in seconds, make the trial that
    part of the file (several rows may then share one file; see :mod:`tiny_biomoe.data.events`).

    Args:
        path: the manifest CSV file.
        classes: class order (see above); ``None``: labels in first-seen order.
        name: the dataset's name; ``None``: ``"manifest:<file stem>"``.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"manifest {path} not found")
    try:
        man = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read manifest {path}: {exc}") from exc
    man.columns = [c.strip().lower() for c in man.columns]
    missing = [c for c in MANIFEST_COLUMNS if c not in man.columns]
    if missing:
        raise DatasetError(f"manifest {path} lacks columns {missing}; required: {list(MANIFEST_COLUMNS)}")
    if man.empty:
        raise DatasetError(f"manifest {path} has no rows")
    labels = [lab.strip() for lab in man["label"]]
    if classes is None:
        classes = list(dict.fromkeys(lab for lab in labels if lab))
    unknown = sorted({lab for lab in labels if lab and lab not in classes})
    if unknown:
        raise DatasetError(f"manifest {path}: labels {unknown} are not among classes {list(classes)}; fix the rows or pass classes=")
    base = path.parent
    groups: dict[tuple[str, str], dict] = {}
    cache: dict[Path, pd.DataFrame] = {}
    absent_files = []
    for i, row in man.iterrows():
        subj = row["subject"].strip()
        if not subj:
            raise DatasetError(f"manifest {path} row {i + 2}: empty subject")
        f = base / row["file"].strip()
        if not f.is_file():
            absent_files.append(str(f))
            continue
        trial = row.get("trial", "").strip() if "trial" in man.columns else ""
        trial = trial or f.stem
        mod = row["modality"].strip()
        try:
            fs = float(row["fs"])
        except ValueError as exc:
            raise DatasetError(f"manifest {path} row {i + 2}: fs {row['fs']!r} is not a number (Hz)") from exc
        if not fs > 0:
            raise DatasetError(f"manifest {path} row {i + 2}: fs must be positive")
        try:
            check_sampling_rate(fs)  # finite and plausible: fs=1e9 tried to allocate 894 GiB when resampling
        except SignalError as exc:
            raise DatasetError(f"manifest {path} row {i + 2}: {exc}") from None
        x = _read_signal(f, row["column"].strip(), cache)
        x, trial = _select_interval(x, fs, row, man.columns, trial, "trial" in man.columns and row.get("trial", "").strip(), f"manifest {path} row {i + 2}")
        lab = row["label"].strip() or None
        part = (row.get("partition", "") if "partition" in man.columns else "").strip() or None
        g = groups.setdefault((subj, trial), {"label": lab, "signals": {}, "rates": {}, "partition": part, "source": str(f)})
        if g["label"] != lab:
            raise DatasetError(f"manifest {path}: trial {subj}/{trial} has two labels ({g['label']}, {lab})")
        if mod in g["signals"]:
            raise DatasetError(f"manifest {path}: trial {subj}/{trial} lists modality {mod} twice")
        g["signals"][mod] = x
        g["rates"][mod] = fs
    if absent_files:
        raise DatasetError(f"manifest {path}: {len(absent_files)} files not found, e.g. {absent_files[:3]}; paths are relative to the manifest")
    trials = [Trial(s, t, g["label"], g["signals"], g["rates"], g["partition"], g["source"]) for (s, t), g in groups.items()]
    mods = list(dict.fromkeys(m for t in trials for m in t.signals))
    lacking = defaultdict(int)
    for t in trials:
        for m in mods:
            if m not in t.signals:
                lacking[m] += 1
    if lacking:
        warnings.warn(f"manifest {path}: some trials lack modalities: {dict(lacking)} trials", DatasetWarning, stacklevel=2)
    return PainDataset(name or f"manifest:{path.stem}", trials, list(classes))


def _select_interval(x: np.ndarray, fs: float, row, columns, trial: str, named: bool, where: str) -> tuple[np.ndarray, str]:
    """Optional ``start_s``/``end_s`` (or ``onset``/``duration``) columns: the trial is that part of the file.

    Without a ``trial`` value the trial id becomes ``<file stem>@<start>s`` so several trials of one file differ.
    """
    def num(name: str) -> float | None:
        v = str(row.get(name, "")).strip() if name in columns else ""
        if v in ("", "n/a"):
            return None
        try:
            return float(v)
        except ValueError as exc:
            raise DatasetError(f"{where}: {name} {v!r} is not a number (seconds)") from exc

    start, end = num("start_s"), num("end_s")
    if start is None and end is None:
        start, dur = num("onset"), num("duration")
        end = None if start is None or dur is None else start + dur
    if start is None and end is None:
        return x, trial
    a = int(round((start or 0.0) * fs))
    b = x.size if end is None else int(round(end * fs))
    if not 0 <= a < b <= x.size:
        raise DatasetError(f"{where}: interval {start}..{end} s is outside the signal (0..{x.size / fs:g} s) or empty")
    return x[a:b], trial if named else f"{trial}@{start or 0.0:g}s"


def _read_signal(f: Path, column: str, cache: dict) -> np.ndarray:
    suf = f.suffix.lower()
    if suf == ".npy":
        try:
            a = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{f}: not a readable .npy array of numbers ({exc})") from exc
        if a.ndim == 1:
            return a.astype(np.float64)
        if a.ndim == 2:
            try:
                j = int(column) if column else 0
            except ValueError as exc:
                raise DatasetError(f"{f}: column must be a channel index for a 2-D .npy file, not {column!r}") from exc
            if not 0 <= j < a.shape[1]:
                raise DatasetError(f"{f}: channel {j} out of range (array has {a.shape[1]} columns, samples x channels)")
            return a[:, j].astype(np.float64)
        raise DatasetError(f"{f}: expected a 1-D or 2-D array, got shape {a.shape}")
    if _files.tables.is_table_path(f):  # .csv/.tsv/.txt, also .gz/.bz2/.xz compressed
        if f not in cache:
            cache[f] = _files.read_table(f)
        df = cache[f]
        col = _files.find_column(df, column or "*")
        if col is None:
            raise DatasetError(f"{f}: column {column!r} not found (columns: {list(df.columns)})")
        return _files.signal_column(df, col, f)
    raise DatasetError(f"{f}: unsupported file type {suf!r}; use .csv, .tsv, .txt (also .gz/.bz2/.xz compressed) or .npy")
