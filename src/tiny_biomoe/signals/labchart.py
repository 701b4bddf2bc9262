"""ADInstruments LabChart text exports (File > Export > Text, ``.txt``).

Each block of the recording starts with header lines of the form ``Key=<tab>value<tab>value...``:
``Interval=`` (the sample interval with its unit, e.g. ``0.001 s``), ``ExcelDateTime=`` (the block's
start as an Excel serial day number, then as text), ``TimeFormat=``, ``DateFormat=``,
``ChannelTitle=`` (one name per channel), ``Range=``, ``UnitName=`` (one unit per channel),
``TopValue=`` and ``BottomValue=``; which lines appear depends on the export settings. The samples
follow as tab-separated rows: an optional time column, then one value per channel (``NaN`` where a
channel has no data), and an optional comment after the last value (``#1 stimulus``). LabChart in a
locale with a decimal comma writes ``0,001``.

A recording of several blocks with the same channels and interval is read as one: each block is
placed at its start time (``ExcelDateTime``), the pause between blocks filled with NaN for the gap
policy. Blocks that differ in channels or interval cannot be one recording: the first block is read
and a warning names the others (export them one at a time from LabChart).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LimitError, SignalError

__all__ = ["read_labchart_text", "is_labchart_text", "HEADER_KEYS"]

#: the header keys of a LabChart text export
HEADER_KEYS = ("Interval", "ExcelDateTime", "TimeFormat", "DateFormat", "ChannelTitle", "Range", "UnitName",
               "TopValue", "BottomValue")
_KEY = re.compile(r"^(" + "|".join(HEADER_KEYS) + r")=(.*)$")
_INTERVAL_UNITS = {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "min": 60.0}


@dataclass
class _Block:
    header: dict[str, list[str]]
    first_line: int  # 0-based line of the first sample row
    width: int  # values in the first row (a comment after them not counted)
    rows: int = 0


def is_labchart_text(path: "str | Path") -> bool:
    """Whether ``path`` starts like a LabChart text export (its first line is one of :data:`HEADER_KEYS`)."""
    from .tables import open_text

    try:
        with open_text(Path(path)) as fh:
            for line in fh:
                if line.strip():
                    return _KEY.match(line.strip("\r\n").lstrip("\ufeff")) is not None
    except (OSError, EOFError, ValueError, SignalError):
        return False
    return False


def _scan(path: Path) -> list[_Block]:
    """The blocks of the file: their header lines and where their sample rows are (one pass)."""
    from .tables import open_text

    blocks: list[_Block] = []
    header: dict[str, list[str]] = {}
    with open_text(path) as fh:
        for i, line in enumerate(fh):
            m = _KEY.match(line.rstrip("\r\n").lstrip("\ufeff"))
            if m:  # a header line: of the first block, or of the next one below the previous block's rows
                values = m.group(2)[1:] if m.group(2).startswith("\t") else m.group(2)
                header[m.group(1)] = [v.strip() for v in values.split("\t")]
                continue
            if not line.strip():
                continue
            if header:
                blocks.append(_Block(header, i, len(line.split("#")[0].rstrip("\r\n\t ").split("\t"))))
                header = {}
            if blocks:
                blocks[-1].rows += 1
    if not blocks:
        raise SignalError(f"{path}: a LabChart text header but no sample rows")
    return blocks


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _interval(block: _Block, path: Path) -> float:
    vals = block.header.get("Interval")
    if not vals or not vals[0]:
        raise SignalError(f"{path}: LabChart block without an 'Interval=' line; export with the header, or read the "
                          "samples as a table with the sampling rate (--fs)")
    m = re.match(r"^\s*([0-9]*[.,]?[0-9]+(?:[eE][-+]?\d+)?)\s*([a-zµ]*)\s*$", vals[0])
    if m is None or (m.group(2) or "s") not in _INTERVAL_UNITS or _number(m.group(1)) <= 0:
        raise SignalError(f"{path}: LabChart 'Interval=' reads {vals[0]!r}; expected a positive time such as '0.001 s'")
    return _number(m.group(1)) * _INTERVAL_UNITS[m.group(2) or "s"]


def _read_rows(path: Path, block: _Block, decimal: str) -> np.ndarray:
    import pandas as pd

    from .tables import open_text

    try:
        with open_text(path) as fh:  # skiprows counts blank lines too, as the scan does
            df = pd.read_csv(fh, sep="\t", header=None, names=range(block.width + 1), skiprows=block.first_line,
                             nrows=block.rows, comment="#", decimal=decimal, skip_blank_lines=True)  # +1: the tab
                             # before a comment
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SignalError(f"{path}: LabChart samples are not tab-separated rows ({exc})") from exc
    df = df.dropna(axis=1, how="all")  # a tab before a comment, or after the last value
    return df.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)  # a clock time column: NaN, dropped


def _block_start(block: _Block) -> float | None:
    """The block's start in seconds since Excel's epoch (None when the export has no ExcelDateTime)."""
    vals = block.header.get("ExcelDateTime") or []
    try:
        return _number(vals[0]) * 86400.0
    except (IndexError, ValueError):
        return None


def read_labchart_text(path: "str | Path", **_: Any):
    """Read a LabChart text export into a Recording (see the module doc)."""
    from .readers import Recording, unique_names
    from .tables import MAX_GAP_SAMPLES

    path = Path(path)
    blocks = _scan(path)
    first = blocks[0]
    dt = _interval(first, path)
    fs = 1.0 / dt
    titles = list(first.header.get("ChannelTitle", []))
    same = [b for b in blocks if _interval(b, path) == dt and b.header.get("ChannelTitle", []) == titles]
    if len(same) < len(blocks):
        warnings.warn(f"{path}: {len(blocks)} LabChart blocks, of which {len(blocks) - len(same)} have other channels "
                      "or another interval; read the first block and the ones like it only (export the others "
                      "separately from LabChart)", stacklevel=3)
    decimal = "," if "," in (first.header.get("Interval") or [""])[0] else "."
    parts: list[np.ndarray] = []
    end: float | None = None
    n_ch: int | None = None
    gaps = 0
    for b in same:
        data = _read_rows(path, b, decimal)
        if data.shape[0] == 0:
            continue
        if titles and data.shape[1] == len(titles) + 1:
            data = data[:, 1:]  # the time column: the interval gives the rate
        elif titles and data.shape[1] != len(titles):
            raise SignalError(f"{path}: LabChart rows hold {data.shape[1]} values but 'ChannelTitle=' names "
                              f"{len(titles)} channels ({titles}); the file is damaged or edited")
        elif not titles and "TimeFormat" in b.header and data.shape[1] > 1:
            data = data[:, 1:]  # without titles, a time format says the first column is time
        if n_ch is not None and data.shape[1] != n_ch:
            raise SignalError(f"{path}: LabChart blocks with {n_ch} and {data.shape[1]} channels")
        n_ch = data.shape[1]
        start = _block_start(b)
        if parts and start is not None and end is not None:
            pause = int(round((start - end) * fs))
            if pause > MAX_GAP_SAMPLES:
                raise LimitError(f"{path}: {pause / fs:g} s between LabChart blocks; export the blocks separately")
            if pause > 0:
                parts.append(np.full((pause, n_ch), np.nan))
                gaps += 1
        parts.append(data)
        end = None if start is None else start + data.shape[0] / fs
    if not parts:
        raise SignalError(f"{path}: a LabChart text header but no sample rows")
    values = np.concatenate(parts, axis=0)
    names = unique_names(titles or [f"Channel {i + 1}" for i in range(values.shape[1])])
    units = dict(zip(names, first.header.get("UnitName", [])))
    stamp = first.header.get("ExcelDateTime") or []
    info = {"format": "labchart-text", "sampling_rate_from": "header", "blocks": len(same),
            "blocks_in_file": len(blocks), "pauses_filled": gaps,
            "start_time": stamp[1] if len(stamp) > 1 else None,
            "header": {k: "\t".join(v) for k, v in first.header.items()}}
    signals = {n: np.ascontiguousarray(values[:, i]) for i, n in enumerate(names)}
    return Recording(signals, fs, str(path), units={n: u for n, u in units.items() if u}, info=info)
