"""BIOPAC AcqKnowledge ``.acq`` files through ``bioread`` (extra ``io``).

Channels are named by their AcqKnowledge channel names (e.g. ``EDA100C``, ``ECG - ECG100C``,
``PPG100C``), with their units and their own rates (AcqKnowledge allows lower rates per channel).
The values are the scaled physical values bioread computes from the file's channel scaling.
"""

from __future__ import annotations

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
    try:
        df = bioread.read_file(str(path))
    except Exception as exc:  # bioread raises assorted types on damaged files
        raise SignalError(f"{path}: not a readable AcqKnowledge file ({type(exc).__name__}: {exc})") from exc
    signals, rates, units, sensors = {}, {}, {}, {}
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
    if not signals:
        raise SignalError(f"{path}: the AcqKnowledge file holds no channels")
    info = {"format": "acq", "sampling_rate_from": "header", "sensors": sensors,
            "start_time": str(getattr(df, "earliest_marker_created_at", None) or "") or None}
    return Recording(signals, rates, str(path), units=units, info=info)
