"""Unisens recordings (unisens.org; movisens EdaMove, EcgMove and other sensors): a folder holding
``unisens.xml`` and one data file per entry.

``unisens.xml`` (namespace ``http://www.unisens.org/unisens2.0``, also read without it) has a root
``<unisens timestampStart="2024-05-06T10:00:00.000" ...>`` and entries:

* ``<signalEntry id="eda.bin" dataType="int16" sampleRate="32" lsbValue="0.001" baseline="0"
  unit="uS" contentClass="EDA">`` with ``<binFileFormat endianess="LITTLE"/>`` (or ``BIG``) and one
  ``<channel name="..."/>`` per channel: the samples of all channels interleaved (sample 0 of every
  channel, then sample 1, ...) as ``dataType`` (``int8``/``uint8``/``int16``/``uint16``/``int32``/
  ``uint32``/``float``/``double``); a physical value is ``(stored - baseline) * lsbValue``;
  a ``<csvFileFormat separator=";" decimalSeparator="."/>`` signal holds one row per sample instead;
* ``<eventEntry id="marker.csv" sampleRate="64">``: rows ``samplestamp;type[;comment]``, read as
  annotations (onset = samplestamp / sampleRate);
* ``valuesEntry`` (values at irregular sample stamps) and custom entries, which are not signals at a
  rate and are left out (``info["skipped_entries"]`` names them).

Written by hand: the only Python package for the format (pyunisens) is GPL-2.0, which this MIT
package cannot depend on; the signal part of the format is an XML header and raw arrays.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LimitError, SignalError

__all__ = ["read_unisens", "is_unisens_folder", "UNISENS_TYPES"]

#: Unisens dataType -> numpy dtype (byte order added from binFileFormat)
UNISENS_TYPES = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
                 "float": "f4", "double": "f8"}
_MAX_BYTES = 16 << 30


def is_unisens_folder(path: "str | Path") -> bool:
    """Whether ``path`` is a folder holding ``unisens.xml``."""
    return Path(path).is_dir() and (Path(path) / "unisens.xml").is_file()


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]  # without the namespace


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _tag(c) == name]


def _number(el: ET.Element, key: str, default: float | None, where: str) -> float:
    raw = el.get(key)
    if raw is None:
        if default is None:
            raise SignalError(f"{where}: no {key}= attribute")
        return default
    try:
        return float(raw)
    except ValueError:
        raise SignalError(f"{where}: {key}={raw!r} is not a number") from None


def _read_signal_entry(folder: Path, entry: ET.Element) -> tuple[list[str], np.ndarray, float, str]:
    eid = entry.get("id") or ""
    where = f"{folder}/unisens.xml: signalEntry {eid!r}"
    data_file = folder / eid
    if not eid or not data_file.is_file():
        raise SignalError(f"{where}: its data file {str(data_file)!r} is missing")
    names = [c.get("name") or f"{eid}_{i}" for i, c in enumerate(_children(entry, "channel"))]
    if not names:
        raise SignalError(f"{where}: no <channel> elements")
    fs = _number(entry, "sampleRate", None, where)
    if not fs > 0:
        raise SignalError(f"{where}: sampleRate must be positive, got {fs:g}")
    lsb, base = _number(entry, "lsbValue", 1.0, where), _number(entry, "baseline", 0.0, where)
    csv_fmt = _children(entry, "csvFileFormat")
    if csv_fmt:
        sep = csv_fmt[0].get("separator") or ";"
        dec = csv_fmt[0].get("decimalSeparator") or "."
        with open(data_file, newline="", encoding="utf-8", errors="replace") as fh:
            rows = [r for r in csv.reader(fh, delimiter=sep) if r]
        try:
            x = np.array([[float(v.replace(dec, ".")) for v in r[-len(names):]] for r in rows], dtype=np.float64)
        except ValueError as exc:
            raise SignalError(f"{where}: {data_file.name} holds a value that is not a number ({exc})") from exc
        x = x.reshape(-1, len(names))
    else:
        dtype = UNISENS_TYPES.get((entry.get("dataType") or "").lower())
        if dtype is None:
            raise SignalError(f"{where}: dataType {entry.get('dataType')!r} is not one of {sorted(UNISENS_TYPES)}")
        fmt = _children(entry, "binFileFormat")
        order = ">" if fmt and (fmt[0].get("endianess") or "").upper() == "BIG" else "<"
        size = data_file.stat().st_size
        if size > _MAX_BYTES:
            raise LimitError(f"{where}: {size >> 30} GiB of samples; read it in parts with another tool")
        step = np.dtype(dtype).itemsize * len(names)
        if size % step:
            raise SignalError(f"{where}: {data_file.name} holds {size} bytes, not whole samples of {len(names)} "
                              f"{entry.get('dataType')} channels; the file is cut or the header is wrong")
        x = np.fromfile(data_file, dtype=order + dtype).reshape(-1, len(names)).astype(np.float64)
    return names, (x - base) * lsb, fs, entry.get("unit") or ""


def _read_events(folder: Path, entry: ET.Element) -> list[dict[str, Any]]:
    eid = entry.get("id") or ""
    where = f"{folder}/unisens.xml: eventEntry {eid!r}"
    fs = _number(entry, "sampleRate", None, where)
    fmt = _children(entry, "csvFileFormat")
    sep = (fmt[0].get("separator") if fmt else None) or ";"
    out = []
    try:
        with open(folder / eid, newline="", encoding="utf-8", errors="replace") as fh:
            for row in csv.reader(fh, delimiter=sep):
                if row and row[0].strip():
                    label = " ".join(v.strip() for v in row[1:] if v.strip()) or "event"
                    out.append({"onset": float(row[0]) / fs, "duration": 0.0, "label": label})
    except (OSError, ValueError) as exc:
        raise SignalError(f"{where}: cannot read its events ({exc}); expected rows samplestamp;type;comment") from exc
    return out


def read_unisens(path: "str | Path", **_: Any):
    """Read a Unisens folder (or its ``unisens.xml``) into a :class:`~tiny_biomoe.signals.Recording`.

    Every signal entry's channels at their entry's rate, in physical units (``unit``); channel names
    are ``<channel name>`` (``<entry>/<name>`` where two entries share one); the entry's
    ``contentClass`` (``EDA``, ``ECG``, ``ACC``...) is the sensor; event entries are
    ``info["annotations"]``; ``info["start_time"]`` is ``timestampStart``.
    """
    from .plux import sensor_modality
    from .modalities import modality_from_name
    from .readers import Recording, unique_names

    path = Path(path)
    folder = path.parent if path.name == "unisens.xml" else path
    try:
        root = ET.parse(folder / "unisens.xml").getroot()
    except (OSError, ET.ParseError) as exc:
        raise SignalError(f"{folder}: unisens.xml is not readable XML ({exc})") from exc
    if _tag(root) != "unisens":
        raise SignalError(f"{folder}/unisens.xml: the root element is <{_tag(root)}>, not <unisens>")
    found, annotations, skipped = [], [], []
    for entry in root:
        kind = _tag(entry)
        if kind == "signalEntry":
            found.append((entry.get("id") or "", entry.get("contentClass"), *_read_signal_entry(folder, entry)))
        elif kind == "eventEntry":
            annotations += _read_events(folder, entry)
        elif kind.endswith("Entry"):
            skipped.append(entry.get("id") or kind)
    if not found:
        raise SignalError(f"{folder}: unisens.xml lists no signal entries (entries: {skipped or 'none'})")
    all_names = [n for f in found for n in f[2]]
    dup = {n for n in all_names if all_names.count(n) > 1}
    keys = iter(unique_names([f"{f[0]}/{n}" if n in dup else n for f in found for n in f[2]]))
    signals, rates, units, sensors, modalities = {}, {}, {}, {}, {}
    for eid, content, names, x, fs, unit in found:
        for j in range(len(names)):
            key = next(keys)
            signals[key], rates[key] = np.ascontiguousarray(x[:, j]), fs
            if unit:
                units[key] = unit
            if content:
                sensors[key] = content
            modalities[key] = (sensor_modality(content) if content else None) or modality_from_name(names[j])
    info = {"format": "unisens", "sampling_rate_from": "header", "start_time": root.get("timestampStart"),
            "sensors": sensors, "modalities": modalities, "annotations": sorted(annotations, key=lambda a: a["onset"]),
            "skipped_entries": skipped}
    return Recording(signals, rates, str(folder), units=units, info=info)
