"""What a recording file holds: :func:`inspect` (``tiny_biomoe.inspect``; CLI ``biomoe inspect FILE``).

The first thing to run on an unknown file: its format, channels (label, sensor, unit, rate, samples,
duration, NaN share and gaps, value range, the modality each maps to), the sampling rate and where
it came from, the start time, whether values are raw or converted, and which channel
``--modality X`` would take for every modality, plus the reader's warnings.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Sequence

import numpy as np

from ..errors import SignalError

__all__ = ["inspect", "format_inspection", "format_inspection_table"]


def _nan_runs(x: np.ndarray) -> int:
    bad = ~np.isfinite(x)
    if not bad.any():
        return 0
    return int(np.count_nonzero(np.diff(np.r_[0, bad.astype(np.int8)]) == 1))


def _num(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def inspect(
    path: "str | os.PathLike",
    *,
    sampling_rate: float | None = None,
    time_column: "str | int | bool | None" = None,
    time_unit: str = "auto",
    format: str | None = None,
    convert: bool = True,
) -> dict[str, Any]:
    """Describe a recording file as a JSON-friendly dict (see the module doc).

    The options are those of :func:`~tiny_biomoe.signals.read_signal`. A table without any rate is still
    described (``sampling_rate`` None, with the fix in ``warnings``). Unreadable files raise SignalError.

    Args:
        path: the recording file (any format :func:`~tiny_biomoe.signals.read_signal` reads).
        sampling_rate: Hz, used when the file states none; ``None``: the file's own rate, if it has one.
        time_column: name/index of a time column; ``None`` auto-detects one; ``False`` disables detection.
        time_unit: unit of the time column: ``"auto"`` (from its name or values), ``"s"``, ``"ms"``, ``"us"``,
            ``"ns"``, ``"clock"`` or ``"datetime"``.
        format: force a format (as ``read_signal``'s ``format``); ``None``: from the file.
        convert: convert raw ADC or SI values to physical units where the sensor is known (each channel's
            ``values`` in the report says what was done).
    """
    from .modalities import list_modalities
    from .readers import Recording, read_signal

    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rec = read_signal(path, sampling_rate=sampling_rate, time_column=time_column, time_unit=time_unit,
                              format=format, convert=convert)
        except SignalError as exc:
            if "no sampling rate" not in str(exc):
                raise
            from .tables import is_table_path, read_table

            if is_table_path(path) or (format or "").lower() in ("csv", "tsv", "txt"):
                tab = read_table(path, time_column=time_column, time_unit=time_unit, require_rate=False, warn=False)
                rec = Recording({c: tab.frame[c].to_numpy(np.float64) for c in tab.frame.columns}, {}, str(path),
                                info=tab.info())
            else:  # a format without a rate of its own (.npy, .npz without fs): its channels, rate unknown
                got = read_signal(path, sampling_rate=1.0, time_column=time_column, time_unit=time_unit,
                                  format=format, convert=convert)
                rec = Recording(dict(got.signals), {}, str(path), info={**got.info, "sampling_rate_from": None})
            notes.append(str(exc))
    notes = [str(w.message) for w in caught] + notes
    mods = rec.channel_modalities()
    info = rec.info
    sensors = info.get("sensors") or {}
    converted = info.get("converted") or {}  # channel -> True (converted to physical units) / False (kept raw)
    channels = []
    for n in rec.channels:
        x = rec.signals[n]
        try:
            fs = rec.rate(n)
        except (KeyError, TypeError):
            fs = None
        ok = np.isfinite(x)
        channels.append({
            "name": n, "sensor": sensors.get(n), "unit": rec.units.get(n), "modality": mods.get(n),
            "sampling_rate": fs, "samples": int(x.size), "duration_s": (x.size / fs) if fs else None,
            "nan_share": float(1 - ok.mean()) if x.size else 0.0, "nan_gaps": _nan_runs(x),
            "min": _num(float(np.min(x[ok]))) if ok.any() else None,
            "max": _num(float(np.max(x[ok]))) if ok.any() else None,
            "values": ("converted" if converted.get(n) else "raw ADC" if rec.units.get(n) == "raw ADC" or
                       converted.get(n) is False else "as stored"),
        })
    rates = {c["sampling_rate"] for c in channels if c["sampling_rate"]}
    choice: dict[str, Any] = {}
    for m in list_modalities():
        hits = [n for n in rec.channels if mods.get(n) == m]
        if len(hits) == 1:
            choice[m] = hits[0]
        elif len(hits) > 1:
            choice[m] = {"ambiguous": hits}
        elif len(rec.channels) == 1:
            choice[m] = rec.channels[0]  # the only channel: taken for any --modality
        else:
            choice[m] = None
    start = info.get("start_time")
    if isinstance(start, dict):
        vals = {str(v) for v in start.values() if v is not None}
        start = next(iter(vals)) if len(vals) == 1 else start
    durations = [c["duration_s"] for c in channels if c["duration_s"]]
    return {
        "path": str(path), "format": info.get("format"),
        "sampling_rate": next(iter(rates)) if len(rates) == 1 else (sorted(rates) or None),
        "sampling_rate_from": info.get("sampling_rate_from"),
        "duration_s": max(durations) if durations else None, "start_time": start,
        "time_column": info.get("time_column"), "time_unit": info.get("time_unit"), "encoding": info.get("encoding"),
        "sheet": info.get("sheet"),
        "values": ", ".join(dict.fromkeys(c["values"] for c in channels)),
        "channels": channels, "modality_channel": choice, "warnings": notes,
    }


def _fmt(v: Any, nd: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}g}"
    return str(v)


def format_inspection(rep: dict[str, Any]) -> str:
    """The report of :func:`inspect` as a readable table."""
    rate = rep["sampling_rate"]
    rate_s = "none (pass --fs)" if rate is None else (
        ", ".join(f"{r:g}" for r in rate) + " Hz" if isinstance(rate, list) else f"{rate:g} Hz")
    lines = [f"file:      {rep['path']}", f"format:    {rep['format']}",
             f"rate:      {rate_s}" + (f" (from the {rep['sampling_rate_from']})" if rep["sampling_rate_from"] else ""),
             f"duration:  {_fmt(rep['duration_s'], 6)} s", f"start:     {_fmt(rep['start_time'], 15)}",
             f"values:    {rep['values']}"]
    if rep.get("time_column"):
        lines.append(f"time:      column {rep['time_column']!r} in {rep['time_unit']}")
    if rep.get("encoding") not in (None, "utf-8"):
        lines.append(f"text:      {rep['encoding']}")
    if rep.get("sheet"):
        lines.append(f"sheet:     {rep['sheet']!r} (the first with data)")
    head = ("channel", "sensor", "unit", "values", "modality", "Hz", "samples", "seconds", "NaN %", "gaps", "min", "max")
    rows = [head] + [(c["name"], _fmt(c["sensor"]), _fmt(c["unit"]), c["values"], _fmt(c["modality"]), _fmt(c["sampling_rate"]),
                      str(c["samples"]), _fmt(c["duration_s"], 6), f"{100 * c['nan_share']:.1f}", str(c["nan_gaps"]),
                      _fmt(c["min"]), _fmt(c["max"])) for c in rep["channels"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines.append("")
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    lines.append("")
    lines.append(f"--modality takes: {_takes(rep)}")
    for w in rep["warnings"]:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def _takes(rep: dict[str, Any], short: bool = False) -> str:
    """The channel each ``--modality`` would take (``short``: one line of a table)."""
    takes = list(rep["modality_channel"].values())
    if len(rep["channels"]) == 1 and takes and all(isinstance(v, str) for v in takes) and len(set(takes)) == 1:
        return f"any: {takes[0]}" if short else f"{takes[0]}, the only channel, for any modality"
    picks = []
    for m, ch in rep["modality_channel"].items():
        if isinstance(ch, dict):
            picks.append(f"{m}: one of {ch['ambiguous']}" + ("" if short else " (pass --column)"))
        elif ch is not None:
            picks.append(f"{m}: {ch}")
    if picks:
        return "; ".join(picks)
    return "none (--column)" if short else "no channel is labelled with a modality (pass --column)"


def format_inspection_table(reps: "list[dict[str, Any]]", names: "Sequence[str] | None" = None) -> str:
    """Reports of :func:`inspect` (or ``{"path", "error"}`` entries) as one line per file: a dataset at a glance.

    Args:
        reps: the reports, in the order to list them.
        names: the name to show for each report (e.g. relative to its dataset folder); ``None``: its path.
    """
    head = ("file", "format", "Hz", "seconds", "channels", "--modality takes", "notes")
    rows = [head]
    for i, r in enumerate(reps):
        path = r["path"]
        shown = names[i] if names is not None else path
        if "error" in r:
            reason = r["error"][len(path) + 2:] if r["error"].startswith(f"{path}: ") else r["error"]
            rows.append((shown, "-", "-", "-", "-", "-", f"error: {reason}"))
            continue
        rate = r["sampling_rate"]
        hz = "/".join(f"{v:g}" for v in rate) if isinstance(rate, list) else _fmt(rate)
        notes = f"{len(r['warnings'])} warning(s)" if r["warnings"] else ""
        rows.append((shown, str(r["format"]), hz, _fmt(r["duration_s"], 6), str(len(r["channels"])),
                     _takes(r, short=True), notes))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    failed = sum("error" in r for r in reps)
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    lines.append(f"\n{len(reps)} files" + (f", {failed} unreadable" if failed else "")
                 + " (biomoe inspect FILE for one file's channels and warnings)")
    return "\n".join(lines)
