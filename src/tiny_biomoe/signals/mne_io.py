"""MNE ``.fif`` files (``*_raw.fif``, ``*_raw.fif.gz``) through ``mne`` (extra ``io``).

Channels keep their names; the channel type decides the modality (``gsr`` -> eda, ``ecg``, ``resp``,
``emg``, ``eeg``). MNE stores SI units; they are converted to the package's units: S -> uS for
``gsr``, V -> mV for ``ecg``/``emg``, V -> uV for ``eeg`` (``info["converted"]``). The rate is the
file's ``sfreq``; ``info["start_time"]`` is its measurement date; ``info["annotations"]`` its annotations
(onset in seconds from the first sample, duration, label), which ``read_events(recording)`` makes events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SignalError, require

__all__ = ["read_fif", "raw_to_recording"]

_TYPES = {"gsr": ("eda", 1e6, "uS"), "ecg": ("ecg", 1e3, "mV"), "emg": ("emg", 1e3, "mV"), "eeg": ("eeg", 1e6, "uV"),
          "resp": ("resp", 1.0, "")}


def raw_to_recording(raw: Any, source: str, *, convert: bool = True):
    """An ``mne.io.Raw`` (already loaded) as a Recording (see the module doc)."""
    from .readers import Recording

    data = raw.get_data()
    types = raw.get_channel_types()
    signals, units, sensors, mods, converted = {}, {}, {}, {}, {}
    for name, x, t in zip(raw.ch_names, data, types):
        mod, scale, unit = _TYPES.get(t, (None, 1.0, ""))
        do = convert and scale != 1.0
        signals[name] = np.asarray(x, dtype=np.float64) * (scale if do else 1.0)
        if do or unit:
            units[name] = unit
        sensors[name], mods[name], converted[name] = t, mod, do
    meas = raw.info.get("meas_date")
    ann = raw.annotations  # onsets placed from the first sample by MNE's own time-origin rules
    onsets = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time) / float(raw.info["sfreq"])
    annotations = [{"onset": float(o), "duration": float(d), "label": str(t)}
                   for o, d, t in zip(onsets, ann.duration, ann.description)]
    info = {"format": "fif", "sampling_rate_from": "header", "sensors": sensors, "modalities": mods,
            "converted": converted, "start_time": None if meas is None else str(meas), "annotations": annotations}
    return Recording(signals, float(raw.info["sfreq"]), source, units=units, info=info)


def read_fif(path: "str | Path", *, convert: bool = True, **_: Any):
    """Read an MNE ``.fif`` raw file into a Recording."""
    mne = require("mne", "io", "Reading MNE .fif files")
    path = Path(path)
    try:
        raw = mne.io.read_raw_fif(str(path), preload=True, verbose="error")
    except Exception as exc:  # mne raises assorted types on damaged files
        raise SignalError(f"{path}: not a readable MNE .fif raw file ({type(exc).__name__}: {exc})") from exc
    return raw_to_recording(raw, str(path), convert=convert)
