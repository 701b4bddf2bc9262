"""The one reader of delimited text tables and the one place that decides a table's sampling rate.

:func:`read_table` is used by :func:`tiny_biomoe.signals.read_signal` (``.csv``/``.tsv``/``.txt``,
also ``.gz``/``.bz2`` compressed) and, through :mod:`tiny_biomoe.data._files`, by every dataset adapter.

What it handles:

* comment lines (``#`` or ``%``) and blank lines above the table; ``key: value`` / ``key = value`` pairs
  in them are kept in :attr:`Table.header` (a ``sampling rate``/``fs``/``sfreq`` entry is a header rate);
  comment lines between the rows (event marks such as ``# stimulus on``) are dropped and counted;
* ``.gz``, ``.bz2``, ``.xz`` and ``.zip`` (one member) compressed text;
* the separator (tab, ``;``, ``,`` or whitespace) sniffed from the first lines; a decimal comma with ``;``;
* files with or without a header row (``header="auto"``); without one, columns are named by their
  0-based index (``"0"``, ``"1"``, ...);
* a time column found by name (``time``, ``t``, ``timestamp``, ``sec``, ``seconds``, ``time_ms``,
  ``Time (s)``, ``timer``, ``clock``, ``datetime``, ...) or named by ``time_column``, with numbers in
  s/ms/us/ns or clock/date-time strings (``12:00:01.250``, ``2024-05-01T12:00:01.250``).

Sampling-rate precedence (one rule for the whole package)
----------------------------------------------------------
1. the rate the file *declares* in its header (a comment line such as ``# sampling_rate: 100``);
2. the rate measured from its time column;
3. the rate the caller gives (``sampling_rate=``, CLI ``--fs``).

The file's own information wins because it describes the samples actually stored; a given rate that
disagrees with it (by more than 1 %) gives a warning naming both. To use your rate instead of a
time column, pass ``time_column=False`` (CLI ``--time-column none``). The given rate is also the
hint that decides the unit of a numeric time column when its name does not say it
(``time_unit="auto"``); without either, the unit is the one giving a plausible biosignal rate
(0.5 Hz .. 20 kHz), and when several do (e.g. an integer timer with 1-unit steps: 1 Hz in s or
1 kHz in ms) an integer timer is read as milliseconds and fractional numbers as seconds, with a warning
telling how to say otherwise (none for fractional seconds at 10 Hz or more).
"""

from __future__ import annotations

import bz2
import codecs
import datetime
import gzip
import io
import lzma
import math
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import SignalError, require

__all__ = [
    "Table",
    "read_table",
    "read_frame",
    "rate_from_time",
    "on_time_grid",
    "guessed_unit_hint",
    "time_to_seconds",
    "find_time_column",
    "choose_rate",
    "open_text",
    "text_encoding",
    "is_table_path",
    "is_time_name",
    "resolve_column",
    "TIME_UNITS",
    "TABLE_SUFFIXES",
    "SHEET_SUFFIXES",
]

#: seconds per unit of a numeric time column
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
#: suffixes read as delimited text (each also with .gz / .bz2 / .xz)
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab")
#: spreadsheets, read through python-calamine as their first sheet with data
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip")
#: the plausible range of a biosignal sampling rate, for telling a time column's unit
_PLAUSIBLE = (0.5, 20000.0)
_MAX_HEAD_LINES = 2000  # comment/preamble lines looked at before the data

_TIME_BASES = {
    "time": None, "t": None, "times": None, "timestamp": None, "timestamps": None, "time_stamp": None,
    "elapsed": None, "elapsed_time": None, "timer": None, "clock": "clock", "datetime": "datetime",
    "date_time": "datetime", "sec": "s", "secs": "s", "seconds": "s", "second": "s",
    "ms": "ms", "msec": "ms", "millis": "ms", "milliseconds": "ms", "us": "us", "usec": "us",
    "micros": "us", "microseconds": "us", "ns": "ns", "nanoseconds": "ns",
    # the same in the languages of localised lab software exports (LabChart, iMotions, Excel sheets)
    "zeit": None, "zeitstempel": None, "temps": None, "horodatage": None, "tiempo": None, "tempo": None,
    "tijd": None, "tijdstempel": None, "tid": None,
}
_UNIT_WORDS = {"s": "s", "sec": "s", "secs": "s", "seconds": "s", "ms": "ms", "msec": "ms", "millis": "ms",
               "milliseconds": "ms", "us": "us", "usec": "us", "µs": "us", "micros": "us", "microseconds": "us",
               "ns": "ns", "nanoseconds": "ns"}
_RATE_KEY = re.compile(r"^(sampling[ _-]?(rate|frequency|freq)|sample[ _-]?rate|samplingfrequency|fs|sfreq|srate|"
                       r"sr|rate)(\s*[\[(]?\s*hz\s*[\])]?)?$", re.IGNORECASE)


@dataclass
class Table:
    """What :func:`read_table` found.

    Attributes:
        frame: the channel columns as float64 (NaN where a cell is empty or not a number), without the
            time column; column names from the header row, or ``"0"``, ``"1"``, ... without one.
        sampling_rate: Hz, or None when nothing gave one (only with ``require_rate=False``).
        rate_source: ``"header"``, ``"time column"``, ``"given"`` or None.
        time_column: name of the time column used (None: none).
        time_unit: ``"s"``/``"ms"``/``"us"``/``"ns"``, ``"clock"`` or ``"datetime"`` (None: no time column).
        time: the time column in seconds from its first value (None: no time column).
        start_time: the first time value as written (a number in ``time_unit``, or the clock/date string).
        header: ``key -> value`` pairs from the comment lines above the table.
        comments: the comment lines themselves (without the leading ``#``).
        has_header: whether the table had a header row.
        non_numeric: columns dropped because they hold no numbers at all.
        comment_lines_in_table: comment lines found (and dropped) between the rows.
        warnings: the warnings issued while reading (also emitted with :func:`warnings.warn`).
        source: the path.
        encoding: the text encoding read (see :func:`text_encoding`; None for a spreadsheet).
        sheet: the sheet read from a spreadsheet (None: a text file).
        units: channel -> unit, from a row of units under the header (``ms, uS, mV``), else from the
            name (``EDA (µS)``, ``ecg [uV]``).
        time_unit_guess: when the time column's unit was guessed, ``{"unit": read, "rates_hz": {unit: Hz}}``
            over the plausible units (what an error about the recording's length suggests instead).
    """

    frame: pd.DataFrame
    sampling_rate: float | None
    rate_source: str | None
    time_column: str | None = None
    time_unit: str | None = None
    time: np.ndarray | None = None
    start_time: Any = None
    header: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    has_header: bool = True
    non_numeric: list[str] = field(default_factory=list)
    comment_lines_in_table: int = 0
    warnings: list[str] = field(default_factory=list)
    source: str = ""
    encoding: str | None = "utf-8"
    sheet: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    time_unit_guess: "dict[str, Any] | None" = None

    @property
    def channels(self) -> list[str]:
        """Channel (column) names in file order."""
        return [str(c) for c in self.frame.columns]

    def info(self) -> dict[str, Any]:
        """A JSON-friendly summary (what :class:`~tiny_biomoe.signals.Recording` keeps in ``info``)."""
        return {"format": "table", "time_column": self.time_column, "time_unit": self.time_unit,
                "sampling_rate_from": self.rate_source, "start_time": self.start_time,
                "has_header": self.has_header, "non_numeric_columns": list(self.non_numeric),
                "comment_lines_in_table": self.comment_lines_in_table,
                "header": dict(self.header), "warnings": list(self.warnings), "encoding": self.encoding,
                "sheet": self.sheet,
                "time_unit_guess": self.time_unit_guess}


# ----------------------------------------------------------------------------- opening text
def open_text(path: Path, error: type[Exception] = SignalError) -> io.TextIOBase:
    """Open ``path`` as text, decompressing ``.gz``/``.bz2``/``.xz``/``.zip`` (by suffix or magic bytes);
    a spreadsheet (``.xlsx``, ``.xls``, ``.ods``) reads as its first sheet with data, tab-separated."""
    path = Path(path)
    if path.suffix.lower() in SHEET_SUFFIXES:
        return _sheet_text(path, error)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise error(f"cannot open {path}: {exc}") from exc
    try:
        if magic[:2] == b"\x1f\x8b":
            raw = gzip.open(path, "rb")
        elif magic[:3] == b"BZh":
            raw = bz2.open(path, "rb")
        elif magic[:6] == b"\xfd7zXZ\x00":
            raw = lzma.open(path, "rb")
        elif magic[:4] == b"PK\x03\x04":
            zf = zipfile.ZipFile(path)
            members = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX")]
            if len(members) != 1:
                raise error(f"{path}: a zip with {len(members)} files; expected one text table (unpack it, or point at "
                            "the folder for a session export)")
            raw = zf.open(members[0])
        else:
            raw = open(path, "rb")
        buf = io.BufferedReader(raw, buffer_size=_HEAD_BYTES)
        encoding = text_encoding(buf.peek(_HEAD_BYTES)[:_HEAD_BYTES])
    except (OSError, zipfile.BadZipFile, EOFError, lzma.LZMAError) as exc:
        raise error(f"{path}: cannot decompress ({exc}); check that the file is complete") from exc
    return io.TextIOWrapper(buf, encoding=encoding, errors="replace", newline=None)


_HEAD_BYTES = 1 << 16
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def text_encoding(head: bytes) -> str:
    """The encoding of a text table from its first bytes.

    A byte-order mark decides (UTF-8, UTF-16 as Excel's "Unicode text" writes, UTF-32; the mark is
    not read as part of the first column's name). Without one: UTF-16 when every other byte of the
    start is NUL (ASCII text written as UTF-16), UTF-8 when the bytes are valid UTF-8 (ASCII
    included), else Windows-1252, the Latin-1 superset that Windows lab software writes for units
    such as "µS" and "°C" (UTF-8 would turn them into replacement characters, so ``--column "EDA (µS)"``
    would not match).
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    n = min(len(head), 512)
    start = head[:n - n % 2]  # whole 16-bit units
    if len(start) >= 8:
        even, odd = start[0::2], start[1::2]
        for name, nul, text in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if nul.count(0) > 0.9 * len(nul) and text.count(0) < 0.1 * len(text) and _printable(start.decode(name)):
                return name  # not raw 16-bit samples, whose small values decode to control characters
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a character cut at the end is fine
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _printable(text: str) -> bool:
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _sheet_text(path: Path, error) -> io.TextIOBase:
    """The first sheet of a workbook that holds data, as tab-separated text lines (python-calamine).

    Numbers keep their full precision (``repr``), dates and times are ISO text (what the time
    column reader parses), tabs and line breaks inside a cell become spaces."""
    calamine = require("python_calamine", "io", "Reading spreadsheets (.xlsx, .xls, .ods)")
    try:
        book = calamine.CalamineWorkbook.from_path(str(path))
        sheets = [book.get_sheet_by_name(n) for n in book.sheet_names]
    except Exception as exc:  # calamine raises its own types (CalamineError, ZipError, XmlError, PasswordError)
        raise error(f"{path}: cannot read as a spreadsheet ({type(exc).__name__}: {exc}); save the sheet as CSV "
                    "if it opens in a spreadsheet program") from exc
    sheet = next((sh for sh in sheets if sh.height > 1), None)
    if sheet is None:
        raise error(f"{path}: no sheet holds a table (sheets: {book.sheet_names})")
    return _RowsText(sheet.iter_rows(), sheet=sheet.name)


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else "nan"
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return repr(v.total_seconds())
    return str(v).replace("\t", " ").replace("\r", " ").replace("\n", " ")


class _FilledText(io.TextIOBase):
    """A read-only text stream made a chunk at a time: a subclass's ``_fill()`` appends text to ``_out``
    and sets ``_eof`` when there is no more."""

    _out = ""
    _eof = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def read(self, size: int | None = -1) -> str:  # type: ignore[override]
        while (size is None or size < 0 or len(self._out) < size) and not self._eof:
            self._fill()
        if size is None or size < 0:
            size = len(self._out)
        out, self._out = self._out[:size], self._out[size:]
        return out

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        while "\n" not in self._out and not self._eof:
            self._fill()
        cut = self._out.find("\n") + 1 or len(self._out)
        line, self._out = self._out[:cut], self._out[cut:]
        return line


class _RowsText(_FilledText):
    """Rows of cells as a text stream of tab-separated lines, made as they are read."""

    def __init__(self, rows: Iterator[Sequence[Any]], sheet: str | None = None, chunk: int = 4096) -> None:
        self._rows, self._chunk = rows, chunk
        self.sheet = sheet

    def _fill(self) -> None:
        lines = []
        for row in self._rows:
            lines.append("\t".join(_cell(v) for v in row) + "\n")
            if len(lines) >= self._chunk:
                break
        else:
            self._eof = True
        self._out += "".join(lines)


class _SkipComments(_FilledText):
    """A text stream without the lines that start (after spaces) with a comment character: comment lines
    *inside* a table (event marks such as ``# stimulus on``) are dropped, not parsed as rows."""

    def __init__(self, fh: io.TextIOBase, prefixes: str, chunk: int = 1 << 20) -> None:
        self._fh, self._chunk, self._chars = fh, chunk, prefixes
        self._line = re.compile(r"^[ \t]*[" + re.escape(prefixes) + r"][^\n]*(?:\n|$)", re.MULTILINE)
        self._tail = ""
        self.dropped = 0

    def _clean(self, text: str) -> str:
        if not any(c in text for c in self._chars):
            return text
        out, k = self._line.subn("", text)
        self.dropped += k
        return out

    def _fill(self) -> None:
        chunk = self._fh.read(self._chunk)
        if not chunk:
            self._out += self._clean(self._tail)
            self._tail, self._eof = "", True
            return
        data = self._tail + chunk
        cut = data.rfind("\n") + 1  # only whole lines are cleaned; the rest waits for the next chunk
        self._out += self._clean(data[:cut])
        self._tail = data[cut:]

    def close(self) -> None:
        self._fh.close()
        super().close()


def _head_lines(path: Path, n: int, error) -> list[str]:
    out: list[str] = []
    try:
        with open_text(path, error) as fh:
            for line in fh:
                out.append(line.rstrip("\r\n"))
                if len(out) >= n:
                    break
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise error(f"{path}: cannot read ({exc}); check that the file is complete") from exc
    return out


# ----------------------------------------------------------------------------- header / separator
def _parse_comment(line: str) -> tuple[str, str] | None:
    m = re.match(r"^\s*([A-Za-z][\w .()\[\]/-]*?)\s*[:=]\s*(.+?)\s*$", line)
    return (m.group(1).strip(), m.group(2).strip()) if m else None


def _header_rate(header: dict[str, str]) -> float | None:
    for k, v in header.items():
        if _RATE_KEY.match(k.strip()):
            m = re.match(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*(hz|khz)?\s*$", v, re.IGNORECASE)
            if m:
                val = float(m.group(1)) * (1000.0 if (m.group(2) or "").lower() == "khz" else 1.0)
                if val > 0:
                    return val
    return None


def _sniff_sep(lines: Sequence[str]) -> str:
    sample = [ln for ln in lines if ln.strip()][:20]
    if not sample:
        return ","
    for cand in ("\t", ";", ",", "|"):
        counts = {ln.count(cand) for ln in sample}
        if len(counts) == 1 and next(iter(counts)) > 0:
            return cand
    for cand in ("\t", ";", ","):
        if all(cand in ln for ln in sample[1:] or sample):
            return cand
    return r"\s+"


def _is_number(s: str) -> bool:
    s = s.strip().strip('"').strip("'")
    if s.lower() in ("", "nan", "na", "n/a", "null", "none", "-"):
        return True
    try:
        float(s.replace(",", ".") if s.count(",") == 1 and "." not in s else s)
        return True
    except ValueError:
        return False


def _split(line: str, sep: str) -> list[str]:
    return line.split() if sep == r"\s+" else line.split(sep)


@dataclass
class _Layout:
    skip: int
    sep: str
    has_header: bool
    comments: list[str]
    header: dict[str, str]
    decimal: str
    prefixes: str = ""  # comment characters: lines starting with one are dropped inside the table too
    units: list[str] | None = None  # a row of units right below the header row (Shimmer: "ms,uS,mV,")


#: Excel's separator line above a table (``sep=,`` or ``"sep=\t"``), as Shimmer's Consensys writes
_SEP_LINE = re.compile(r'^\s*"?sep=(\\t|.)"?[ \r\n]*$', re.IGNORECASE)  # the tab also written as \t


def _is_units_row(cells: list[str], below: list[str], width: int) -> bool:
    """A row under the header that names units (its cells stripped of spaces and quotes): as wide as
    the header, no numbers, some text, and numbers in the row after it (``ms, uS, mV``; ``s, mV, %``)."""
    text = [c for c in cells if c not in ("", "-")]  # "-": no unit
    return (len(cells) == width and bool(text) and not any(_is_number(c) for c in text)
            and any(c.strip() and _is_number(c) for c in below))


def _layout(path: Path, sep: str | None, header, comment: str, error) -> _Layout:
    lines = _head_lines(path, _MAX_HEAD_LINES + 30, error)
    if not any(ln.strip() for ln in lines):
        raise error(f"{path}: the file is empty; expected a table of samples")
    if "\x00" in "".join(lines[:5]):
        raise error(f"{path}: a binary file, not a text table; check the file type")
    sep_line = _SEP_LINE.match(lines[0]) if lines else None
    if sep_line and sep is None:
        sep = "\t" if sep_line.group(1) == "\\t" else sep_line.group(1)
    skip, comments = (1 if sep_line else 0), []
    prefixes = tuple(comment) if comment else ()
    for ln in lines[skip:]:
        s = ln.strip()
        if not s or (prefixes and s.startswith(prefixes)):
            skip += 1
            if s:
                comments.append(s.lstrip("".join(prefixes)).strip())
            continue
        break
    if skip >= len(lines):
        raise error(f"{path}: only comment lines, no table below them")
    data = [ln for ln in lines[skip:] if not (prefixes and ln.strip().startswith(prefixes))][:20]
    sp = sep if sep is not None else _sniff_sep(data)
    first = _split(data[0], sp)
    if header == "auto":
        has_header = not all(_is_number(v) for v in first)
    elif header is None or header is False:
        has_header = False
    elif isinstance(header, int) and not isinstance(header, bool) and header >= 0:
        skip += header
        has_header = True
    else:
        raise error(f"header must be 'auto', None or a row number, not {header!r}")
    body = data[1:] if has_header else data
    cells = [c.strip().strip('"') for c in _split(body[0], sp)] if has_header and len(body) >= 2 else []
    units = cells if cells and _is_units_row(cells, _split(body[1], sp), len(first)) else None
    if units is not None:
        body = body[1:]
    decimal = "."
    if sp == ";" and any(re.search(r"\d,\d", ln) for ln in body[:5]):
        decimal = ","
    pairs = dict(p for p in (_parse_comment(c) for c in comments) if p is not None)
    return _Layout(skip, sp, has_header, comments, pairs, decimal, "".join(prefixes), units)


def read_frame(
    path: "str | Path",
    *,
    sep: str | None = None,
    header: "str | int | None" = "auto",
    comment: str = "#%",
    error: type[Exception] = SignalError,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The table of ``path`` as read (all columns, their text or numbers), and what the layout showed.

    Returns ``(frame, meta)`` with ``meta`` keys ``has_header``, ``sep``, ``comments``, ``header``
    (key/value pairs of the comment lines), ``header_rate`` (Hz or None), ``comment_lines_in_table``
    (comment lines dropped between the rows), ``encoding`` (:func:`text_encoding`; None for a spreadsheet),
    ``sheet`` (the spreadsheet's sheet read, else None) and ``units`` (column ->
    unit, from a row of units under the header; Excel's ``sep=`` line above a table is read too). Column names are stripped
    strings; without a header row they are ``"0"``, ``"1"``, ... Errors are raised as ``error``.
    """
    path = Path(path)
    lay = _layout(path, sep, header, comment, error)
    # the stream drops every comment line (those above the table too), so only the others are skipped
    skip = lay.skip - len(lay.comments) if lay.prefixes else lay.skip
    rows: "int | list[int]" = skip if lay.units is None else [*range(skip), skip + 1]  # the units row too
    kw: dict[str, Any] = dict(sep=lay.sep, skiprows=rows, header=0 if lay.has_header else None,
                              decimal=lay.decimal, skip_blank_lines=True, skipinitialspace=True)
    dropped = 0
    try:
        with open_text(path, error) as raw:
            encoding, sheet = raw.encoding, getattr(raw, "sheet", None)  # a spreadsheet: no encoding, a sheet
            fh = _SkipComments(raw, lay.prefixes) if lay.prefixes else raw
            df = pd.read_csv(fh, engine="c" if lay.sep != "|" else "python", **kw)
            dropped = getattr(fh, "dropped", 0) - len(lay.comments) if lay.prefixes else 0
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        raise error(f"{path}: cannot read as a delimited table ({str(exc).strip()}); check that every row has "
                    "the same number of fields, or pass sep=") from exc
    while not lay.has_header and df.shape[1] > 1 and df.iloc[:, -1].isna().all():
        df = df.iloc[:, :-1]  # a trailing separator on every line
    if lay.has_header:
        df.columns = [str(c).strip() for c in df.columns]
        units = {c: u for c, u in zip(df.columns, lay.units or []) if u}
        unnamed = [c for c in df.columns if c.startswith("Unnamed:") and df[c].isna().all()]
        df = df.drop(columns=unnamed)  # a trailing separator on every line
    else:
        df.columns = [str(i) for i in range(df.shape[1])]
        units = {}
    meta = {"has_header": lay.has_header, "sep": lay.sep, "comments": lay.comments, "header": lay.header,
            "header_rate": _header_rate(lay.header), "comment_lines_in_table": max(dropped, 0), "encoding": encoding,
            "sheet": sheet, "units": {c: u for c, u in units.items() if c in df.columns}}
    return df, meta


# ----------------------------------------------------------------------------- columns
def resolve_column(column: "str | int", names: Sequence[str], source: str, error: type[Exception] = SignalError) -> str:
    """The name in ``names`` that ``column`` means: exact name, case-insensitive name, or 0-based index."""
    names = [str(n) for n in names]
    if isinstance(column, str) and column in names:
        return column
    if isinstance(column, (int, np.integer)) and not isinstance(column, bool) or (
            isinstance(column, str) and column.strip().lstrip("-").isdigit()):
        i = int(column)
        if not -len(names) <= i < len(names):
            raise error(f"{source}: column index {i} out of range; channels are {names}")
        return names[i]
    low = {n.lower(): n for n in names}
    if str(column).strip().lower() in low:
        return low[str(column).strip().lower()]
    raise error(f"{source}: no column {column!r}; available: {names}")


def _norm(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", str(name).strip().lower())


def is_time_name(name: str) -> tuple[bool, str | None]:
    """``(is a time column name, the unit it states or None)``: ``time``, ``Time (ms)``, ``timestamp_us``,
    ``sec``, ``clock``, ``datetime`` ..."""
    n = _norm(name)
    unit = None
    m = re.match(r"^(.*?)_*[\[(]\s*([a-zµ]+)\s*[\])]$", n)
    if m:
        n, word = m.group(1).strip("_"), m.group(2)
        unit = _UNIT_WORDS.get(word)
        if unit is None:
            return False, None
    if n in _TIME_BASES:
        return True, unit or _TIME_BASES[n]
    m = re.match(r"^(time|timestamp|timestamps|elapsed|elapsed_time|timer|t|lsl_time|zeit|zeitstempel|temps|tiempo|"
                 r"tempo|tijd|tid)_+([a-zµ]+)$", n)
    if m and m.group(2) in _UNIT_WORDS:
        return True, unit or _UNIT_WORDS[m.group(2)]
    return False, None


def find_time_column(names: Sequence[str]) -> str | None:
    """The first of ``names`` that reads as a time column (see :func:`is_time_name`), or None."""
    return next((str(c) for c in names if is_time_name(str(c))[0]), None)


# ----------------------------------------------------------------------------- time -> seconds -> rate
_CLOCK = re.compile(r"^\s*\d{1,2}:\d{2}(:\d{2})?([.,]\d+)?\s*$")


def time_to_seconds(values: "pd.Series | np.ndarray", *, unit: str = "auto", nominal: float | None = None,
                    name: str = "time", source: str = "", error: type[Exception] = SignalError,
                    notes: list[str] | None = None) -> tuple[np.ndarray, str, Any]:
    """A time column in seconds from its first value: ``(seconds, unit, first value as written)``.

    Numbers are in ``unit`` (``s``/``ms``/``us``/``ns``; ``"auto"``: from the column name, else the
    unit giving a rate closest to ``nominal``, else the one giving a plausible rate); strings are
    clock times (``HH:MM:SS.fff``, a day added at midnight) or dates/date-times.
    """
    s = pd.Series(values)
    where = f"{source}: time column {name!r}" if source else f"time column {name!r}"
    if unit not in ("auto", *TIME_UNITS, "clock", "datetime"):
        raise error(f"time_unit must be 'auto' or one of {list(TIME_UNITS)}, not {unit!r}")
    num = pd.to_numeric(s, errors="coerce").to_numpy(np.float64)
    numeric_share = np.isfinite(num).mean() if num.size else 0.0
    if numeric_share >= 0.5 and unit not in ("clock", "datetime"):
        ok = np.isfinite(num)
        first = num[ok][0] if ok.any() else None
        if unit == "auto":
            unit = _numeric_unit(num, nominal, name, where, error, notes)
        sec = (num - first) * TIME_UNITS[unit] if first is not None else num
        return sec, unit, (float(first) if first is not None else None)
    text = s.astype(str).str.strip()
    filled = text[(text != "") & (text.str.lower() != "nan")]
    if filled.empty:
        raise error(f"{where} is empty; pass the sampling rate instead (sampling_rate=, CLI --fs)")
    first_txt = str(filled.iloc[0])
    if unit == "clock" or (unit == "auto" and bool(filled.head(20).map(lambda v: bool(_CLOCK.match(v))).all())):
        txt = text.str.replace(",", ".", regex=False)
        td = pd.to_timedelta(txt.where(txt.str.count(":") != 1, "00:" + txt), errors="coerce")  # MM:SS.fff
        sec = td.dt.total_seconds().to_numpy(np.float64, copy=True)
        ok = np.isfinite(sec)
        d = np.diff(sec[ok])
        if d.size and (d < -43200).any():  # over midnight
            wrap = np.concatenate([[0.0], np.cumsum(np.where(d < -43200, 86400.0, 0.0))])
            sec[ok] = sec[ok] + wrap
        unit_out = "clock"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dt = pd.to_datetime(text, errors="coerce")  # one format, inferred from the first value (fast)
            if dt.notna().mean() < 0.5:
                dt = pd.to_datetime(text, errors="coerce", format="mixed")
        if dt.notna().mean() < 0.5:
            raise error(f"{where} holds neither numbers nor clock/date times (e.g. {first_txt!r}); name the unit "
                        "with time_unit= (CLI --time-unit) or pass time_column=False and the sampling rate")
        if getattr(dt.dt, "tz", None) is not None:
            dt = dt.dt.tz_convert(None)
        sec = (dt - dt[dt.notna()].iloc[0]).dt.total_seconds().to_numpy(np.float64, copy=True)
        unit_out = "datetime"
    ok = np.isfinite(sec)
    if ok.sum() < 2:
        raise error(f"{where}: fewer than 2 readable times (e.g. {first_txt!r}); pass the sampling rate instead")
    return sec - sec[ok][0], unit_out, first_txt


def _numeric_unit(t: np.ndarray, nominal: float | None, name: str, where: str, error, notes) -> str:
    named = is_time_name(name)[1]
    if named in TIME_UNITS:
        return named
    step = _typical_step(t, where, error)
    rates = {u: 1.0 / (step * f) for u, f in TIME_UNITS.items()}
    if nominal:
        return min(rates, key=lambda u: abs(math.log(rates[u] / nominal)))
    ok = [u for u, r in rates.items() if _PLAUSIBLE[0] <= r <= _PLAUSIBLE[1]]
    if not ok:
        raise error(f"{where}: a median step of {step:g} gives no plausible sampling rate in any unit "
                    f"({', '.join(f'{r:g} Hz in {u}' for u, r in rates.items())}); pass time_unit= (CLI --time-unit) "
                    "or the sampling rate")
    if len(ok) == 1:
        return ok[0]
    vals = t[np.isfinite(t)]
    integer = bool(np.all(vals == np.round(vals)))
    pick = ("ms" if "ms" in ok else ok[-1]) if integer else ok[0]
    if not integer and pick == "s" and rates["s"] >= 10:
        return pick  # fractional seconds at a usual biosignal rate: the only sensible reading
    if notes is not None:
        notes.append(_UnitGuess(where, pick, {u: rates[u] for u in ok}))
    return pick


class _UnitGuess(str):
    """The note that a time column's unit was guessed: its text, and what it says as data (``unit``
    read, ``rates``: Hz in each plausible unit) for :func:`read_table` to keep in the table's info."""

    def __new__(cls, where: str, unit: str, rates: "dict[str, float]") -> "_UnitGuess":
        others = " or ".join(f"{u} ({r:g} Hz)" for u, r in rates.items() if u != unit)
        self = super().__new__(cls, f"{where}: unit not stated; read as {unit} ({rates[unit]:g} Hz) rather than "
                                    f"{others}; pass time_unit= (CLI --time-unit) if that is wrong")
        self.guess = {"unit": unit, "rates_hz": dict(rates)}
        return self


def guessed_unit_hint(info: "dict[str, Any]") -> str:
    """A hint for an error about a recording's length when its time column's unit was guessed
    (``info["time_unit_guess"]`` of a :class:`~tiny_biomoe.signals.Recording`); ``""`` otherwise."""
    guess = info.get("time_unit_guess")
    if not guess:
        return ""
    unit, rates = guess["unit"], guess["rates_hz"]
    alt = " or ".join(f"--time-unit {u} ({r:g} Hz)" for u, r in rates.items() if u != unit)
    return (f"; the time column's unit was guessed as {unit} ({rates[unit]:g} Hz): if that is wrong, pass {alt} "
            "(time_unit= in Python)")


def _typical_step(t: np.ndarray, where: str, error) -> float:
    t = np.asarray(t, dtype=np.float64)
    t = t[np.isfinite(t)]
    if t.size < 2:
        raise error(f"{where} has fewer than 2 values; pass the sampling rate instead (sampling_rate=, CLI --fs)")
    dt = np.diff(t)
    pos = dt[dt > 0]
    if pos.size == 0:
        raise error(f"{where} does not increase; fix the file or pass time_column=False and the sampling rate")
    return float(np.median(pos))


def rate_from_time(seconds: np.ndarray, *, source: str = "time column", error: type[Exception] = SignalError,
                   notes: list[str] | None = None) -> float:
    """Sampling rate (Hz) of a time axis in seconds.

    Regular steps (within 1 % or the column's resolution, e.g. a millisecond timer at 117 Hz
    alternating 8 and 9 ms) give ``(n - 1) / span``, rounded to 10 significant digits (no float noise
    from the text). Gaps (steps over 1.5x the median) and jitter give the mean of the ordinary steps,
    with a note. A time axis that goes backwards is an error.
    """
    t = np.asarray(seconds, dtype=np.float64)
    t = t[np.isfinite(t)]
    if t.size < 2:
        raise error(f"{source} has fewer than 2 values; pass the sampling rate instead (sampling_rate=, CLI --fs)")
    dt = np.diff(t)
    if np.any(dt < 0):
        raise error(f"{source} goes backwards at sample {int(np.argmax(dt < 0)) + 1}; sort the file or pass "
                    "time_column=False and the sampling rate")
    med = float(np.median(dt))
    if med <= 0:
        raise error(f"{source} does not increase (repeated times); pass time_column=False and the sampling rate")
    quantum = _resolution(t)
    gaps = _gaps(dt, med, quantum)
    ordinary = dt[~gaps]
    span_rate = (t.size - 1) / (t[-1] - t[0])
    if not gaps.any() and np.max(np.abs(ordinary - ordinary.mean())) <= 0.01 * med + quantum + 1e-12:
        return float(f"{span_rate:.10g}")
    if _irregular(dt):
        if notes is not None:
            notes.append(f"{source}: the time column is irregular (steps {float(dt.min()):g}..{float(dt.max()):g} s, "
                         f"no common step); resampled linearly onto a uniform grid at {span_rate:g} Hz "
                         "(the mean rate over its span)")
        return float(f"{span_rate:.10g}")
    rate = 1.0 / float(ordinary.mean())
    msg = (f"{source}: {int(gaps.sum())} gaps (longest {float(dt.max()):g} s) in the time column; rate {rate:g} Hz "
           "from the ordinary steps" if gaps.any() else
           f"{source}: the time column is irregular (steps {float(ordinary.min()):g}..{float(ordinary.max()):g} s); "
           f"using the mean step, {rate:g} Hz")
    if notes is not None:
        notes.append(msg)
    return float(f"{rate:.10g}")


def _gaps(dt: np.ndarray, median: float, quantum: float) -> np.ndarray:
    """Which steps of a time axis are gaps: over 1.5x the median step (plus the column's resolution)."""
    return dt > 1.5 * median + quantum


def _irregular(dt: np.ndarray) -> bool:
    """Whether steps ``dt`` have no common step (e.g. event-driven samples), not a regular one with jitter:
    the ordinary steps (at most 1.5x the median) vary by more than 35 % of their mean (uniform jitter of
    +-20 % of a step gives ~16 %; random, Poisson-like times ~55 %)."""
    med = float(np.median(dt))
    ordinary = dt[dt <= 1.5 * med]
    return bool(ordinary.size > 1 and float(np.std(ordinary)) > 0.35 * float(np.mean(ordinary)))


#: at most this many samples per channel are added to fill the gaps of a time column
MAX_GAP_SAMPLES = 2**27


def on_time_grid(seconds: np.ndarray, channels: "dict[str, np.ndarray]", sampling_rate: float, *,
                 source: str = "time column", error: type[Exception] = SignalError,
                 notes: list[str] | None = None) -> "dict[str, np.ndarray]":
    """The channels placed on the regular grid of their time axis (seconds) at ``sampling_rate``.

    Every sample index of the package means ``index / rate`` seconds from the start, so a recording
    whose time column has gaps (a paused logger, dropped packets) would otherwise be closed up and
    every window after a gap would carry a wrong start time. Samples after a gap move to their
    place and the gap is filled with NaN, which the conditioning's gap policy then interpolates
    (short gaps) or leaves out (windows mostly missing). An irregular time axis (no common step,
    see :func:`rate_from_time`) is resampled linearly onto the grid. A regular axis, with or without
    jitter, is returned as it is; so is one with non-finite times.
    """
    t = np.asarray(seconds, dtype=np.float64)
    if t.size < 3 or not np.all(np.isfinite(t)):
        return channels
    dt = np.diff(t)
    if np.any(dt <= 0):
        return channels
    fs = float(sampling_rate)
    if _irregular(dt):
        grid = t[0] + np.arange(int(math.floor((t[-1] - t[0]) * fs + 1e-9)) + 1) / fs
        return {k: np.interp(grid, t, np.asarray(v, dtype=np.float64)) for k, v in channels.items()}
    steps = np.rint(dt * fs).astype(np.int64)
    gap = _gaps(dt, float(np.median(dt)), _resolution(t))
    if not gap.any():
        return channels
    extra = np.where(gap, np.maximum(steps - 1, 0), 0)
    added = int(extra.sum())
    if added > MAX_GAP_SAMPLES:
        raise error(f"{source}: its gaps ({float(dt[gap].sum()):g} s in all, the longest {float(dt.max()):g} s) would "
                    f"need {added} missing samples per channel at {fs:g} Hz; split the file at the gaps")
    pos = np.concatenate(([0], np.cumsum(1 + extra)))
    out = {}
    for k, v in channels.items():
        y = np.full(int(pos[-1]) + 1, np.nan)
        y[pos] = np.asarray(v, dtype=np.float64)
        out[k] = y
    if notes is not None:
        msg = (f"filled with {added} missing samples (NaN) so that every sample keeps its time; windows over "
               "them are interpolated or left out by the gap policy")
        if notes and notes[-1].startswith(f"{source}: {int(gap.sum())} gaps"):  # rate_from_time's note on them
            notes[-1] += f"; {msg}"
        else:
            notes.append(f"{source}: {int(gap.sum())} gaps {msg}")
    return out


def _resolution(t: np.ndarray) -> float:
    """The step the numbers were written with (e.g. 0.001 for millisecond times), 0 for exact ones."""
    for dec in range(0, 10):
        q = 10.0 ** -dec
        if np.all(np.abs(t / q - np.round(t / q)) < 1e-6):
            return q
    return 0.0


# ----------------------------------------------------------------------------- the precedence
def choose_rate(*, header: float | None = None, time: float | None = None, given: float | None = None,
                source: str = "", notes: list[str] | None = None, require: bool = True,
                error: type[Exception] = SignalError, hint: str = "") -> tuple[float | None, str | None]:
    """``(rate, where from)`` by the package's one precedence: the file's header rate, else its time
    column's, else the given one. A lower source disagreeing by more than 1 % adds a note naming both."""
    from .processing import check_sampling_rate

    cands = [(s, float(r)) for s, r in (("header", header), ("time column", time), ("given", given)) if r is not None]
    if not cands:
        if require:
            raise error(f"{source}: no sampling rate in the file (no header rate, no time column); pass "
                        f"sampling_rate= (CLI: --fs HZ){hint}")
        return None, None
    where, fs = cands[0]
    for other, r in cands[1:]:
        if abs(r / fs - 1) > 0.01 and notes is not None:
            fix = "; pass time_column=False (CLI --time-column none) to use the given rate" if (
                other == "given" and where == "time column") else ""
            notes.append(f"{source}: the {other} rate {r:g} Hz differs from the {where}'s {fs:g} Hz; "
                         f"using the {where}'s{fix}")
    return float(check_sampling_rate(fs)), where


# ----------------------------------------------------------------------------- the reader
def read_table(
    path: "str | Path",
    *,
    columns: "Sequence[str | int] | None" = None,
    header: "str | int | None" = "auto",
    sep: str | None = None,
    sampling_rate: float | None = None,
    time_column: "str | int | bool | None" = None,
    time_unit: str = "auto",
    comment: str = "#%",
    require_rate: bool = True,
    error: type[Exception] = SignalError,
    warn: bool = True,
) -> Table:
    """Read a delimited text table of samples and decide its sampling rate (see the module doc).

    Args:
        path: ``.csv``/``.tsv``/``.txt`` (or any text table), optionally ``.gz``/``.bz2``/``.xz``/``.zip``.
        columns: channels to keep, by name or 0-based index among the non-time columns (default: all
            numeric ones).
        header: ``"auto"`` (a first row with a non-number is a header), None (no header row: columns
            ``"0"``, ``"1"``, ...) or the 0-based row (after the comment lines) holding the names.
        sep: the separator (default: sniffed).
        sampling_rate: Hz; used when the file states no rate and has no time column, and as the hint
            for the time column's unit.
        time_column: name or index of the time column; None: found by name; False: none.
        time_unit: ``"auto"``, ``"s"``, ``"ms"``, ``"us"``, ``"ns"``, ``"clock"`` or ``"datetime"``.
        comment: characters that start a comment line above the table.
        require_rate: without any rate, raise (True) or return ``sampling_rate=None``.
        error: the exception type raised for bad input (SignalError; the dataset adapters pass DatasetError).
        warn: also emit the notes with :func:`warnings.warn`.
    """
    from .processing import check_sampling_rate

    path = Path(path)
    source = str(path)
    df, meta = read_frame(path, sep=sep, header=header, comment=comment, error=error)
    if df.empty:
        raise error(f"{source}: the table has no rows")
    notes: list[str] = []
    tcol: str | None = None
    if time_column is not None and time_column is not False and str(time_column).lower() not in ("none", "false", ""):
        tcol = resolve_column(time_column, list(df.columns), source, error)
    elif time_column is None and meta["has_header"]:
        tcol = find_time_column(df.columns) or next(
            (c for c in df.columns if _UNIT_WORDS.get(meta["units"].get(c, "").lower())), None)  # its unit: ms
    row_unit = _UNIT_WORDS.get(meta["units"].get(tcol, "").lower()) if tcol is not None else None
    if time_unit == "auto" and row_unit and not is_time_name(tcol)[1]:
        time_unit = row_unit  # the units row says what the name does not
    numeric = df.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in df.columns if c != tcol and numeric[c].isna().all() and not df[c].isna().all()]
    keep = [c for c in df.columns if c != tcol and c not in bad]
    if columns is not None:
        for c in columns:
            if str(c) in bad:
                raise error(f"{source}: column {c!r} is not numeric (e.g. {df[str(c)].dropna().iloc[0]!r})")
        keep = [resolve_column(c, keep, source, error) for c in columns]
    frame = numeric[keep].astype(np.float64)
    frame.columns = [str(c) for c in frame.columns]
    if not keep:
        raise error(f"{source}: no numeric signal columns (columns: {list(df.columns)})")
    given = float(check_sampling_rate(sampling_rate)) if sampling_rate is not None else None
    hdr = meta["header_rate"]
    t_sec = unit = start = None
    t_rate = None
    if tcol is not None:
        t_sec, unit, start = time_to_seconds(df[tcol], unit=time_unit, nominal=hdr or given, name=tcol,
                                             source=source, error=error, notes=notes)
        t_rate = rate_from_time(t_sec, source=f"{source}: time column {tcol!r}", error=error, notes=notes)
    fs, rate_source = choose_rate(header=hdr, time=t_rate, given=given, source=source, notes=notes,
                                  require=require_rate, error=error,
                                  hint="" if meta["has_header"] else " or name the time column with time_column=")
    if t_sec is not None and fs is not None and len(t_sec) == len(frame):
        cols = {c: frame[c].to_numpy() for c in frame.columns}
        placed = on_time_grid(t_sec, cols, fs, source=f"{source}: time column {tcol!r}", error=error, notes=notes)
        if placed is not cols:
            frame = pd.DataFrame(placed)
            t_sec = np.arange(len(frame)) / fs
    if warn:
        for n in notes:
            warnings.warn(n, stacklevel=3)
    return Table(frame=frame, sampling_rate=fs, rate_source=rate_source, time_column=tcol, time_unit=unit,
                 time=t_sec, start_time=start, header=meta["header"], comments=meta["comments"],
                 has_header=meta["has_header"], non_numeric=bad, comment_lines_in_table=meta["comment_lines_in_table"],
                 warnings=[str(n) for n in notes], source=source, encoding=meta["encoding"], sheet=meta["sheet"],
                 units=_channel_units(list(frame.columns), meta["units"]),
                 time_unit_guess=next((n.guess for n in notes if isinstance(n, _UnitGuess)), None))


_NAME_UNIT = re.compile(r"[(\[]\s*([A-Za-zµμ%°][^()\[\]]{0,11}?)\s*[)\]]\s*$")


def _channel_units(names: "list[str]", row: "dict[str, str]") -> dict[str, str]:
    """Each channel's unit: from the units row, else from its name (``EDA (µS)``, ``ecg [uV]``)."""
    out = {}
    for n in names:
        m = _NAME_UNIT.search(n)
        unit = row.get(n) or (m.group(1) if m else None)
        if unit:
            out[n] = unit
    return out


def is_table_path(path: "str | Path") -> bool:
    """Whether the name ends like a text table (``.csv``, ``.tsv.gz``, ...)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in SHEET_SUFFIXES:
        return True
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in TABLE_SUFFIXES
