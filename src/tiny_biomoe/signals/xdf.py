"""XDF (Lab Streaming Layer recordings) through ``pyxdf`` (extra ``io``).

Each numeric stream with a nominal rate becomes channels named by the stream's channel labels
(``desc/channels/channel/label``; ``<stream name>/<label>`` where two streams share a label).
The rate is the stream's ``nominal_srate`` (header); the rate measured from the time stamps is kept in
``info["effective_rate"]``. A channel's ``type`` (or the stream's) is its sensor (e.g. ``EDA``, ``PPG``).
Marker streams (irregular rate or strings) are listed in ``info["skipped_streams"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SignalError, require

__all__ = ["read_xdf"]


def _first(d: Any, key: str, default: Any = None) -> Any:
    try:
        v = d[key]
    except (KeyError, TypeError, IndexError):
        return default
    if isinstance(v, list):
        return v[0] if v else default
    return v


def read_xdf(path: "str | Path", **_: Any):
    """Read the regularly sampled numeric streams of an ``.xdf`` file into a Recording."""
    from .readers import Recording

    pyxdf = require("pyxdf", "io", "Reading XDF (Lab Streaming Layer) files")
    path = Path(path)
    try:
        streams, _header = pyxdf.load_xdf(str(path), verbose=False)
    except Exception as exc:  # pyxdf raises assorted types on damaged files
        raise SignalError(f"{path}: not a readable XDF file ({type(exc).__name__}: {exc})") from exc
    found: list[tuple[str, list[str], list[str | None], list[str | None], np.ndarray, float, float | None, Any]] = []
    skipped: list[str] = []
    for st in streams:
        info = st.get("info", {})
        name = str(_first(info, "name", "stream"))
        fmt = str(_first(info, "channel_format", ""))
        try:
            fs = float(_first(info, "nominal_srate", 0) or 0)
        except ValueError:
            fs = 0.0
        data = st.get("time_series")
        if fmt == "string" or fs <= 0 or not isinstance(data, np.ndarray) or data.size == 0:
            skipped.append(name)
            continue
        data = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
        n = data.shape[1]
        chans = info["desc"][0]["channels"][0]["channel"] if _has_channels(info) else []
        labels, units, types = [], [], []
        stype = _first(info, "type")
        for j in range(n):
            c = chans[j] if j < len(chans) else {}
            labels.append(str(_first(c, "label") or f"{name}_{j}"))
            units.append(_first(c, "unit"))
            types.append(_first(c, "type") or stype)
        eff = st.get("info", {}).get("effective_srate")
        ts = st.get("time_stamps")
        start = float(ts[0]) if isinstance(ts, np.ndarray) and ts.size else None
        found.append((name, labels, units, types, data, fs, float(eff) if eff else None, start))
    if not found:
        raise SignalError(f"{path}: no regularly sampled numeric stream in the XDF file (streams: "
                          f"{skipped or 'none'})")
    all_labels = [lab for f in found for lab in f[1]]
    dup = {lab for lab in all_labels if all_labels.count(lab) > 1}
    from .readers import unique_names

    keys = iter(unique_names([f"{f[0]}/{lab}" if lab in dup else lab for f in found for lab in f[1]]))  # also within
    signals, rates, unit_map, sensors, eff_rates, starts = {}, {}, {}, {}, {}, {}  # one stream (two "ExG" channels)
    for name, labels, units, types, data, fs, eff, start in found:
        for j, lab in enumerate(labels):
            key = next(keys)
            signals[key] = data[:, j]
            rates[key] = fs
            if units[j]:
                unit_map[key] = str(units[j])
            sensors[key] = None if types[j] is None else str(types[j])
            eff_rates[key] = eff
            starts[key] = start
    info = {"format": "xdf", "sampling_rate_from": "header", "sensors": sensors, "effective_rate": eff_rates,
            "start_time": starts, "skipped_streams": skipped}
    return Recording(signals, rates, str(path), units=unit_map, info=info)


def _has_channels(info: Any) -> bool:
    try:
        return bool(info["desc"][0]["channels"][0]["channel"])
    except (KeyError, TypeError, IndexError):
        return False
