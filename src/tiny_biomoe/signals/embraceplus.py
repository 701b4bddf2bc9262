"""Empatica EmbracePlus raw data: the Avro files of a participant (``raw_data/v6/*.avro``).

Each file holds a record with ``rawData``: per sensor ``timestampStart`` (UNIX time in
microseconds), ``samplingFrequency`` (Hz) and the samples: ``eda.values`` (uS, ~4 Hz),
``bvp.values`` (PPG light signal, ~64 Hz), ``temperature.values`` (degC, ~1 Hz), and
``accelerometer`` / ``gyroscope`` with ``x``, ``y``, ``z`` in ADC counts and ``imuParams``
(``physicalMin/Max``, ``digitalMin/Max``: counts x (physical range / digital range) gives g, or
deg/s). ``tags.tagsTimeMicros`` are the wearer's button presses; ``systolicPeaks`` and ``steps``
are derived data, not signals. The cloud writes one file per stretch of recording (about a quarter
of an hour), so a day is a folder of files: read as one recording, each file's samples placed at
its ``timestampStart`` and the pauses between them NaN for the gap policy. A sensor that recorded
nothing (``samplingFrequency`` 0, no values) is left out.

Reading needs ``fastavro`` (``pip install 'tiny-biomoe[io]'``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LimitError, SignalError, require

__all__ = ["read_embraceplus", "is_embraceplus_folder", "EMBRACEPLUS_SENSORS"]

#: rawData key -> (channel names, unit when converted, sample fields)
EMBRACEPLUS_SENSORS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "eda": (("EDA",), "uS", ("values",)),
    "bvp": (("BVP",), "", ("values",)),
    "temperature": (("TEMP",), "degC", ("values",)),
    "accelerometer": (("ACC_x", "ACC_y", "ACC_z"), "g", ("x", "y", "z")),
    "gyroscope": (("GYRO_x", "GYRO_y", "GYRO_z"), "deg/s", ("x", "y", "z")),
}
_SENSOR_LABELS = {"eda": "EDA", "bvp": "BVP", "temperature": "TEMP", "accelerometer": "ACC", "gyroscope": "GYRO"}


@dataclass
class _Chunk:
    start_us: int
    fs: float
    values: np.ndarray  # (samples, channels)
    source: str


def is_embraceplus_folder(path: "str | Path") -> bool:
    """Whether ``path`` is a folder of EmbracePlus Avro files (directly, or in ``raw_data/v6``)."""
    return Path(path).is_dir() and bool(_avro_files(Path(path)))


def _avro_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.glob("*.avro") if p.is_file())
    return files or sorted(p for p in folder.glob("raw_data/*/*.avro") if p.is_file())


def _records(path: Path):
    fastavro = require("fastavro", "io", "Reading Empatica EmbracePlus (.avro) files")
    try:
        with open(path, "rb") as fh:
            yield from fastavro.reader(fh)
    except (ValueError, EOFError, OSError, TypeError, KeyError) as exc:  # fastavro's errors for a damaged file
        raise SignalError(f"{path}: not a readable Avro file ({type(exc).__name__}: {exc}); is it complete?") from exc


def _chunks(path: Path, convert: bool) -> tuple[dict[str, list[_Chunk]], list[int]]:
    found: dict[str, list[_Chunk]] = {}
    tags: list[int] = []
    for rec in _records(path):
        raw = rec.get("rawData") if isinstance(rec, dict) else None
        if not isinstance(raw, dict):
            raise SignalError(f"{path}: an Avro file without 'rawData'; not an EmbracePlus raw data file")
        for key, (_, _, fields) in EMBRACEPLUS_SENSORS.items():
            s = raw.get(key)
            if not isinstance(s, dict):
                continue
            cols = [np.asarray(s.get(f) or [], dtype=np.float64) for f in fields]
            fs = float(s.get("samplingFrequency") or 0.0)
            if fs <= 0 or not cols[0].size:
                continue  # not recorded
            if len({c.size for c in cols}) != 1:
                raise SignalError(f"{path}: {key} has axes of different lengths {[c.size for c in cols]}")
            x = np.stack(cols, axis=1)
            if len(fields) == 3 and convert:
                x = x * _imu_scale(s.get("imuParams"), path, key)
            start = s.get("timestampStart")
            if not isinstance(start, (int, float)) or isinstance(start, bool):
                raise SignalError(f"{path}: {key} has samples but no timestampStart (UNIX us); the file is damaged")
            found.setdefault(key, []).append(_Chunk(int(start), fs, x, str(path)))
        t = raw.get("tags")
        if isinstance(t, dict):
            tags += [int(v) for v in t.get("tagsTimeMicros") or []]
    return found, tags


def _imu_scale(params: Any, path: Path, key: str) -> float:
    try:
        phys = float(params["physicalMax"]) - float(params["physicalMin"])
        dig = float(params["digitalMax"]) - float(params["digitalMin"])
    except (TypeError, KeyError, ValueError):
        raise SignalError(f"{path}: {key} without 'imuParams' to convert its counts; pass convert=False for the "
                          "counts") from None
    if dig == 0:
        raise SignalError(f"{path}: {key} imuParams have an empty digital range")
    return phys / dig


def _join(chunks: list[_Chunk], key: str, where: str) -> tuple[np.ndarray, float, int, int]:
    """Chunks of one sensor on one time grid: ``(samples, rate, start in us, pauses filled)``."""
    from .tables import MAX_GAP_SAMPLES

    chunks = sorted(chunks, key=lambda c: c.start_us)
    fs = chunks[0].fs
    if any(abs(c.fs - fs) > 1e-6 * fs for c in chunks):
        rates = sorted({c.fs for c in chunks})
        raise SignalError(f"{where}: {key} changes its sampling frequency between files ({rates} Hz); read the files "
                          "of one setting together")
    t0 = chunks[0].start_us
    offsets = [int(round((c.start_us - t0) * fs / 1e6)) for c in chunks]
    total = max(o + c.values.shape[0] for o, c in zip(offsets, chunks))
    if total - sum(c.values.shape[0] for c in chunks) > MAX_GAP_SAMPLES:
        raise LimitError(f"{where}: the files of {key} are too far apart; read the days or sessions separately")
    out = np.full((total, chunks[0].values.shape[1]), np.nan)
    end, pauses, overlap = 0, 0, 0
    for o, c in zip(offsets, chunks):
        if o > end:
            pauses += 1
        overlap = max(overlap, end - o)
        out[o:o + c.values.shape[0]] = c.values
        end = max(end, o + c.values.shape[0])
    if overlap > 1:  # a sample of clock jitter is normal
        warnings.warn(f"{where}: {key} files overlap by up to {overlap / fs:g} s; the later file's samples were kept",
                      stacklevel=4)
    return out, fs, t0, pauses


def read_embraceplus(path: "str | Path", *, convert: bool = True, **_: Any):
    """Read one EmbracePlus ``.avro`` file, or a folder of them, into a :class:`~tiny_biomoe.signals.Recording`.

    Channels ``EDA``, ``BVP``, ``TEMP``, ``ACC_x/y/z`` and ``GYRO_x/y/z`` (those recorded), each at its
    own rate; ``info["start_time"]`` is each channel's UNIX start in seconds, ``info["tags"]`` the
    button presses in UNIX seconds.
    """
    from .readers import Recording

    path = Path(path)
    files = _avro_files(path) if path.is_dir() else [path]
    if not files:
        raise SignalError(f"{path}: no .avro files (an EmbracePlus participant's raw_data/v6 folder holds them)")
    found: dict[str, list[_Chunk]] = {}
    tags: list[int] = []
    for f in files:
        got, t = _chunks(f, convert)
        for k, v in got.items():
            found.setdefault(k, []).extend(v)
        tags += t
    if not found:
        raise SignalError(f"{path}: EmbracePlus files without samples of any sensor ({', '.join(EMBRACEPLUS_SENSORS)})")
    signals: dict[str, np.ndarray] = {}
    rates: dict[str, float] = {}
    units: dict[str, str] = {}
    starts: dict[str, float] = {}
    converted: dict[str, bool] = {}
    pauses: dict[str, int] = {}
    for key, (names, unit, fields) in EMBRACEPLUS_SENSORS.items():
        if key not in found:
            continue
        x, fs, t0, n_pauses = _join(found[key], key, str(path))
        pauses[key] = n_pauses
        for j, n in enumerate(names):
            signals[n], rates[n], starts[n] = np.ascontiguousarray(x[:, j]), fs, t0 / 1e6
            units[n] = unit if (len(fields) == 1 or convert) else "counts"
            if len(fields) == 3:
                converted[n] = convert
    info = {"format": "empatica-embraceplus", "sampling_rate_from": "header", "start_time": starts,
            "converted": converted, "sensors": {n: _SENSOR_LABELS[k] for k in found for n in EMBRACEPLUS_SENSORS[k][0]},
            "files": len(files), "pauses_filled": pauses, "tags": sorted(t / 1e6 for t in tags)}
    return Recording(signals, rates, str(path), units={n: u for n, u in units.items() if u}, info=info)
