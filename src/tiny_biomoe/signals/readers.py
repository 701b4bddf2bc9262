"""Readers: CSV/TSV, NumPy .npy/.npz, EDF/BDF (pyedflib), WFDB (wfdb) and in-memory arrays.

Every reader returns a :class:`Recording`: named 1-D float64 channels plus their sampling
rate(s). EDF/BDF and WFDB need the optional extra ``io`` (``pip install 'tiny-biomoe[io]'``).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._validate import check_input_file, check_npy_file, check_npz_file, check_wfdb_rate
from ..errors import SignalError, require
from .modalities import MODALITY_ALIASES, get_modality
from .processing import check_sampling_rate

__all__ = ["Recording", "read_signal", "TIME_COLUMN_NAMES", "SUPPORTED_SUFFIXES"]

#: Column names (case-insensitive) recognised as a time axis in seconds.
TIME_COLUMN_NAMES = ("time", "t", "time_s", "seconds", "sec", "timestamp", "timestamp_s")
#: Column names (case-insensitive) recognised as a time axis in milliseconds.
TIME_COLUMN_NAMES_MS = ("time_ms", "timestamp_ms", "ms")
#: File suffixes :func:`read_signal` understands.
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".npy", ".npz", ".edf", ".bdf", ".hea", ".dat")


@dataclass
class Recording:
    """Named channels of one recording.

    Attributes:
        signals: channel name -> 1-D float64 array.
        sampling_rate: one rate (Hz) for all channels, or a dict channel -> rate.
        source: where it came from (path, or ``"<array>"``).
        units: channel -> physical unit, where the file says.
        info: anything else the reader found (e.g. how the rate was obtained).
    """

    signals: dict[str, np.ndarray]
    sampling_rate: float | dict[str, float]
    source: str
    units: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def channels(self) -> list[str]:
        """Channel names in file order."""
        return list(self.signals)

    def rate(self, channel: str) -> float:
        """Sampling rate (Hz) of ``channel``."""
        if isinstance(self.sampling_rate, Mapping):
            return float(self.sampling_rate[channel])
        return float(self.sampling_rate)

    def duration(self, channel: str | None = None) -> float:
        """Length in seconds of ``channel`` (default: the first)."""
        name = channel or self.channels[0]
        return self.signals[name].size / self.rate(name)

    def pick(self, column: "str | int | None" = None, modality: str | None = None) -> tuple[str, np.ndarray, float]:
        """Choose one channel: by name/index, else the only one, else the one named like ``modality``.

        Returns ``(name, samples, sampling_rate)``; ambiguity is a SignalError listing the channels.
        """
        names = self.channels
        if not names:
            raise SignalError(f"{self.source}: no signal channels found")
        if column is not None:
            name = _resolve_column(column, names, self.source)
            return name, self.signals[name], self.rate(name)
        if len(names) == 1:
            return names[0], self.signals[names[0]], self.rate(names[0])
        if modality is not None:
            canon = get_modality(modality).name
            wanted = {canon} | {a for a, c in MODALITY_ALIASES.items() if c == canon}
            hits = [n for n in names if n.strip().lower().replace(" ", "_") in wanted]
            if len(hits) == 1:
                return hits[0], self.signals[hits[0]], self.rate(hits[0])
        raise SignalError(
            f"{self.source} has several channels {names}; choose one with column= (CLI: --column NAME or INDEX)"
        )


def _resolve_column(column: "str | int", names: Sequence[str], source: str) -> str:
    if isinstance(column, (int, np.integer)) or (isinstance(column, str) and column.strip().lstrip("-").isdigit()):
        if isinstance(column, str) and column in names:
            return column
        i = int(column)
        if not -len(names) <= i < len(names):
            raise SignalError(f"{source}: column index {i} out of range; channels are {list(names)}")
        return names[i]
    if column in names:
        return str(column)
    low = {n.lower(): n for n in names}
    if str(column).lower() in low:
        return low[str(column).lower()]
    raise SignalError(f"{source}: no column {column!r}; available: {list(names)}")


def _rate_from_time(t: np.ndarray, source: str) -> float:
    t = np.asarray(t, dtype=np.float64)
    t = t[np.isfinite(t)]
    if t.size < 2:
        raise SignalError(f"{source}: the time column has fewer than 2 values; pass the sampling rate instead")
    dt = np.diff(t)
    step = float(np.median(dt))
    if step <= 0:
        raise SignalError(f"{source}: the time column does not increase; pass the sampling rate (--fs) instead")
    if np.max(np.abs(dt - step)) > 0.01 * step + 1e-12:
        warnings.warn(f"{source}: time column is irregular; using its median step {step:g} s", stacklevel=3)
        return 1.0 / step
    # regular: average over the whole span, then drop float noise from the text representation
    # of the times (e.g. 100.00000000000213 Hz -> 100 Hz); 10 significant digits is far finer
    # than any time column's resolution.
    return float(f"{(t.size - 1) / (t[-1] - t[0]):.10g}")


def _finish(
    signals: dict[str, np.ndarray],
    time: np.ndarray | None,
    sampling_rate: float | None,
    source: str,
    columns: Sequence["str | int"] | None,
    info: dict[str, Any],
    time_unit: float = 1.0,
) -> Recording:
    if columns is not None:
        names = list(signals)
        chosen = [_resolve_column(c, names, source) for c in columns]
        signals = {n: signals[n] for n in chosen}
    if sampling_rate is not None:
        fs = check_sampling_rate(sampling_rate)
        info["sampling_rate_from"] = "given"
        if time is not None:
            ft = _rate_from_time(np.asarray(time) * time_unit, source)
            if abs(ft - fs) > 0.01 * fs:
                warnings.warn(
                    f"{source}: given sampling rate {fs:g} Hz differs from the time column's {ft:g} Hz; "
                    "using the given rate",
                    stacklevel=3,
                )
    elif time is not None:
        fs = check_sampling_rate(_rate_from_time(np.asarray(time) * time_unit, source))
        info["sampling_rate_from"] = "time column"
    else:
        raise SignalError(f"{source}: no time column and no sampling rate; pass sampling_rate= (CLI: --fs HZ)")
    if not signals:
        raise SignalError(f"{source}: no signal columns found")
    return Recording({k: np.asarray(v, dtype=np.float64) for k, v in signals.items()}, fs, source, info=info)


def _read_table(path: Path, sep: str | None, columns, sampling_rate, time_column, time_unit) -> Recording:
    import pandas as pd

    source = str(path)
    try:
        head = pd.read_csv(path, sep=sep, engine="python" if sep is None else "c", nrows=5, header=None)
    except Exception as exc:  # pandas raises many types for malformed text
        raise SignalError(f"{source}: cannot read as a delimited table ({exc}); check the file format") from exc
    first = head.iloc[0].astype(str).tolist() if len(head) else []
    has_header = not all(_is_number(v) for v in first)
    try:
        df = pd.read_csv(path, sep=sep, engine="python" if sep is None else "c", header=0 if has_header else None)
    except Exception as exc:
        raise SignalError(f"{source}: cannot read as a delimited table ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise SignalError(f"{source}: the table has no rows")
    tcol = None
    if time_column is not None and time_column is not False:
        tcol = _resolve_column(time_column, list(df.columns), source)
    elif time_column is None and has_header:
        tcol = next((c for c in df.columns if c.lower() in TIME_COLUMN_NAMES + TIME_COLUMN_NAMES_MS), None)
        if tcol is not None and tcol.lower() in TIME_COLUMN_NAMES_MS:
            time_unit = 1e-3
    numeric = df.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in df.columns if c != tcol and numeric[c].isna().all() and not df[c].isna().all()]
    signals = {c: numeric[c].to_numpy(np.float64) for c in df.columns if c != tcol and c not in bad}
    if columns is not None:
        for c in columns:
            if str(c) in bad:
                raise SignalError(f"{source}: column {c!r} is not numeric")
    time = numeric[tcol].to_numpy(np.float64) if tcol is not None else None
    info = {"format": "table", "time_column": tcol, "non_numeric_columns": bad}
    return _finish(signals, time, sampling_rate, source, columns, info, time_unit)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return s.strip().lower() in ("nan", "")


def _array_channels(arr: np.ndarray, source: str, prefix: str = "ch") -> dict[str, np.ndarray]:
    arr = np.asarray(arr)
    if arr.dtype.names:  # structured array: fields are channels
        return {n: np.asarray(arr[n], dtype=np.float64) for n in arr.dtype.names}
    if np.iscomplexobj(arr):  # casting would silently drop the imaginary part
        raise SignalError(f"{source}: complex values ({arr.dtype}); pass the real part, np.abs or np.angle explicitly")
    if not np.issubdtype(arr.dtype, np.number):
        raise SignalError(f"{source}: array of dtype {arr.dtype} is not numeric")
    if arr.ndim == 1:
        return {f"{prefix}0": arr.astype(np.float64)}
    if arr.ndim != 2:
        raise SignalError(f"{source}: expected a 1-D or 2-D array (channels, samples), got shape {arr.shape}")
    # (channels, samples) per the package convention; a taller-than-wide array is (samples, channels)
    if arr.shape[0] > arr.shape[1]:
        arr = arr.T
    return {f"{prefix}{i}": row.astype(np.float64) for i, row in enumerate(arr)}


def _read_npz(path: Path, columns, sampling_rate, time_column) -> Recording:
    source = str(path)
    check_npz_file(path, error=SignalError)  # a renamed .npy, a zip bomb, a header claiming terabytes
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise SignalError(f"{source}: not a plain numeric .npz file ({exc})") from exc
    fs = sampling_rate
    for key in ("sampling_rate", "fs", "sfreq"):
        if key in data and np.ndim(data[key]) == 0:
            val = float(data.pop(key))
            fs = fs if fs is not None else val
    if time_column is False:
        tkey = None
    elif isinstance(time_column, str):
        tkey = time_column
    else:
        tkey = next((k for k in data if k.lower() in TIME_COLUMN_NAMES and np.ndim(data[k]) == 1), None)
    time = data.pop(tkey) if tkey in data else None
    signals: dict[str, np.ndarray] = {}
    for k, v in data.items():
        chans = _array_channels(v, f"{source}:{k}", prefix=f"{k}_")
        signals.update({k: next(iter(chans.values()))} if len(chans) == 1 else chans)
    return _finish(signals, time, fs, source, columns, {"format": "npz"})


def _read_edf(path: Path, columns, sampling_rate) -> Recording:
    pyedflib = require("pyedflib", "io", "Reading EDF/BDF files")
    source = str(path)
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise SignalError(f"{source}: not a readable EDF/BDF file ({exc})") from exc
    try:
        labels = [s.strip() or f"ch{i}" for i, s in enumerate(reader.getSignalLabels())]
        signals = {lab: reader.readSignal(i) for i, lab in enumerate(labels)}
        rates = {lab: float(reader.getSampleFrequency(i)) for i, lab in enumerate(labels)}
        units = {lab: reader.getPhysicalDimension(i).strip() for i, lab in enumerate(labels)}
    finally:
        reader.close()
    rec = Recording(signals, rates, source, units=units, info={"format": "edf", "sampling_rate_from": "header"})
    return _select(rec, columns, sampling_rate)


def _read_wfdb(path: Path, columns, sampling_rate) -> Recording:
    wfdb = require("wfdb", "io", "Reading WFDB (PhysioNet) records")
    source = str(path)
    record_name = str(path.with_suffix("")) if path.suffix in (".hea", ".dat") else str(path)
    check_wfdb_rate(Path(record_name + ".hea"), error=SignalError)  # wfdb reads fs=-100 as 250 Hz
    try:
        rec = wfdb.rdrecord(record_name)
    except Exception as exc:  # wfdb raises assorted types on bad headers
        raise SignalError(f"{source}: not a readable WFDB record ({exc})") from exc
    names = [str(n) for n in (rec.sig_name or [f"ch{i}" for i in range(rec.n_sig)])]
    signals = {n: rec.p_signal[:, i].astype(np.float64) for i, n in enumerate(names)}
    units = {n: str(u) for n, u in zip(names, rec.units or [])}
    out = Recording(signals, float(rec.fs), source, units=units, info={"format": "wfdb", "sampling_rate_from": "header"})
    return _select(out, columns, sampling_rate)


def _select(rec: Recording, columns, sampling_rate) -> Recording:
    rec = dataclasses.replace(rec, info=dict(rec.info))  # a caller's Recording stays as it was
    if columns is not None:
        chosen = [_resolve_column(c, rec.channels, rec.source) for c in columns]
        rec.signals = {n: rec.signals[n] for n in chosen}
        if isinstance(rec.sampling_rate, dict):
            rec.sampling_rate = {n: rec.sampling_rate[n] for n in chosen}
    if sampling_rate is not None:
        rec.sampling_rate = check_sampling_rate(sampling_rate)
        rec.info["sampling_rate_from"] = "given (overrides header)"
    elif isinstance(rec.sampling_rate, dict) and len(set(rec.sampling_rate.values())) == 1:
        rec.sampling_rate = next(iter(rec.sampling_rate.values()))
    return rec


def read_signal(
    source: "str | os.PathLike | np.ndarray | Mapping[str, Any] | Recording",
    *,
    columns: "Sequence[str | int] | str | int | None" = None,
    sampling_rate: float | None = None,
    time_column: "str | int | bool | None" = None,
    time_unit: str = "s",
    format: str | None = None,
) -> Recording:
    """Read a recording from a file or an in-memory array.

    Args:
        source: path to ``.csv``/``.tsv``/``.txt``, ``.npy``/``.npz``, ``.edf``/``.bdf``, a WFDB record
            (``.hea``/``.dat`` or the record name); or a NumPy array ``(samples,)`` / ``(channels, samples)``,
            a dict name -> 1-D array, or a :class:`Recording` (returned as is after selection).
        columns: channels to keep, by name or 0-based index (of the non-time columns).
        sampling_rate: Hz; required unless the file has a time column or a header with the rate.
        time_column: name/index of a time column (seconds); ``None`` auto-detects names such as
            ``time``/``timestamp`` (seconds) or ``time_ms``/``timestamp_ms`` (milliseconds);
            ``False`` disables detection.
        time_unit: unit of the time column: ``"s"`` or ``"ms"``.
        format: force a format (``"csv"``, ``"tsv"``, ``"npy"``, ``"npz"``, ``"edf"``, ``"wfdb"``).
    """
    if isinstance(columns, (str, int)):
        columns = [columns]
    if time_unit not in ("s", "ms"):
        raise SignalError(f"time_unit must be 's' or 'ms', got {time_unit!r}")
    tu = 1e-3 if time_unit == "ms" else 1.0
    if isinstance(source, Recording):
        return _select(source, columns, sampling_rate)
    if isinstance(source, np.ndarray) or (isinstance(source, (list, tuple)) and not isinstance(source, str)):
        signals = _array_channels(np.asarray(source), "<array>")
        return _finish(signals, None, sampling_rate, "<array>", columns, {"format": "array"})
    if isinstance(source, Mapping):
        signals = {str(k): np.asarray(v, dtype=np.float64) for k, v in source.items()}
        return _finish(signals, None, sampling_rate, "<dict>", columns, {"format": "dict"})
    if not isinstance(source, (str, os.PathLike)):  # pandas, NeuroKit2, MNE Raw; other types: a hint how to convert
        from .inmemory import as_recording

        tc = time_column if time_column is None or time_column is False else time_column
        return as_recording(source, column=columns, sampling_rate=sampling_rate, time_column=tc)
    path = Path(source)
    if path.exists() and not path.is_dir():  # before anything opens it: a FIFO would block forever
        check_input_file(path, what="input file", error=SignalError)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt in ("hea", "dat"):
        fmt = "wfdb"
    if fmt == "" and path.with_suffix(".hea").exists():
        fmt = "wfdb"
    if fmt != "wfdb" and not path.exists():
        raise SignalError(f"input file {str(path)!r} does not exist")
    if fmt == "wfdb" and not path.with_suffix(".hea").exists():
        raise SignalError(f"WFDB header {str(path.with_suffix('.hea'))!r} does not exist")
    if fmt in ("csv", "tsv", "txt"):
        sep = {"csv": ",", "tsv": "\t"}.get(fmt)
        return _read_table(path, sep, columns, sampling_rate, time_column, tu)
    if fmt == "npy":
        check_npy_file(path, error=SignalError)  # empty, complex, strings, a header claiming terabytes
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise SignalError(f"{path}: not a plain numeric .npy file ({exc})") from exc
        return _finish(_array_channels(arr, str(path)), None, sampling_rate, str(path), columns, {"format": "npy"})
    if fmt == "npz":
        return _read_npz(path, columns, sampling_rate, time_column)
    if fmt in ("edf", "bdf"):
        return _read_edf(path, columns, sampling_rate)
    if fmt == "wfdb":
        return _read_wfdb(path, columns, sampling_rate)
    raise SignalError(
        f"{path}: unknown file type {path.suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)} "
        "(or pass format=)"
    )
