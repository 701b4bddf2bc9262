"""Readers: CSV/TSV, NumPy .npy/.npz, EDF/BDF (pyedflib), WFDB (wfdb) and in-memory arrays.

Every reader returns a :class:`Recording`: named 1-D float64 channels plus their sampling
rate(s). EDF/BDF and WFDB need the optional extra ``io`` (``pip install 'tiny-biomoe[io]'``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .._validate import check_input_file, check_npy_file, check_npz_file, check_wfdb_rate
from ..errors import SignalError, require
from .modalities import get_modality, modality_from_name
from .processing import check_sampling_rate
from .tables import (TIME_UNITS, choose_rate, guessed_unit_hint, is_table_path, on_time_grid, rate_from_time, read_table,
                     resolve_column)

__all__ = ["Recording", "read_signal", "detect_format", "FORMATS", "TIME_COLUMN_NAMES", "SUPPORTED_SUFFIXES"]

#: Column names (case-insensitive) recognised as a time axis in seconds.
TIME_COLUMN_NAMES = ("time", "t", "time_s", "seconds", "sec", "timestamp", "timestamp_s")
#: Column names (case-insensitive) recognised as a time axis in milliseconds.
TIME_COLUMN_NAMES_MS = ("time_ms", "timestamp_ms", "ms")
#: File suffixes :func:`read_signal` understands.
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".bz2", ".npy", ".npz", ".edf", ".bdf", ".hea", ".dat", ".h5",
                      ".hdf5", ".zip", ".xdf", ".xdfz", ".acq", ".fif", ".avro", ".vhdr", ".xlsx", ".xlsm", ".xls", ".ods")


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

    def channel_modalities(self) -> dict[str, str | None]:
        """Channel -> the modality it measures, from the file's sensor labels (``info["sensors"]``, e.g. PLUX
        ``EDABITREV``) where it has them, else from the channel name (``eda``, ``GSR``, ``PPG`` ...); None: unknown."""
        from .plux import sensor_modality

        sensors = self.info.get("sensors") or {}
        given = self.info.get("modalities") or {}
        out: dict[str, str | None] = {}
        for n in self.channels:
            mod = given.get(n) or sensor_modality(sensors.get(n))
            if mod is None and n not in sensors:
                mod = modality_from_name(n)
            out[n] = mod
        return out

    def pick(self, column: "str | int | None" = None, modality: str | None = None) -> tuple[str, np.ndarray, float]:
        """Choose one channel: by name/index, else the only one, else the one named like ``modality``.

        Returns ``(name, samples, sampling_rate)``; ambiguity is a SignalError listing the channels.
        """
        names = self.channels
        if not names:
            raise SignalError(f"{self.source}: no signal channels found")
        canon = get_modality(modality).name if modality is not None else None
        if column is not None:
            name = _resolve_column(column, names, self.source)
            other = self.channel_modalities().get(name)
            if canon is not None and other is not None and other != canon:
                warnings.warn(f"{self.source}: channel {name!r} is labelled {other}, used as {canon} as asked "
                              "(column=, CLI --column)", stacklevel=2)
            return name, self.signals[name], self.rate(name)
        if len(names) == 1:
            other = self.channel_modalities().get(names[0])
            if canon is not None and other is not None and other != canon:
                raise SignalError(f"{self.source}: its only channel {names[0]!r} is labelled {other}, not {canon}; "
                                  f"pass modality={other!r} (CLI --modality {other}), or column={names[0]!r} (CLI "
                                  f"--column {names[0]}) to use it as {canon} anyway")
            return names[0], self.signals[names[0]], self.rate(names[0])
        if canon is not None:
            mods = self.channel_modalities()
            hits = [n for n in names if mods.get(n) == canon]
            if len(hits) == 1:
                return hits[0], self.signals[hits[0]], self.rate(hits[0])
            if len(hits) > 1:
                raise SignalError(f"{self.source}: several channels are {canon}: {hits}; choose one with column= "
                                  "(CLI: --column NAME or INDEX)")
        raise SignalError(
            f"{self.source} has several channels {names}; choose one with column= (CLI: --column NAME or INDEX)"
        )


@contextlib.contextmanager
def time_unit_hint(rec: "Recording") -> Iterator[None]:
    """Inside: an error that the recording is too short names ``--time-unit`` when the unit of the
    time column that gave its rate was guessed (1 Hz SpO2 stamped 0, 1, 2, ... reads as 1 kHz)."""
    try:
        yield
    except SignalError as exc:
        hint = guessed_unit_hint(rec.info) if "shorter than" in str(exc) else ""
        if not hint:
            raise
        raise SignalError(f"{exc}{hint}") from exc


def _resolve_column(column: "str | int", names: Sequence[str], source: str) -> str:
    return resolve_column(column, names, source, SignalError)


def _rate_from_time(t: np.ndarray, source: str) -> float:
    """Rate of a time axis in seconds (see :func:`tiny_biomoe.signals.tables.rate_from_time`); notes are warnings."""
    notes: list[str] = []
    fs = rate_from_time(np.asarray(t, dtype=np.float64), source=f"{source}: time column", notes=notes)
    for n in notes:
        warnings.warn(n, stacklevel=3)
    return fs


def _finish(
    signals: dict[str, np.ndarray],
    time: np.ndarray | None,
    sampling_rate: float | None,
    source: str,
    columns: Sequence["str | int"] | None,
    info: dict[str, Any],
    header_rate: float | None = None,
) -> Recording:
    """Channels + the package's rate precedence (header, time axis in seconds, given; see signals.tables)."""
    if columns is not None:
        names = list(signals)
        chosen = [_resolve_column(c, names, source) for c in columns]
        signals = {n: signals[n] for n in chosen}
    notes: list[str] = []
    t_rate = None
    if time is not None:
        t_rate = rate_from_time(np.asarray(time, dtype=np.float64), source=f"{source}: time", notes=notes)
    given = check_sampling_rate(sampling_rate) if sampling_rate is not None else None
    fs, where = choose_rate(header=header_rate, time=t_rate, given=given, source=source, notes=notes)
    info["sampling_rate_from"] = where
    if time is not None and fs is not None and all(len(v) == len(time) for v in signals.values()):
        signals = on_time_grid(time, signals, fs, source=f"{source}: time", notes=notes)
    for n in notes:
        warnings.warn(n, stacklevel=3)
    if not signals:
        raise SignalError(f"{source}: no signal columns found")
    return Recording({k: np.asarray(v, dtype=np.float64) for k, v in signals.items()}, fs, source, info=info)


def _read_table(path: Path, sep: str | None, columns, sampling_rate, time_column, time_unit: str) -> Recording:
    """Delimited text through the one table reader (:func:`tiny_biomoe.signals.tables.read_table`)."""
    tab = read_table(path, columns=columns, sep=sep, sampling_rate=sampling_rate, time_column=time_column,
                     time_unit=time_unit)
    signals = {c: tab.frame[c].to_numpy(np.float64) for c in tab.frame.columns}
    return Recording(signals, tab.sampling_rate, str(path), units=dict(tab.units), info=tab.info())


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
    header_rate = None
    for key in ("sampling_rate", "fs", "sfreq"):
        if key in data and np.ndim(data[key]) == 0:
            val = float(data.pop(key))
            header_rate = header_rate if header_rate is not None else val
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
    return _finish(signals, time, sampling_rate, source, columns, {"format": "npz"}, header_rate=header_rate)


def _read_edf(path: Path, columns, sampling_rate) -> Recording:
    pyedflib = require("pyedflib", "io", "Reading EDF/BDF files")
    source = str(path)
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise SignalError(f"{source}: not a readable EDF/BDF file ({exc})") from exc
    try:
        labels = unique_names([s.strip() or f"ch{i}" for i, s in enumerate(reader.getSignalLabels())])
        signals = {lab: reader.readSignal(i) for i, lab in enumerate(labels)}
        rates = {lab: float(reader.getSampleFrequency(i)) for i, lab in enumerate(labels)}
        units = {lab: reader.getPhysicalDimension(i).strip() for i, lab in enumerate(labels)}
        onsets, durations, texts = reader.readAnnotations()
        try:
            start = reader.getStartdatetime().isoformat()
        except (ValueError, OSError):  # a header date pyedflib cannot make a datetime of
            start = None
    finally:
        reader.close()
    annotations = [{"onset": float(o), "duration": max(float(d), 0.0), "label": str(t).strip()}
                   for o, d, t in zip(onsets, durations, texts)]  # EDF+ writes -1 for "no duration"
    info = {"format": "edf", "sampling_rate_from": "header", "start_time": start, "annotations": annotations}
    rec = Recording(signals, rates, source, units=units, info=info)
    return _select(rec, columns, sampling_rate)


def unique_names(names: Sequence[str]) -> list[str]:
    """Channel names made unique in file order: a repeated ``EMG`` becomes ``EMG (2)``, ``EMG (3)``...
    (EDF and WFDB allow repeated labels; a dict of channels would keep only the last one)."""
    seen: dict[str, int] = {}
    taken = set(names)
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        if seen[n] == 1:
            out.append(n)
            continue
        k = seen[n]
        while f"{n} ({k})" in taken:
            k += 1
        out.append(f"{n} ({k})")
        taken.add(out[-1])
    return out


def _read_wfdb(path: Path, columns, sampling_rate) -> Recording:
    wfdb = require("wfdb", "io", "Reading WFDB (PhysioNet) records")
    source = str(path)
    record_name = str(path.with_suffix("")) if path.suffix in (".hea", ".dat") else str(path)
    check_wfdb_rate(Path(record_name + ".hea"), error=SignalError)  # wfdb reads fs=-100 as 250 Hz
    try:
        rec = wfdb.rdrecord(record_name)
    except Exception as exc:  # wfdb raises assorted types on bad headers
        raise SignalError(f"{source}: not a readable WFDB record ({exc})") from exc
    names = unique_names([str(n) for n in (rec.sig_name or [f"ch{i}" for i in range(rec.n_sig)])])
    signals = {n: rec.p_signal[:, i].astype(np.float64) for i, n in enumerate(names)}
    units = {n: str(u) for n, u in zip(names, rec.units or [])}
    out = Recording(signals, float(rec.fs), source, units=units, info={"format": "wfdb", "sampling_rate_from": "header"})
    return _select(out, columns, sampling_rate)


def _select(rec: Recording, columns, sampling_rate, *, override: bool = False) -> Recording:
    """Keep ``columns``; a given rate overrides only an in-memory Recording (``override``): for a file, the
    header's rate wins and a disagreeing given rate is a warning (the package's one precedence)."""
    rec = dataclasses.replace(rec, info=dict(rec.info), signals=dict(rec.signals),
                              sampling_rate=dict(rec.sampling_rate) if isinstance(rec.sampling_rate, dict)
                              else rec.sampling_rate, units=dict(rec.units))
    if columns is not None:
        chosen = [_resolve_column(c, rec.channels, rec.source) for c in columns]
        rec.signals = {n: rec.signals[n] for n in chosen}
        rec.units = {n: u for n, u in rec.units.items() if n in chosen}
        if isinstance(rec.sampling_rate, dict):
            rec.sampling_rate = {n: rec.sampling_rate[n] for n in chosen}
    if sampling_rate is not None:
        fs = check_sampling_rate(sampling_rate)
        if override:
            rec.sampling_rate = fs
            rec.info["sampling_rate_from"] = "given"
        else:
            rates = set(rec.sampling_rate.values()) if isinstance(rec.sampling_rate, dict) else {rec.sampling_rate}
            for r in rates:
                choose_rate(header=float(r), given=fs, source=rec.source, notes=(notes := []))
                for n in notes:
                    warnings.warn(n, stacklevel=3)
    if isinstance(rec.sampling_rate, dict) and len(set(rec.sampling_rate.values())) == 1:
        rec.sampling_rate = next(iter(rec.sampling_rate.values()))
    return rec


#: reader name -> (module, function); every function takes ``(path, **options)`` and returns a Recording
_FORMAT_READERS = {
    "opensignals": ("plux", "read_opensignals_text"),
    "opensignals-h5": ("plux", "read_opensignals_h5"),
    "empatica": ("empatica", "read_empatica"),
    "bids": ("bids", "read_bids_physio"),
    "xdf": ("xdf", "read_xdf"),
    "acq": ("biopac", "read_acq"),
    "fif": ("mne_io", "read_fif"),
    "labchart": ("labchart", "read_labchart_text"),
    "embraceplus": ("embraceplus", "read_embraceplus"),
    "brainvision": ("mne_io", "read_brainvision"),
    "unisens": ("unisens", "read_unisens"),
}
#: formats :func:`read_signal` understands (``format=``)
FORMATS = ("table", "npy", "npz", "edf", "wfdb", *_FORMAT_READERS)


def detect_format(path: "str | os.PathLike") -> str:
    """The format of ``path`` from its name and first bytes (one of :data:`FORMATS`); SignalError if unknown."""
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        from .empatica import is_empatica_folder

        if is_empatica_folder(path):
            return "empatica"
        from .embraceplus import is_embraceplus_folder
        from .unisens import is_unisens_folder

        if is_embraceplus_folder(path):
            return "embraceplus"
        if is_unisens_folder(path):
            return "unisens"
        raise SignalError(f"{path} is a folder; point at a file (or at an Empatica E4 session folder holding "
                          "EDA.csv, BVP.csv, ..., a folder of EmbracePlus .avro files, or a Unisens folder with "
                          "unisens.xml)")
    suffix = path.suffix.lower()
    if name == "unisens.xml":
        return "unisens"
    if suffix in (".hea", ".dat") or (suffix == "" and path.with_suffix(".hea").exists()):
        return "wfdb"
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise SignalError(f"cannot open {path}: {exc}") from exc
    if name.endswith((".fif", ".fif.gz")):
        return "fif"
    if suffix in (".xdf", ".xdfz") or head[:4] == b"XDF:":
        return "xdf"
    if suffix == ".acq":
        return "acq"
    if suffix == ".avro":
        return "embraceplus"
    if suffix == ".vhdr":
        return "brainvision"
    if suffix in (".h5", ".hdf5") or head[:8] == b"\x89HDF\r\n\x1a\n":
        return "opensignals-h5"
    if suffix == ".npy":
        return "npy"
    if suffix == ".npz":
        return "npz"
    if suffix in (".edf", ".bdf"):
        return "edf"
    if suffix == ".zip":
        from .empatica import is_empatica_zip

        return "empatica" if is_empatica_zip(path) else "table"
    if name.endswith(("_physio.tsv.gz", "_physio.tsv")):
        return "bids"
    if is_table_path(path):
        if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
            from .tables import open_text  # compressed text: look at its first decompressed bytes

            try:
                with open_text(path) as fh:
                    head = fh.read(64).encode("utf-8", "replace")
            except (OSError, EOFError, ValueError):
                pass  # a broken archive: the table reader names the problem
        if head.lstrip().startswith(b"# OpenSignals"):
            return "opensignals"
        from .empatica import is_empatica_csv
        from .labchart import is_labchart_text

        if is_empatica_csv(path):
            return "empatica"
        if is_labchart_text(path):
            return "labchart"
        return "table"
    raise SignalError(
        f"{path}: unknown file type {path.suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)} "
        "(or pass format=)"
    )


def _validate_loaded(rec: Recording) -> Recording:
    """Checks every file reader's result passes through (a hook for input hardening)."""
    return rec


def read_signal(
    source: "str | os.PathLike | np.ndarray | Mapping[str, Any] | Recording",
    *,
    columns: "Sequence[str | int] | str | int | None" = None,
    sampling_rate: float | None = None,
    time_column: "str | int | bool | None" = None,
    time_unit: str = "auto",
    format: str | None = None,
    convert: bool = True,
) -> Recording:
    """Read a recording from a file or an in-memory array.

    Args:
        source: a file: text table ``.csv``/``.tsv``/``.txt`` (also ``.gz``/``.bz2``), a spreadsheet
            ``.xlsx``/``.xls``/``.ods`` (its first sheet with data, read as a table), ``.npy``/``.npz``,
            ``.edf``/``.bdf``, a WFDB record (``.hea``/``.dat`` or the record name), PLUX OpenSignals
            ``.txt``/``.h5``, an Empatica E4 session (folder or ``.zip``, or one of its CSVs), BIDS
            ``*_physio.tsv.gz`` (with its JSON sidecar), ``.xdf``, BIOPAC ``.acq``, MNE ``.fif``, a LabChart
            text export ``.txt``, Empatica EmbracePlus ``.avro`` (a file or a folder of them), BrainVision
            ``.vhdr``, a Unisens folder (movisens); or a NumPy
            array ``(samples,)`` / ``(channels, samples)``, a dict name -> 1-D array, or a :class:`Recording`.
        columns: channels to keep, by name or 0-based index (of the non-time columns).
        sampling_rate: Hz; used when the file states none (the file's header rate, then its time column,
            come first; a disagreeing given rate is a warning, see :mod:`tiny_biomoe.signals.tables`).
            For a :class:`Recording` or an array it is the rate.
        time_column: name/index of a time column; ``None`` auto-detects names such as ``time``,
            ``timestamp``, ``sec``, ``time_ms``; ``False`` disables detection.
        time_unit: unit of the time column: ``"auto"`` (from its name or values), ``"s"``, ``"ms"``,
            ``"us"``, ``"ns"``, ``"clock"`` or ``"datetime"``.
        format: force a format (one of :data:`FORMATS`, or ``"csv"``/``"tsv"``).
        convert: convert raw ADC values (PLUX files) or SI units (MNE, E4 ACC) to physical units where the
            sensor is known (``info["converted"]`` says what was done).
    """
    if isinstance(columns, (str, int)):
        columns = [columns]
    if time_unit not in ("auto", *TIME_UNITS, "clock", "datetime"):
        raise SignalError(f"time_unit must be 'auto' or one of {[*TIME_UNITS, 'clock', 'datetime']}, got {time_unit!r}")
    if isinstance(source, Recording):
        return _select(source, columns, sampling_rate, override=True)
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
    fmt = (format or "").lower() or None
    if fmt in ("csv", "tsv", "txt"):
        fmt, sep = "table", {"csv": ",", "tsv": "\t"}.get(fmt)
    else:
        sep = None
    if fmt in ("hea", "dat"):
        fmt = "wfdb"
    if fmt is None:
        if not path.exists() and not path.with_suffix(".hea").exists():
            raise SignalError(f"input file {str(path)!r} does not exist")
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise SignalError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    if fmt != "wfdb" and not path.exists():
        raise SignalError(f"input file {str(path)!r} does not exist")
    if fmt == "wfdb" and not path.with_suffix(".hea").exists():
        raise SignalError(f"WFDB header {str(path.with_suffix('.hea'))!r} does not exist"
                          + (f"; if {path.name} is a text table, name it .csv or .txt (Python: format='csv')"
                             if path.suffix.lower() == ".dat" and path.exists() else ""))
    if fmt == "table":
        rec = _read_table(path, sep, columns, sampling_rate, time_column, time_unit)
    elif fmt == "npy":
        check_npy_file(path, error=SignalError)  # empty, complex, strings, a header claiming terabytes
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise SignalError(f"{path}: not a plain numeric .npy file ({exc})") from exc
        rec = _finish(_array_channels(arr, str(path)), None, sampling_rate, str(path), columns, {"format": "npy"})
    elif fmt == "npz":
        rec = _read_npz(path, columns, sampling_rate, time_column)
    elif fmt == "edf":
        rec = _read_edf(path, columns, sampling_rate)
    elif fmt == "wfdb":
        rec = _read_wfdb(path, columns, sampling_rate)
    else:
        import importlib

        mod, fn = _FORMAT_READERS[fmt]
        reader = getattr(importlib.import_module(f"{__package__}.{mod}"), fn)
        rec = _select(reader(path, convert=convert, time_unit=time_unit), columns, sampling_rate)
    return _validate_loaded(rec)
