"""Internal helpers shared by the folder adapters: find trial files, read tables, infer rates, map labels.

Tables and rates go through the package's one reader, :mod:`tiny_biomoe.signals.tables`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError
from ..signals import tables
from .dataset import DatasetWarning

TIME_NAMES = ("time", "timestamp", "times", "t", "time_s", "seconds")
# Time-column units we try, as seconds per unit.
_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def find_files(root: Path, pattern: re.Pattern, suffixes: Sequence[str] = (".csv", ".tsv", ".txt")) -> tuple[list[tuple[Path, dict]], list[Path]]:
    """Files under ``root`` (recursive, sorted) whose *name* matches ``pattern``; also the ones that did not."""
    matched: list[tuple[Path, dict]] = []
    unmatched: list[Path] = []
    for p in sorted(root.rglob("*")):
        suf = p.suffix.lower()
        if suf in (".gz", ".bz2", ".xz") and len(p.suffixes) > 1:
            suf = p.suffixes[-2].lower()  # compressed text: rec.csv.gz
        if not p.is_file() or suf not in suffixes or p.name.startswith("."):
            continue
        m = pattern.search(p.name)
        if m:
            matched.append((p, {k: v for k, v in m.groupdict().items() if v is not None}))
        else:
            unmatched.append(p)
    return matched, unmatched


def warn_unmatched(unmatched: list[Path], pattern: re.Pattern, root: Path, what: str) -> None:
    if unmatched:
        ex = ", ".join(str(p.relative_to(root)) for p in unmatched[:3])
        warnings.warn(
            f"{what}: {len(unmatched)} files under {root} do not match the file pattern {pattern.pattern!r} and are "
            f"ignored (e.g. {ex}); pass file_pattern= to include them",
            DatasetWarning,
            stacklevel=3,
        )


def read_table(path: Path, *, header: "str | int | None" = "auto") -> pd.DataFrame:
    """Read a text table (CSV/TSV/``;``/whitespace, comment lines, ``.gz``/``.bz2``, with or without a header row)
    through the package's one table reader (:func:`tiny_biomoe.signals.tables.read_frame`).

    ``df.attrs`` keeps what the layout showed (``header_rate``: a rate stated in the comment lines, ``has_header``).
    """
    df, meta = tables.read_frame(path, header=header, error=DatasetError)
    df.attrs.update(meta)
    return df


def find_column(df: pd.DataFrame, names: str | Sequence[str]) -> str | None:
    """The first column of ``df`` equal (case-insensitive) to one of ``names``; ``'*'``: the first non-time column."""
    if names == "*":
        return next((c for c in df.columns if not tables.is_time_name(c)[0]), None)
    if isinstance(names, str):
        names = [names]
    lower = {str(c).lower(): c for c in df.columns}
    for n in names:
        if str(n).lower() in lower:
            return lower[str(n).lower()]
    return None


def _warn(notes: list[str]) -> None:
    for n in notes:
        warnings.warn(n, DatasetWarning, stacklevel=4)


def rate_from_time(t: np.ndarray, nominal: float | None, time_unit: str = "auto") -> float:
    """Sampling rate from a numeric time column (the package's one rule, :mod:`tiny_biomoe.signals.tables`):
    ``time_unit='auto'`` picks s/ms/us/ns, the one giving a rate closest to ``nominal`` (or a plausible one)."""
    if time_unit != "auto" and time_unit not in _UNITS:
        raise DatasetError(f"time_unit must be one of {sorted(_UNITS)} or 'auto', not {time_unit!r}")
    notes: list[str] = []
    sec, _, _ = tables.time_to_seconds(np.asarray(t, dtype=np.float64), unit=time_unit, nominal=nominal,
                                       error=DatasetError, notes=notes)
    fs = tables.rate_from_time(sec, error=DatasetError, notes=notes)
    _warn(notes)
    return fs


def resolve_rate(df: pd.DataFrame, time_column: str | None, nominal: float | None, time_unit: str, path: Path) -> tuple[float, str | None]:
    """(rate, used time column) by the package's one precedence: a rate stated in the file's header, else the
    time column's, else ``nominal`` (a disagreeing lower source is a DatasetWarning)."""
    col = None
    if time_column == "auto":
        col = tables.find_time_column(df.columns)
    elif time_column:
        col = find_column(df, time_column)
        if col is None:
            raise DatasetError(f"{path}: time column {time_column!r} not found (columns: {list(df.columns)}); pass time_column=None")
    notes: list[str] = []
    t_rate = None
    if col is not None:
        if time_unit != "auto" and time_unit not in (*_UNITS, "clock", "datetime"):
            raise DatasetError(f"time_unit must be one of {sorted(_UNITS)} or 'auto', not {time_unit!r}")
        sec, _, _ = tables.time_to_seconds(df[col], unit=time_unit, nominal=nominal or df.attrs.get("header_rate"),
                                           name=col, source=str(path), error=DatasetError, notes=notes)
        t_rate = tables.rate_from_time(sec, source=f"{path}: time column {col!r}", error=DatasetError, notes=notes)
    fs, _ = tables.choose_rate(header=df.attrs.get("header_rate"), time=t_rate, given=nominal or None,
                               source=str(path), notes=notes, error=DatasetError)
    _warn(notes)
    return float(round(fs, 6)), col


def map_label(raw: str | None, label_map: Mapping[str, str], where: str) -> str | None:
    """Canonical class of a raw label via ``label_map`` (case-insensitive keys); unknown -> DatasetError."""
    if raw is None or raw == "":
        return None
    lower = {k.lower(): v for k, v in label_map.items()}
    if raw.lower() in lower:
        return lower[raw.lower()]
    raise DatasetError(
        f"{where}: unknown label {raw!r}; known raw labels: {sorted(label_map)}. Pass label_map={{'{raw}': '<class>'}} to map it"
    )


def signal_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    x = np.array(pd.to_numeric(df[col], errors="coerce"), dtype=np.float64)  # writable (pandas copy-on-write)
    bad = ~np.isfinite(x)
    if bad.all():
        raise DatasetError(f"{path}: column {col!r} has no numeric values")
    if bad.any():
        # Short gaps (NaN, empty cells) are filled by linear interpolation; the count is reported.
        idx = np.arange(x.size)
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
        warnings.warn(f"{path}: {int(bad.sum())} non-numeric values in {col!r} were interpolated", DatasetWarning, stacklevel=3)
    return x
