"""BioVid Heat Pain Database, part A, read from the database's own folder.

Layout (as distributed)::

    PartA/biosignals_filtered/<subject>/<subject>-<class>-<nr>_bio.csv

e.g. ``071309_w_21/071309_w_21-PA4-034_bio.csv``: tab-separated, a header row with ``time``,
``gsr``, ``ecg``, ``emg_trapezius`` (some releases also ``emg_corrugator``, ``emg_zygomaticus``),
512 Hz, one 5.5 s trial per file. Classes ``BL1`` (baseline) and ``PA1``..``PA4``.

Modalities: ``EDA`` (``gsr``), ``ECG``, ``EMG`` (``emg_trapezius``, as always) and, asked for by name,
``EMG_corrugator`` and ``EMG_zygomaticus`` (the facial channels). All three EMG channels take the
``emg`` conditioning defaults (:func:`tiny_biomoe.signals.get_modality` maps ``emg_trapezius``,
``emg_corrugator``, ``emg_zygomaticus`` to ``emg``). A facial channel asked for in a release without
it is a DatasetError naming the column.

What is detected rather than assumed: the separator, the unit of the ``time`` column (s, ms, us
or ns; the distributed files use microseconds), and from it the sampling rate, all by the package's
one table reader (:mod:`tiny_biomoe.signals.tables`). What is assumed
(parameters): the file-name pattern, the column names, the nominal rate (512 Hz, used to pick the
time unit and when a file has no time column) and the window (5.5 s: the trial, never padded).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..signals import tables
from . import _files
from .dataset import DatasetWarning, PainDataset, Trial
from .folders import select_columns

__all__ = ["BIOVID_CLASSES", "BIOVID_COLUMNS", "BIOVID_EXTRA_COLUMNS", "BIOVID_WINDOW_S", "find_biovid_root",
           "detect_time_unit", "load_biovid"]

BIOVID_CLASSES = ["BL1", "PA1", "PA2", "PA3", "PA4"]
#: modality -> accepted column names (case-insensitive), read by default
BIOVID_COLUMNS = {"EDA": ["gsr", "eda"], "ECG": ["ecg"], "EMG": ["emg_trapezius", "emg"]}
#: facial EMG of some releases: read when named in ``modalities``; conditioned with the ``emg`` defaults
#: (``get_modality("EMG_corrugator").name == "emg"``)
BIOVID_EXTRA_COLUMNS = {"EMG_corrugator": ["emg_corrugator"], "EMG_zygomaticus": ["emg_zygomaticus"]}
#: the length of a BioVid part A trial
BIOVID_WINDOW_S = 5.5
_PATTERN = r"^(?P<subject>.+?)-(?P<label>BL1|PA1|PA2|PA3|PA4)-(?P<trial>\d+)(?:_bio)?\.(?:csv|tsv|txt)$"


def find_biovid_root(root: str | Path) -> Path:
    """``root/biosignals_filtered`` (or one level deeper, e.g. ``PartA/biosignals_filtered``) if it
    exists, else ``root`` itself. DatasetError if ``root`` is not a folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"BioVid: folder {root} does not exist; point --root at the database folder or its "
                           "biosignals_filtered/ folder")
    for cand in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        d = next((p for p in cand.iterdir() if p.is_dir() and p.name.lower() == "biosignals_filtered"), None)
        if d is not None:
            return d
    return root


def detect_time_unit(t: np.ndarray, nominal: float | None = 512.0) -> tuple[str, float]:
    """``(unit, rate_hz)`` of a numeric time column, by the package's one rule
    (:func:`tiny_biomoe.signals.tables.time_to_seconds` and ``rate_from_time``): the unit (s/ms/us/ns)
    whose rate is closest to ``nominal`` in log ratio (or the plausible one), the rate from the span."""
    sec, unit, _ = tables.time_to_seconds(np.asarray(t, dtype=np.float64), nominal=nominal, error=DatasetError)
    return unit, tables.rate_from_time(sec, error=DatasetError)


def _signal(df: pd.DataFrame, col: str, path: Path, gaps: Counter) -> np.ndarray:
    """A numeric signal column (a writable copy); gaps are interpolated and counted per file."""
    x = np.array(pd.to_numeric(df[col], errors="coerce"), dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.all():
        raise DatasetError(f"BioVid: {path}: column {col!r} holds no numbers")
    if bad.any():
        idx = np.arange(x.size)
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
        gaps[path.name] += int(bad.sum())
    return x


def load_biovid(
    root: str | Path,
    *,
    classes: Sequence[str] = tuple(BIOVID_CLASSES),
    modalities: Sequence[str] | None = None,
    file_pattern: str = _PATTERN,
    columns: Mapping[str, str | Sequence[str]] | None = None,
    sampling_rate: float | None = 512.0,
    time_column: str | None = "time",
    time_unit: str = "auto",
    label_map: Mapping[str, str] | None = None,
    window_s: float = BIOVID_WINDOW_S,
) -> PainDataset:
    """Load BioVid part A biosignals from the database folder (or its ``biosignals_filtered/``).

    Args:
        root: the database folder (its ``biosignals_filtered/`` is found there or one level deeper), or that
            folder itself; not a folder: a DatasetError.
        classes: the task: all five (default) or e.g. ``("BL1", "PA4")``; the other trials are left
            out and counted in a warning.
        modalities: ``EDA`` (gsr), ``ECG``, ``EMG`` (trapezius), and where present
            ``EMG_corrugator``, ``EMG_zygomaticus`` (facial EMG, ``emg`` defaults); default the first
            three. A modality asked for here whose column no file has is a DatasetError.
        file_pattern: regular expression with groups ``subject``, ``label``, ``trial``.
        columns: modality -> column name(s), replacing :data:`BIOVID_COLUMNS`.
        sampling_rate: nominal Hz: picks the time unit, and is the rate when there is no time column.
        time_column: name of the time column (``None``: none; use ``sampling_rate``).
        time_unit: ``'auto'`` (detected) or one of ``s, ms, us, ns``.
        label_map: label in the file name -> class (keys in any case), replacing the identity map of
            :data:`BIOVID_CLASSES`; ``classes`` must be among its values, an unmapped label is a DatasetError.
        window_s: the window the trials call for (5.5 s, the trial); the dataset's ``window_s``
            is this, or the shortest trial if shorter.

    Standard protocol: leave-one-subject-out.
    """
    base = find_biovid_root(root)
    allcols = {**BIOVID_COLUMNS, **BIOVID_EXTRA_COLUMNS, **(dict(columns) if columns else {})}
    default = dict(columns) if columns is not None else dict(BIOVID_COLUMNS)
    cols = select_columns("BioVid", allcols, allcols, modalities) if modalities is not None else default
    lmap = dict(label_map) if label_map is not None else {c: c for c in BIOVID_CLASSES}
    known = list(dict.fromkeys(lmap.values()))
    bad = [c for c in classes if c not in known]
    if bad:
        raise DatasetError(f"BioVid: classes {bad} unknown; choose from {known}")
    if time_unit != "auto" and time_unit not in tables.TIME_UNITS:
        raise DatasetError(f"BioVid: time_unit must be 'auto' or one of {list(tables.TIME_UNITS)}, not {time_unit!r}")
    pat = re.compile(file_pattern, re.IGNORECASE)
    matched, unmatched = _files.find_files(base, pat)
    _files.warn_unmatched(unmatched, pat, base, "BioVid")
    if not matched:
        raise DatasetError(f"BioVid: no files under {base} match {file_pattern!r} (<subject>-<class>-<nr>_bio.csv)"
                           + (f"; found e.g. {unmatched[0].name}" if unmatched else "") + "; pass file_pattern=")
    trials: list[Trial] = []
    left_out: Counter = Counter()
    missing: Counter = Counter()
    units: Counter = Counter()
    extra_seen: set[str] = set()
    rate_notes: list[str] = []
    empty: list[str] = []
    gaps: Counter = Counter()
    for path, g in matched:
        if "subject" not in g or "trial" not in g or "label" not in g:
            raise DatasetError(f"BioVid: file_pattern must have named groups subject, label and trial (file {path.name})")
        label = _files.map_label(g["label"], lmap, f"BioVid file {path}")
        if label not in classes:
            left_out[label] += 1
            continue
        df = _files.read_table(path)
        tcol = _files.find_column(df, time_column) if time_column else None
        if time_column and tcol is None and time_column != "time":
            raise DatasetError(f"BioVid: {path}: time column {time_column!r} not found (columns {list(df.columns)})")
        if tcol is not None:
            notes: list[str] = []
            sec, unit, _ = tables.time_to_seconds(df[tcol], unit=time_unit, nominal=sampling_rate, name=tcol,
                                                  source=f"BioVid: {path}", error=DatasetError, notes=notes)
            t_rate = tables.rate_from_time(sec, source=f"BioVid: {path}: time column {tcol!r}", error=DatasetError,
                                           notes=notes)
            units[unit] += 1
            if sampling_rate and abs(t_rate / sampling_rate - 1) <= 1e-3:
                t_rate = float(sampling_rate)  # timestamps rounded to whole units: the nominal rate, not its jitter
            fs, _ = tables.choose_rate(header=df.attrs.get("header_rate"), time=t_rate, given=sampling_rate,
                                       source=f"BioVid: {path}", notes=notes, error=DatasetError)
            rate_notes += notes
        elif sampling_rate:
            fs = float(sampling_rate)
        else:
            raise DatasetError(f"BioVid: {path}: no time column and no sampling_rate; pass sampling_rate=")
        extra_seen |= {c.lower() for c in df.columns} & {n for v in BIOVID_EXTRA_COLUMNS.values() for n in v}
        sig = {}
        for mod, names in cols.items():
            col = _files.find_column(df, names)
            if col is None or col == tcol:
                missing[mod] += 1
                continue
            sig[mod] = _signal(df, col, path, gaps)
        if not sig:
            empty.append(f"{path.name} (columns {list(df.columns)})")
            continue
        trial = f"{label}-{g['trial']}"  # trial numbers restart per class
        trials.append(Trial(str(g["subject"]), trial, label, sig, {m: float(fs) for m in sig}, None, str(path),
                            {"file": path.name}))
    asked = list(modalities) if modalities is not None else list(columns or [])
    n_read = len(trials) + len(empty)
    absent = [m for m in asked if m in cols and n_read and missing[m] == n_read]
    if absent:
        names = {m: cols[m] if isinstance(cols[m], str) else list(cols[m]) for m in absent}
        seen = [str(c) for c in _files.read_table(matched[0][0]).columns]
        raise DatasetError(f"BioVid: no file under {base} has the column(s) {names} asked for ({', '.join(absent)}); "
                           f"this release lacks them (e.g. {matched[0][0].name} has {seen}). Leave "
                           f"{', '.join(absent)} out of modalities= (CLI --modalities), or pass columns= if the "
                           "column is named otherwise")
    if not trials:
        raise DatasetError(f"BioVid: no trials of classes {list(classes)} with any of the columns {dict(cols)} under {base} "
                           f"(left out by class: {dict(left_out)}; without the columns: {empty[:2]}); pass columns= or classes=")
    if empty:
        warnings.warn(f"BioVid: {len(empty)} files have none of the columns {dict(cols)} and are left out (e.g. {empty[:2]})",
                      DatasetWarning, stacklevel=2)
    if missing:
        warnings.warn("BioVid: columns missing in some files: " + ", ".join(f"{m} in {n} of {len(trials) + len(empty)}" for m, n in missing.items())
                      + "; pass columns= if they are named differently", DatasetWarning, stacklevel=2)
    if left_out:
        warnings.warn(f"BioVid: left out by the class selection: {dict(left_out)} trials", DatasetWarning, stacklevel=2)
    if gaps:
        warnings.warn(f"BioVid: {sum(gaps.values())} empty or non-numeric values in {len(gaps)} files were interpolated "
                      f"(e.g. {sorted(gaps)[:2]})", DatasetWarning, stacklevel=2)
    if rate_notes:  # one warning for all files (a release has ~8700), not one per file
        warnings.warn(f"BioVid: {len(rate_notes)} notes on the sampling rates: " + "; ".join(rate_notes[:3])
                      + (" ..." if len(rate_notes) > 3 else ""), DatasetWarning, stacklevel=2)
    durs = np.array([t.duration(next(iter(t.signals))) for t in trials])
    win = float(min(window_s, np.floor(durs.min() * 100) / 100))
    if win < window_s:
        warnings.warn(f"BioVid: the shortest trial is {durs.min():.3f} s, shorter than {window_s:g} s; the window is "
                      f"{win:g} s (never padded)", DatasetWarning, stacklevel=2)
    info = {"layout": "biosignals_filtered/<subject>/<subject>-<class>-<nr>_bio.csv",
            "folder": str(base),
            "time_unit": dict(units) or "no time column",
            "sampling_rate_hz": sorted({float(r) for t in trials for r in t.sampling_rates.values()})}
    extra = sorted(extra_seen - {n.lower() for v in cols.values() for n in ([v] if isinstance(v, str) else v)})
    if extra:
        info["also_in_files"] = f"{extra}: pass modalities=[..., 'EMG_corrugator', 'EMG_zygomaticus'] to read them"
    return PainDataset("biovid", trials, list(classes), ["BioVid part A: the standard protocol is leave-one-subject-out."],
                       info, win)
