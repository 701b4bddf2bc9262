"""BIOPAC AcqKnowledge ``.acq`` files through ``bioread`` (extra ``io``).

Channels are named by their AcqKnowledge channel names (e.g. ``EDA100C``, ``ECG - ECG100C``,
``PPG100C``), with their units and their own rates (AcqKnowledge allows lower rates per channel).
The values are the scaled physical values bioread computes from the file's channel scaling.
The module names (``EDA100C``, ``PPG100C``, ``ECG100C``, ``RSP100C`` ...) map through the common sensor
prefixes (:func:`~tiny_biomoe.signals.plux.sensor_modality`); the pulse oximeter's (``OXY100C``/``OXY100E``)
channel in ``%`` means ``spo2``, which needs its unit, so it is decided here.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SignalError, require

__all__ = ["read_acq"]


def read_acq(path: "str | Path", **_: Any):
    """Read a BIOPAC ``.acq`` file into a Recording."""
    from .readers import Recording

    bioread = require("bioread", "io", "Reading BIOPAC AcqKnowledge (.acq) files")
    path = Path(path)
    logged: list[str] = []

    def _keep(record: logging.LogRecord) -> bool:  # bioread logs its parse errors to stderr itself
        if record.levelno >= logging.ERROR:
            logged.append(record.getMessage())
        return False

    log = logging.getLogger("bioread")
    log.addFilter(_keep)
    try:
        df = bioread.read_file(str(path))
    except Exception as exc:  # bioread raises assorted types on damaged files
        # a header that does not parse is only logged; bioread then fails on the missing headers
        reason = (logged[0] if logged else "its headers do not parse") if isinstance(exc, AttributeError) \
            else f"{type(exc).__name__}: {exc}"
        raise SignalError(f"{path}: not a readable AcqKnowledge file ({reason}); a copy cut short or another "
                          "file renamed .acq reads like this: copy it again, or save it again from AcqKnowledge") from exc
    finally:
        log.removeFilter(_keep)
    from .plux import sensor_modality

    signals, rates, units, sensors, modalities = {}, {}, {}, {}, {}
    for i, ch in enumerate(df.channels):
        name = str(getattr(ch, "name", "") or f"ch{i}").strip()
        if name in signals:
            name = f"{name} ({i})"
        signals[name] = np.asarray(ch.data, dtype=np.float64)
        rates[name] = float(ch.samples_per_second)
        u = str(getattr(ch, "units", "") or "").strip()
        if u:
            units[name] = u
        sensors[name] = name.split(" - ")[-1]
        if (sensor_modality(sensors[name]) is None and re.sub(r"[^A-Z]", "", sensors[name].upper()).startswith("OXY")
                and u == "%"):
            modalities[name] = "spo2"  # OXY100C/E pulse oximeter: only its SpO2 output (in %) is spo2
    if not signals:
        raise SignalError(f"{path}: the AcqKnowledge file holds no channels")
    info = {"format": "acq", "sampling_rate_from": "header", "sensors": sensors, "modalities": modalities,
            "start_time": str(getattr(df, "earliest_marker_created_at", None) or "") or None}
    return Recording(signals, rates, str(path), units=units, info=info)
