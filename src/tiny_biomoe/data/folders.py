"""Dataset adapters for folder layouts: AI4PAIN 2025 and BioVid Heat Pain part A.

Neither dataset can be downloaded by this package; users bring the files. The exact layout of the
distributed files is not fully documented publicly, so every layout detail (file-name pattern,
column names, sampling rate, time column, label names) is a parameter with a documented default.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import DatasetError
from . import _files
from .dataset import DatasetWarning, PainDataset, Trial

__all__ = [
    "AI4PAIN_CLASSES",
    "AI4PAIN_LABELS",
    "AI4PAIN_COLUMNS",
    "BIOVID_CLASSES",
    "BIOVID_COLUMNS",
    "load_ai4pain",
    "load_biovid",
    "load_trial_folder",
]

AI4PAIN_CLASSES = ["No_Pain", "Low_Pain", "High_Pain"]
#: raw label spellings accepted by default (case-insensitive) -> class
AI4PAIN_LABELS = {
    "No_Pain": "No_Pain", "NoPain": "No_Pain", "NP": "No_Pain", "Baseline": "No_Pain", "No": "No_Pain",
    "Low_Pain": "Low_Pain", "LowPain": "Low_Pain", "LP": "Low_Pain", "Low": "Low_Pain",
    "High_Pain": "High_Pain", "HighPain": "High_Pain", "HP": "High_Pain", "High": "High_Pain",
}
#: modality -> accepted column (or per-modality folder) names, case-insensitive
AI4PAIN_COLUMNS = {"EDA": ["EDA", "Eda", "GSR"], "BVP": ["BVP", "Bvp", "PPG"], "RESP": ["RESP", "Resp", "Respiration"], "SpO2": ["SpO2", "Spo2", "SPO2"]}
_AI4PAIN_PATTERN = (
    r"^(?P<subject>[^_\-]+)[_\-](?:(?P<label>No[_\-]?Pain|Low[_\-]?Pain|High[_\-]?Pain|NP|LP|HP|Baseline|Low|High)[_\-])?"
    r"(?P<trial>[^.]+)\.(?:csv|tsv|txt)$"
)

BIOVID_CLASSES = ["BL1", "PA1", "PA2", "PA3", "PA4"]
BIOVID_COLUMNS = {"EDA": ["gsr", "eda"], "ECG": ["ecg"], "EMG": ["emg_trapezius", "emg"]}
_BIOVID_PATTERN = r"^(?P<subject>.+?)-(?P<label>BL1|PA1|PA2|PA3|PA4)-(?P<trial>\d+)(?:_bio)?\.(?:csv|tsv|txt)$"


def _select_columns(name: str, columns: Mapping[str, str | Sequence[str]] | None, default: Mapping[str, Sequence[str]],
                    modalities: Sequence[str] | None) -> dict[str, str | Sequence[str]]:
    """``columns`` (or ``default``) restricted to ``modalities``; unknown modalities are a DatasetError."""
    cols = dict(columns) if columns is not None else dict(default)
    if modalities is None:
        return cols
    unknown = [m for m in modalities if m not in cols]
    if unknown:
        raise DatasetError(f"{name}: unknown modalities {unknown}; known: {list(cols)} (pass columns= to add)")
    return {m: cols[m] for m in modalities}


def _norm_label(raw: str | None) -> str | None:
    return None if raw is None else raw.replace("-", "_")


def load_trial_folder(
    root: str | Path,
    *,
    name: str,
    file_pattern: str,
    columns: Mapping[str, str | Sequence[str]],
    classes: Sequence[str],
    label_map: Mapping[str, str],
    sampling_rate: float | None,
    time_column: str | None = "auto",
    time_unit: str = "auto",
    partition: str | None = None,
    allow_unlabelled: bool = False,
    exclude_labels: Sequence[str] = (),
) -> list[Trial]:
    """Read every trial file under ``root`` whose name matches ``file_pattern`` (one CSV per trial,
    one column per modality). The pattern's named groups ``subject``, ``label`` (optional) and
    ``trial`` give the ids. Labels in ``exclude_labels`` are skipped and counted (a task choice, e.g.
    BioVid BL1 vs PA4); any other label must map to one of ``classes`` or a DatasetError names it."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{name}: folder {root} does not exist")
    pat = re.compile(file_pattern, re.IGNORECASE)
    matched, unmatched = _files.find_files(root, pat)
    _files.warn_unmatched(unmatched, pat, root, name)
    if not matched:
        raise DatasetError(
            f"{name}: no trial files under {root} match the file pattern {file_pattern!r}"
            + (f" (found e.g. {unmatched[0].name})" if unmatched else "")
            + "; pass file_pattern= with named groups subject, label and trial"
        )
    trials: list[Trial] = []
    missing = Counter()
    excluded = Counter()
    exclude = {e.lower() for e in exclude_labels}
    for path, g in matched:
        if "subject" not in g or "trial" not in g:
            raise DatasetError(f"{name}: the file pattern must have named groups 'subject' and 'trial' (file {path.name})")
        raw = _norm_label(g.get("label"))
        if raw is not None and raw.lower() in exclude:
            excluded[raw] += 1
            continue
        label = _files.map_label(raw, label_map, f"{name} file {path}")
        if label is not None and label.lower() in exclude:
            excluded[label] += 1
            continue
        if label is None and not allow_unlabelled:
            raise DatasetError(f"{name}: file {path} carries no label; name it <subject>_<label>_<trial> or adjust file_pattern")
        if label is not None and label not in classes:
            raise DatasetError(f"{name}: label {label!r} of {path} is not among classes {list(classes)}")
        df = _files.read_table(path)
        fs, tcol = _files.resolve_rate(df, time_column, sampling_rate, time_unit, path)
        sig, rates = {}, {}
        for mod, names in columns.items():
            col = _files.find_column(df, names)
            if col is None or col == tcol:
                missing[mod] += 1
                continue
            sig[mod] = _files.signal_column(df, col, path)
            rates[mod] = fs
        if not sig:
            raise DatasetError(
                f"{name}: {path} has none of the modality columns {dict(columns)} (columns: {list(df.columns)}); pass columns="
            )
        trials.append(Trial(str(g["subject"]), str(g["trial"]), label, sig, rates, partition, str(path)))
    ids = Counter((t.subject, t.trial) for t in trials)
    if any(n > 1 for n in ids.values()):
        # Trial numbers may restart per class (e.g. BioVid "<subject>-PA1-001" and "<subject>-PA4-001"):
        # prefix the label so that ids stay unique per subject.
        for t in trials:
            t.trial = f"{t.label}-{t.trial}"
    if missing:
        warnings.warn(
            f"{name}: modality columns missing in some files under {root}: "
            + ", ".join(f"{m} in {n} of {len(matched)} files" for m, n in missing.items())
            + "; pass columns= if they are named differently",
            DatasetWarning,
            stacklevel=2,
        )
    if excluded:
        warnings.warn(f"{name}: left out by the class selection: {dict(excluded)} trials", DatasetWarning, stacklevel=2)
    _warn_empty_subject_dirs(root, trials, name)
    return trials


def _warn_empty_subject_dirs(root: Path, trials: list[Trial], name: str, skip: Sequence[str] = ()) -> None:
    """Sub-folders (taken to be one per subject) that gave no trial at all are reported, never dropped silently."""
    used = {Path(t.source).resolve() for t in trials}
    skip_l = {s.lower() for s in skip}
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() not in skip_l and not p.name.startswith(".")):
        dr = d.resolve()
        if not any(dr in u.parents for u in used):
            warnings.warn(f"{name}: folder {d} contributed no trials (no file matched, or all were excluded)", DatasetWarning, stacklevel=3)


def load_ai4pain(
    root: str | Path,
    *,
    partitions: Sequence[str] = ("train", "validation", "test"),
    layout: str = "auto",
    file_pattern: str = _AI4PAIN_PATTERN,
    columns: Mapping[str, str | Sequence[str]] | None = None,
    sampling_rate: float | None = 100.0,
    time_column: str | None = "auto",
    time_unit: str = "auto",
    label_map: Mapping[str, str] | None = None,
    unlabelled_partitions: Sequence[str] = ("test",),
    modalities: Sequence[str] | None = None,
) -> PainDataset:
    """Load AI4PAIN 2025-style data: ``root/<partition>/...`` with one sub-folder per partition.

    Two layouts (``layout='auto'`` picks per partition):

    * ``'columns'``: one CSV per trial, one column per modality (default names in ``AI4PAIN_COLUMNS``,
      case-insensitive, e.g. ``EDA, BVP, RESP, SpO2``), anywhere below the partition folder;
    * ``'per_modality'``: one folder per modality below the partition (``Eda/``, ``Bvp/``, ...), each
      with one CSV per trial holding the signal in its first non-time column.

    File names give the ids: default pattern ``<subject>_<label>_<trial>.csv`` (label one of
    ``No_Pain``/``Low_Pain``/``High_Pain`` or ``NP/LP/HP``; files in ``unlabelled_partitions`` may omit
    it, as the challenge never released test labels). Defaults that are *our assumptions* (the public
    pages do not fix them): ``sampling_rate=100`` Hz unless a time column (``time``/``timestamp``,
    unit inferred) says otherwise; trials of about 10 s. Partitions that do not exist are skipped
    with a warning; the dataset keeps each trial's partition so the ``split`` protocol can use it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"AI4PAIN: folder {root} does not exist; point --root at the folder holding train/ validation/ test/")
    cols = _select_columns("AI4PAIN", columns, AI4PAIN_COLUMNS, modalities)
    lmap = dict(label_map) if label_map is not None else dict(AI4PAIN_LABELS)
    classes = list(dict.fromkeys(lmap.values())) if label_map is not None else list(AI4PAIN_CLASSES)
    present = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    trials: list[Trial] = []
    found = []
    for part in partitions:
        pdir = present.get(part.lower())
        if pdir is None:
            warnings.warn(f"AI4PAIN: partition folder {root / part} not found; skipped", DatasetWarning, stacklevel=2)
            continue
        found.append(part)
        lay = layout
        mod_dirs = {m: _match_dir(pdir, names) for m, names in cols.items()}
        if lay == "auto":
            lay = "per_modality" if any(d is not None for d in mod_dirs.values()) else "columns"
        common = dict(file_pattern=file_pattern, classes=classes, label_map=lmap, sampling_rate=sampling_rate,
                      time_column=time_column, time_unit=time_unit, partition=part,
                      allow_unlabelled=part.lower() in {u.lower() for u in unlabelled_partitions})
        if lay == "columns":
            trials += load_trial_folder(pdir, name=f"AI4PAIN/{part}", columns=cols, **common)
        elif lay == "per_modality":
            trials += _load_per_modality(pdir, part, mod_dirs, common)
        else:
            raise DatasetError(f"AI4PAIN: layout must be 'auto', 'columns' or 'per_modality', not {layout!r}")
    if not found:
        raise DatasetError(f"AI4PAIN: none of the partition folders {list(partitions)} exist under {root}")
    notes = ["AI4PAIN challenge rule: use the predefined train/validation/test partitions (protocol 'split')."]
    return PainDataset("ai4pain", trials, classes, notes)


def _match_dir(parent: Path, names: str | Sequence[str]) -> Path | None:
    names = [names] if isinstance(names, str) else list(names)
    lower = {n.lower() for n in names}
    for d in sorted(parent.iterdir()):
        if d.is_dir() and d.name.lower() in lower:
            return d
    return None


def _load_per_modality(pdir: Path, part: str, mod_dirs: Mapping[str, Path | None], common: dict) -> list[Trial]:
    merged: dict[tuple[str, str], Trial] = {}
    absent = [m for m, d in mod_dirs.items() if d is None]
    if absent:
        warnings.warn(f"AI4PAIN/{part}: no folder for modalities {absent} under {pdir}", DatasetWarning, stacklevel=3)
    counts = defaultdict(int)
    for mod, d in mod_dirs.items():
        if d is None:
            continue
        # In a per-modality file the signal is the first column that is not the time column.
        part_trials = load_trial_folder(d, name=f"AI4PAIN/{part}/{d.name}", columns={mod: "*"}, **common)
        for t in part_trials:
            key = (t.subject, t.trial)
            counts[mod] += 1
            if key in merged:
                if merged[key].label != t.label:
                    raise DatasetError(f"AI4PAIN/{part}: trial {key} has label {merged[key].label} in one modality and {t.label} in {mod}")
                merged[key].signals.update(t.signals)
                merged[key].sampling_rates.update(t.sampling_rates)
            else:
                merged[key] = t
    incomplete = sum(1 for t in merged.values() if len(t.signals) < sum(d is not None for d in mod_dirs.values()))
    if incomplete:
        warnings.warn(f"AI4PAIN/{part}: {incomplete} trials lack at least one modality file ({dict(counts)} files per modality)", DatasetWarning, stacklevel=3)
    return list(merged.values())


def load_biovid(
    root: str | Path,
    *,
    classes: Sequence[str] = ("BL1", "PA1", "PA2", "PA3", "PA4"),
    file_pattern: str = _BIOVID_PATTERN,
    columns: Mapping[str, str | Sequence[str]] | None = None,
    sampling_rate: float | None = 512.0,
    time_column: str | None = "auto",
    time_unit: str = "auto",
    label_map: Mapping[str, str] | None = None,
    modalities: Sequence[str] | None = None,
) -> PainDataset:
    """Load BioVid Heat Pain part A biosignals: a folder of per-trial CSV files.

    Defaults (our reading of the database description; all are parameters): files anywhere below
    ``root`` named ``<subject>-<class>-<trial>[_bio].csv`` (e.g. ``071309_w_21-PA4-034_bio.csv``,
    usually in one folder per subject), tab- or comma-separated, with columns ``time``, ``gsr``,
    ``ecg``, ``emg_trapezius`` at 512 Hz (the time column, if present, sets the rate; its unit is
    inferred). ``classes`` chooses the task: all five (default) or e.g. ``("BL1", "PA4")``; trials of
    the other BioVid classes are then left out and counted in a warning. Standard protocol: LOSO.
    """
    cols = _select_columns("BioVid", columns, BIOVID_COLUMNS, modalities)
    lmap = dict(label_map) if label_map is not None else {c: c for c in BIOVID_CLASSES}
    bad = [c for c in classes if c not in set(lmap.values())]
    if bad:
        raise DatasetError(f"BioVid: classes {bad} unknown; choose from {sorted(set(lmap.values()))}")
    excl = [c for c in set(lmap.values()) if c not in classes]
    trials = load_trial_folder(root, name="BioVid", file_pattern=file_pattern, columns=cols, classes=list(classes),
                               label_map=lmap, sampling_rate=sampling_rate, time_column=time_column,
                               time_unit=time_unit, exclude_labels=excl)
    return PainDataset("biovid", trials, list(classes), ["BioVid part A: the standard protocol is leave-one-subject-out."])
