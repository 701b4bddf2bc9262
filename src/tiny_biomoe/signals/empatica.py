"""Empatica E4 CSV exports: one session as a folder or a ``.zip``, or one of its CSV files.

The E4 export (E4 connect / manager) writes one CSV per sensor. Each starts with two rows: the
session start as UNIX time (UTC, seconds) and the sampling rate in Hz (one value per column), then
the samples, no header. Files and rates: ``EDA.csv`` (4 Hz, uS), ``BVP.csv`` (64 Hz, PPG light
signal), ``TEMP.csv`` (4 Hz, degC), ``HR.csv`` (1 Hz, bpm, starting 10 s after the others),
``ACC.csv`` (32 Hz, three columns x, y, z in 1/64 g; ``convert=True`` gives g). ``IBI.csv`` (beat
times, not a fixed rate), ``tags.csv`` (event marks) and ``info.txt`` are not channels and are skipped.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np
import pandas as pd

from ..errors import LimitError, SignalError

__all__ = ["read_empatica", "is_empatica_folder", "is_empatica_zip", "is_empatica_csv", "E4_FILES"]

#: file stem -> (channel names, unit)
E4_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    "EDA": (("EDA",), "uS"),
    "BVP": (("BVP",), ""),
    "TEMP": (("TEMP",), "degC"),
    "HR": (("HR",), "bpm"),
    "ACC": (("ACC_x", "ACC_y", "ACC_z"), "1/64 g"),
}
_MAX_UNZIPPED = 4 << 30  # bytes


def _first_two_rows_ok(lines: list[str]) -> bool:
    if len(lines) < 2:
        return False
    try:
        start = [float(v) for v in lines[0].split(",")]
        rate = [float(v) for v in lines[1].split(",")]
    except ValueError:
        return False
    return (len(start) == len(rate) and len(set(start)) == 1 and len(set(rate)) == 1
            and start[0] > 1e8 and 0 < rate[0] <= 10000)


def _peek(fh: IO[bytes], n: int = 2) -> list[str]:
    out = []
    for _ in range(n):
        line = fh.readline(4096)
        if not line:
            break
        out.append(line.decode("utf-8", "replace").strip())
    return out


def is_empatica_csv(path: "str | Path") -> bool:
    """Whether ``path`` is one E4 sensor CSV (name like ``EDA.csv`` and the two E4 rows on top)."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or path.stem.upper() not in E4_FILES:
        return False
    try:
        with open(path, "rb") as fh:
            return _first_two_rows_ok(_peek(fh))
    except OSError:
        return False


def _members(names: list[str]) -> dict[str, str]:
    """E4 stem -> member name among ``names`` (top level or one folder down)."""
    out: dict[str, str] = {}
    for n in names:
        p = Path(n)
        if p.name.startswith(".") or "__MACOSX" in p.parts or len(p.parts) > 2:
            continue
        stem = p.stem.upper()
        if p.suffix.lower() == ".csv" and stem in E4_FILES and stem not in out:
            out[stem] = n
    return out


def is_empatica_folder(path: "str | Path") -> bool:
    """Whether the folder holds an E4 session (at least one of EDA/BVP/TEMP/HR/ACC.csv in E4 layout)."""
    path = Path(path)
    files = _members([str(p.relative_to(path)) for p in path.glob("*.csv")] +
                     [str(p.relative_to(path)) for p in path.glob("*/*.csv")])
    return any(is_empatica_csv(path / m) for m in files.values())


def is_empatica_zip(path: "str | Path") -> bool:
    """Whether the zip holds an E4 session."""
    try:
        with zipfile.ZipFile(path) as zf:
            files = _members(zf.namelist())
            for m in files.values():
                with zf.open(m) as fh:
                    if _first_two_rows_ok(_peek(fh)):
                        return True
            return False
    except (OSError, zipfile.BadZipFile):
        return False


def _parse(fh: IO[bytes], where: str) -> tuple[float, float, np.ndarray]:
    try:
        df = pd.read_csv(fh, header=None, dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SignalError(f"{where}: not an Empatica E4 CSV ({exc}); expected start time, rate, then samples") from exc
    if len(df) < 2 or not _first_two_rows_ok([",".join(map(repr, df.iloc[0])), ",".join(map(repr, df.iloc[1]))]):
        raise SignalError(f"{where}: the first two rows must be the session start (UNIX time) and the sampling rate "
                          "(E4 export layout); the file may be cut or not an E4 export")
    return float(df.iat[0, 0]), float(df.iat[1, 0]), df.iloc[2:].to_numpy(np.float64)


def read_empatica(path: "str | Path", *, convert: bool = True, **_: Any):
    """Read an E4 session (folder, ``.zip``) or one E4 CSV into a :class:`~tiny_biomoe.signals.Recording`.

    Channels ``EDA``, ``BVP``, ``TEMP``, ``HR``, ``ACC_x``/``ACC_y``/``ACC_z`` with their own rates;
    ``info["start_time"]`` is the UNIX start of each channel (HR starts 10 s later).
    """
    from .readers import Recording

    path = Path(path)
    opened: dict[str, Callable[[], IO[bytes]]] = {}
    zf = None
    if path.is_dir():
        names = [str(p.relative_to(path)) for p in list(path.glob("*.csv")) + list(path.glob("*/*.csv"))]
        for stem, m in _members(names).items():
            opened[stem] = (lambda p=path / m: open(p, "rb"))
    elif zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise SignalError(f"{path}: not a readable zip ({exc})") from exc
        if sum(i.file_size for i in zf.infolist()) > _MAX_UNZIPPED:
            raise LimitError(f"{path}: the zip unpacks to more than {_MAX_UNZIPPED >> 30} GiB; unpack it yourself")
        for stem, m in _members(zf.namelist()).items():
            opened[stem] = (lambda m=m: zf.open(m))
    else:
        stem = path.stem.upper()
        if stem not in E4_FILES:
            raise SignalError(f"{path}: not an E4 sensor file (expected one of {[s + '.csv' for s in E4_FILES]})")
        opened[stem] = lambda: open(path, "rb")
    if not opened:
        raise SignalError(f"{path}: no E4 sensor files (EDA.csv, BVP.csv, TEMP.csv, HR.csv, ACC.csv) found")
    signals: dict[str, np.ndarray] = {}
    rates: dict[str, float] = {}
    units: dict[str, str] = {}
    starts: dict[str, float] = {}
    converted: dict[str, bool] = {}
    try:
        for stem in E4_FILES:
            if stem not in opened:
                continue
            names, unit = E4_FILES[stem]
            with opened[stem]() as fh:
                start, fs, x = _parse(fh, f"{path}:{stem}.csv")
            if x.shape[1] != len(names):
                raise SignalError(f"{path}:{stem}.csv has {x.shape[1]} columns; the E4 layout has {len(names)}")
            for j, n in enumerate(names):
                col = x[:, j]
                if stem == "ACC" and convert:
                    col, u = col / 64.0, "g"
                else:
                    u = unit
                signals[n], rates[n], units[n], starts[n] = col, fs, u, start
                if stem == "ACC":
                    converted[n] = convert  # the other sensors are stored in physical units
    finally:
        if zf is not None:
            zf.close()
    info = {"format": "empatica-e4", "sampling_rate_from": "header", "start_time": starts,
            "converted": converted, "sensors": {n: n.split("_")[0] for n in signals}}
    return Recording(signals, rates, str(path), units=units, info=info)
