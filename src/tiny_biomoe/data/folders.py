"""The generic reader of folders of per-trial files (one CSV per trial, one column per modality).

The dataset adapters build on it: :mod:`tiny_biomoe.data.biovid` (BioVid part A) and the per-trial
fallback of :mod:`tiny_biomoe.data.ai4pain`. ``load_ai4pain``/``load_biovid`` and their constants
are still importable from here (forwarded to their modules).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

from ..errors import DatasetError
from . import _files
from .dataset import DatasetWarning, Trial, resolve_modalities

__all__ = ["load_trial_folder", "select_columns"]

_FORWARDED = {"AI4PAIN_CLASSES": "ai4pain", "AI4PAIN_LABELS": "ai4pain", "AI4PAIN_COLUMNS": "ai4pain",
              "load_ai4pain": "ai4pain", "BIOVID_CLASSES": "biovid", "BIOVID_COLUMNS": "biovid", "load_biovid": "biovid"}


def __getattr__(name: str):
    """The adapters moved to one module per dataset; the old names still resolve here."""
    if name in _FORWARDED:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_FORWARDED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

def select_columns(name: str, columns: Mapping[str, str | Sequence[str]] | None, default: Mapping[str, Sequence[str]],
                    modalities: Sequence[str] | None) -> dict[str, str | Sequence[str]]:
    """``columns`` (or ``default``) restricted to ``modalities``; unknown modalities are a DatasetError."""
    cols = dict(columns) if columns is not None else dict(default)
    if modalities is None:
        return cols
    modalities = resolve_modalities(list(modalities), list(cols))
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
