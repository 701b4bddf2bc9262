"""PLUX OpenSignals exports (BITalino, biosignalsplux): the text format and the HDF5 format.

Text (``.txt``, also compressed ``.txt.gz``/``.bz2``/``.xz``): a first line ``# OpenSignals Text File Format``, a second line ``# {json}`` with one
entry per device keyed by its MAC address (``sampling rate``, ``resolution``, ``column``, ``label``,
``sensor``, ``device``, ``date``, ``time``, ``position`` ...), ``# EndOfHeader``, then tab-separated rows:
each device's ``column`` list in ``position`` order (``nSeq``, digital ``DI``/``I1``..., then the
analog channels named by ``label``).

HDF5 (``.h5``): one group per device MAC with the same entries as attributes; the samples in
``raw/channel_N`` (attributes ``label``, ``sensor``, ``resolution`` where present) and ``raw/nSeq``.
Needs ``h5py`` (extra ``io``).

Channels are named by their label (prefixed ``<MAC>/`` when two devices use the same label); each
one's ``sensor`` is kept in ``info["sensors"]`` and decides the modality it maps to. With
``convert=True`` raw ADC values become physical units by PLUX's published transfer functions (sensor
datasheets), where the sensor and resolution are known; ``info["converted"]`` says, per channel,
whether that was done. The transfer functions (``ADC`` the sample, ``n`` the resolution in bits):

=================  ==============================================  ===============  ==============
sensor             function                                        biosignalsplux   BITalino
=================  ==============================================  ===============  ==============
EDA (uS)           ``ADC / 2^n * VCC / k``                         VCC 3, k 0.12    VCC 3.3, k 0.132
ECG (mV)           ``(ADC / 2^n - 0.5) * VCC / G * 1e3``           VCC 3, G 1019    VCC 3.3, G 1100
EMG (mV)           ``(ADC / 2^n - 0.5) * VCC / G * 1e3``           VCC 3, G 1000    VCC 3.3, G 1009
EEG (uV)           ``(ADC / 2^n - 0.5) * VCC / G * 1e6``           VCC 3, G 40000   VCC 3.3, G 41782
RESP/PZT (%)       ``(ADC / 2^n - 0.5) * 100``                     same             same
BVP (r.i.)         ``ADC / 2^n`` (relative light intensity)        same             same
=================  ==============================================  ===============  ==============

A BITalino channel is told by the device (``bitalino...``) or the sensor name (``...BIT``/``...BITREV``);
the constants are those of BITalino (r)evolution (sensor ``...BITREV`` or device ``bitalino_rev``), and
sensors of the first BITalino board stay raw. Other sensors (``RAW``, ``ACC``, ``TEMP``, ``RIP``, ``SpO2``
...) stay raw.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import SignalError, require

__all__ = ["read_opensignals_text", "read_opensignals_h5", "transfer", "sensor_modality", "parse_header"]

_HEADER_LINES = 50


def sensor_modality(sensor: str | None) -> str | None:
    """The package modality a PLUX (or similar) sensor name measures: ``EDABITREV`` -> ``eda``, ``PZT`` -> ``resp``
    (also BIOPAC module names: ``EDA100C`` -> ``eda``, ``RSP100C``/``RSPEC-R`` -> ``resp``)."""
    if not sensor:
        return None
    s = re.sub(r"[^A-Z0-9]", "", str(sensor).upper())
    for prefix, mod in (("EDA", "eda"), ("GSR", "eda"), ("ECG", "ecg"), ("EKG", "ecg"), ("BVP", "bvp"), ("PPG", "bvp"),
                        ("RESP", "resp"), ("RSP", "resp"), ("PZT", "resp"), ("RIP", "resp"), ("EMG", "emg"), ("EEG", "eeg"),
                        ("SPO2", "spo2"), ("OXI", "spo2")):
        if s.startswith(prefix):
            return mod
    return None


def _is_bitalino(sensor: str, device: str | None) -> bool:
    s = str(sensor).upper()
    return "BIT" in s or (device is not None and "bitalino" in str(device).lower())


def transfer(adc: np.ndarray, sensor: str, resolution: int, *, device: str | None = None) -> tuple[np.ndarray, str] | None:
    """Raw ADC values -> ``(physical values, unit)`` by PLUX's transfer function for ``sensor``; None when
    the sensor has none here (the values then stay raw)."""
    mod = sensor_modality(sensor)
    s = re.sub(r"[^A-Z0-9]", "", str(sensor).upper())
    if mod is None and not s.startswith("PZT"):
        return None
    if not isinstance(resolution, (int, np.integer)) or not 1 <= int(resolution) <= 32:
        return None
    bit = _is_bitalino(sensor, device)
    if bit and "REV" not in s and "rev" not in str(device or "").lower():
        return None  # the first BITalino board's sensors have other functions: kept raw
    if s.startswith("RIP"):
        return None  # inductive respiration: no fixed function (calibrated per subject)
    x = np.asarray(adc, dtype=np.float64) / float(2 ** int(resolution))
    if mod == "eda":
        return (x * 3.3 / 0.132, "uS") if bit else (x * 3.0 / 0.12, "uS")
    if mod == "ecg":
        return ((x - 0.5) * 3.3 / 1100 * 1e3, "mV") if bit else ((x - 0.5) * 3.0 / 1019 * 1e3, "mV")
    if mod == "emg":
        return ((x - 0.5) * 3.3 / 1009 * 1e3, "mV") if bit else ((x - 0.5) * 3.0 / 1000 * 1e3, "mV")
    if mod == "eeg":
        return ((x - 0.5) * 3.3 / 41782 * 1e6, "uV") if bit else ((x - 0.5) * 3.0 / 40000 * 1e6, "uV")
    if mod == "resp":
        return (x - 0.5) * 100.0, "%"
    if mod == "bvp":
        return x, "r.i."
    return None


def _text(v: Any) -> Any:
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_text(e) for e in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_text(e) for e in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def parse_header(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """``(devices, number of header lines)`` of an OpenSignals text file; SignalError if it is not one."""
    from .tables import open_text

    lines: list[str] = []
    with open_text(path) as fh:
        for line in fh:
            lines.append(line.rstrip("\r\n"))
            if line.strip().lower().startswith("# endofheader") or len(lines) >= _HEADER_LINES:
                break
    if not lines or not lines[0].lstrip().lower().startswith("# opensignals"):
        raise SignalError(f"{path}: not an OpenSignals text file (no '# OpenSignals Text File Format' first line)")
    if not lines[-1].strip().lower().startswith("# endofheader"):
        raise SignalError(f"{path}: OpenSignals header without '# EndOfHeader' in its first {_HEADER_LINES} lines; "
                          "the file is cut or edited")
    blob = next((ln.lstrip()[1:].strip() for ln in lines[1:-1] if ln.lstrip()[1:].strip().startswith("{")), None)
    if blob is None:
        raise SignalError(f"{path}: OpenSignals header has no JSON line ('# {{...}}' after the first line)")
    try:
        devices = json.loads(blob)
    except ValueError as exc:
        raise SignalError(f"{path}: the OpenSignals JSON header does not parse ({exc}); the file is damaged") from exc
    if not isinstance(devices, dict) or not devices or not all(isinstance(d, dict) for d in devices.values()):
        raise SignalError(f"{path}: the OpenSignals JSON header holds no device entries")
    return devices, len(lines)


def _as_list(v: Any, n: int) -> list:
    if v is None:
        return [None] * n
    v = _text(v)
    if not isinstance(v, list):
        return [v] * n
    return list(v) + [v[-1] if v else None] * max(0, n - len(v))


def _aligned(v: Any, column: list[str], labels: list[str]) -> list:
    """A per-channel header list for ``labels``: given per column (BITalino's ``resolution`` is
    ``[4, 1, 1, 1, 1, 10, ...]`` for nSeq, I1, I2, O1, O2, A1, ...) or per analog channel."""
    v = _text(v)
    if isinstance(v, list) and len(v) == len(column) and len(column) != len(labels):
        return [v[column.index(lab)] for lab in labels]
    return _as_list(v, len(labels))


def _build(devices_data: list[tuple[str, Mapping[str, Any], dict[str, np.ndarray], list[str], list[Any]]],
           path: Path, convert: bool, fmt: str):
    """Devices -> Recording; ``devices_data``: (mac, attributes, label -> samples, sensors, resolutions)."""
    from .readers import Recording

    all_labels = [lab for _, _, chans, _, _ in devices_data for lab in chans]
    dup = {lab for lab in all_labels if all_labels.count(lab) > 1}
    signals: dict[str, np.ndarray] = {}
    rates: dict[str, float] = {}
    units: dict[str, str] = {}
    sensors: dict[str, str | None] = {}
    converted: dict[str, bool] = {}
    devices: dict[str, dict[str, Any]] = {}
    starts: dict[str, str] = {}
    for mac, attrs, chans, sens, res in devices_data:
        fs = _text(attrs.get("sampling rate"))
        try:
            fs = float(fs)
        except (TypeError, ValueError):
            raise SignalError(f"{path}: device {mac} has no readable 'sampling rate' ({fs!r}) in the header") from None
        if not fs > 0:
            raise SignalError(f"{path}: device {mac} states a sampling rate of {fs}; the header is damaged")
        device = _text(attrs.get("device"))
        devices[mac] = {k: _text(attrs.get(k)) for k in ("device", "device name", "firmware version", "date", "time")
                        if attrs.get(k) is not None}
        for j, (lab, x) in enumerate(chans.items()):
            name = f"{mac}/{lab}" if lab in dup else lab
            sensor = sens[j] if j < len(sens) else None
            r = res[j] if j < len(res) else None
            out = transfer(x, sensor, r, device=device) if (convert and sensor) else None
            if out is not None:
                signals[name], units[name] = out
            else:
                signals[name], units[name] = np.asarray(x, dtype=np.float64), "raw ADC"
            converted[name] = out is not None
            rates[name], sensors[name] = fs, sensor
            if attrs.get("date") is not None and attrs.get("time") is not None:
                starts[name] = f"{_text(attrs.get('date'))} {_text(attrs.get('time'))}"
    if not signals:
        raise SignalError(f"{path}: the OpenSignals file holds no analog channels")
    info = {"format": fmt, "sampling_rate_from": "header", "sensors": sensors, "converted": converted,
            "devices": devices, "start_time": starts,
            "modalities": {n: sensor_modality(s) for n, s in sensors.items()}}
    return Recording(signals, rates, str(path), units=units, info=info)


def read_opensignals_text(path: "str | Path", *, convert: bool = True, **_: Any):
    """Read an OpenSignals text export (one or several devices) into a Recording (see the module doc)."""
    import pandas as pd

    path = Path(path)
    devices, skip = parse_header(path)
    order = sorted(devices.items(), key=lambda kv: (kv[1].get("position", 0) if isinstance(kv[1].get("position"), int)
                                                    else 0))
    cols: list[tuple[str, str]] = []
    for mac, d in order:
        column = d.get("column")
        if not isinstance(column, list) or not column:
            raise SignalError(f"{path}: device {mac} has no 'column' list in the OpenSignals header")
        cols += [(mac, str(c)) for c in column]
    from .tables import open_text

    try:
        with open_text(path) as fh:  # also .txt.gz / .bz2 / .xz / a one-file .zip
            data = pd.read_csv(fh, sep="\t", skiprows=skip, header=None, comment="#", dtype=np.float64,
                               skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise SignalError(f"{path}: the OpenSignals file has a header but no samples") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise SignalError(f"{path}: OpenSignals samples are not tab-separated numbers ({exc})") from exc
    data = data.dropna(axis=1, how="all")  # a trailing tab on every row
    if data.empty:
        raise SignalError(f"{path}: the OpenSignals file has a header but no samples")
    if data.shape[1] != len(cols):
        raise SignalError(f"{path}: {data.shape[1]} data columns but the header lists {len(cols)} "
                          f"({[c for _, c in cols]}); the file is damaged or edited")
    built = []
    k = 0
    for mac, d in order:
        column = [str(c) for c in d["column"]]
        labels = [str(x) for x in (d.get("label") or [])]
        block = data.iloc[:, k:k + len(column)]
        k += len(column)
        block.columns = column
        if not labels:  # older files: the analog columns are those after nSeq and the digital ones
            labels = [c for c in column if not re.match(r"^(nSeq|DI|I\d|O\d)$", c)]
        missing = [lab for lab in labels if lab not in column]
        if missing:
            raise SignalError(f"{path}: device {mac}: labels {missing} are not among its columns {column}")
        chans = {lab: block[lab].to_numpy(np.float64) for lab in labels}
        sens = _aligned(d.get("sensor"), column, labels)
        res = _aligned(d.get("resolution"), column, labels)
        built.append((mac, d, chans, [None if s is None else str(s) for s in sens], res))
    return _build(built, path, convert, "opensignals-text")


def read_opensignals_h5(path: "str | Path", *, convert: bool = True, **_: Any):
    """Read an OpenSignals HDF5 export (a group per device MAC, ``raw/channel_N``) into a Recording."""
    h5py = require("h5py", "io", "Reading OpenSignals HDF5 (.h5) files")
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SignalError(f"{path}: not a readable HDF5 file ({exc})") from exc
    built = []
    with f:
        groups = [(k, g) for k, g in f.items() if isinstance(g, h5py.Group) and "raw" in g]
        if not groups:
            raise SignalError(f"{path}: an HDF5 file, but not an OpenSignals export (no device group with 'raw/'); "
                              f"top-level entries: {list(f.keys())[:10]}")
        for mac, g in sorted(groups, key=lambda kv: _text(kv[1].attrs.get("position", 0)) or 0):
            attrs = {k: _text(v) for k, v in g.attrs.items()}
            raw = g["raw"]
            names = sorted((k for k in raw if re.match(r"^channel_\d+$", k)), key=lambda k: int(k.split("_")[1]))
            if not names:
                raise SignalError(f"{path}: device {mac} has no raw/channel_N datasets")
            g_sens = _as_list(attrs.get("sensor"), len(names))
            g_lab = _as_list(attrs.get("label"), len(names))
            g_res = _as_list(attrs.get("resolution"), len(names))
            chans, sens, res = {}, [], []
            for j, n in enumerate(names):
                ds = raw[n]
                a = {k: _text(v) for k, v in ds.attrs.items()}
                lab = str(a.get("label") or g_lab[j] or n)
                chans[lab] = np.asarray(ds[()], dtype=np.float64).reshape(-1)
                sens.append(a.get("sensor") or g_sens[j])
                res.append(a.get("resolution", g_res[j]))
            res = [int(r) if isinstance(r, (int, float, np.integer)) else r for r in res]
            built.append((mac, attrs, chans, [None if s is None else str(s) for s in sens], res))
    return _build(built, path, convert, "opensignals-h5")
