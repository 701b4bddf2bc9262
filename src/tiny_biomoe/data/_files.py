"""Internal helpers shared by the folder adapters: find trial files, read tables, infer rates, map labels."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError
from .dataset import DatasetWarning

TIME_NAMES = ("time", "timestamp", "times", "t", "time_s", "seconds")
# Time-column units we try, as seconds per unit.
_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def find_files(root: Path, pattern: re.Pattern, suffixes: Sequence[str] = (".csv", ".tsv", ".txt")) -> tuple[list[tuple[Path, dict]], list[Path]]:
    """Files under ``root`` (recursive, sorted) whose *name* matches ``pattern``; also the ones that did not."""
    matched: list[tuple[Path, dict]] = []
    unmatched: list[Path] = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in suffixes or p.name.startswith("."):
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


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV table, sniffing the separator from the header line (tab, semicolon or comma)."""
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as fh:
            head = fh.readline()
        sep = "\t" if "\t" in head else (";" if ";" in head and "," not in head else ",")
        df = pd.read_csv(path, sep=sep)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}; expected a CSV/TSV table with a header row") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df


def find_column(df: pd.DataFrame, names: str | Sequence[str]) -> str | None:
    """The first column of ``df`` equal (case-insensitive) to one of ``names``; ``'*'``: the first non-time column."""
    if names == "*":
        return next((c for c in df.columns if c.lower() not in TIME_NAMES), None)
    if isinstance(names, str):
        names = [names]
    lower = {c.lower(): c for c in df.columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def rate_from_time(t: np.ndarray, nominal: float | None, time_unit: str = "auto") -> float:
    """Sampling rate from a time column. ``time_unit='auto'`` picks s/ms/us/ns, whichever gives a rate
    closest (in log ratio) to ``nominal`` (or within 0.5..20000 Hz when ``nominal`` is None)."""
    t = np.asarray(t, dtype=np.float64)
    dt = np.diff(t[np.isfinite(t)])
    dt = dt[dt > 0]
    if dt.size == 0:
        raise DatasetError("time column is constant or not increasing; fix the file or pass time_column=None and sampling_rate=")
    med = float(np.median(dt))
    if time_unit != "auto":
        if time_unit not in _UNITS:
            raise DatasetError(f"time_unit must be one of {sorted(_UNITS)} or 'auto', not {time_unit!r}")
        return 1.0 / (med * _UNITS[time_unit])
    cands = {u: 1.0 / (med * f) for u, f in _UNITS.items()}
    if nominal:
        return min(cands.values(), key=lambda r: abs(np.log(r / nominal)))
    plausible = [r for r in cands.values() if 0.5 <= r <= 20000]
    if not plausible:
        raise DatasetError(f"cannot infer the sampling rate from the time column (median step {med}); pass sampling_rate=")
    return plausible[0]


def resolve_rate(df: pd.DataFrame, time_column: str | None, nominal: float | None, time_unit: str, path: Path) -> tuple[float, str | None]:
    """(rate, used time column). The time column wins over ``nominal`` (with a warning if they disagree by >5 %)."""
    col = None
    if time_column == "auto":
        col = find_column(df, TIME_NAMES)
    elif time_column:
        col = find_column(df, time_column)
        if col is None:
            raise DatasetError(f"{path}: time column {time_column!r} not found (columns: {list(df.columns)}); pass time_column=None")
    if col is None:
        if not nominal:
            raise DatasetError(f"{path}: no time column and no sampling_rate given; pass sampling_rate=")
        return float(nominal), None
    t = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(t).any():
        raise DatasetError(f"{path}: time column {col!r} holds no numbers (e.g. {df[col].iloc[0]!r}); "
                           "pass time_column=None and sampling_rate=")
    fs = rate_from_time(t, nominal, time_unit)
    if nominal and abs(fs / nominal - 1) > 0.05:
        warnings.warn(f"{path}: the time column gives {fs:.3f} Hz but sampling_rate={nominal}; using {fs:.3f} Hz", DatasetWarning, stacklevel=3)
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
    x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.all():
        raise DatasetError(f"{path}: column {col!r} has no numeric values")
    if bad.any():
        # Short gaps (NaN, empty cells) are filled by linear interpolation; the count is reported.
        idx = np.arange(x.size)
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
        warnings.warn(f"{path}: {int(bad.sum())} non-numeric values in {col!r} were interpolated", DatasetWarning, stacklevel=3)
    return x
