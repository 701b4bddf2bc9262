"""MNE ``.fif`` files (``*_raw.fif``, ``*_raw.fif.gz``) and BrainVision recordings (``.vhdr`` with its
``.eeg`` and ``.vmrk``) through ``mne`` (extra ``io``).

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

__all__ = ["read_fif", "read_brainvision", "raw_to_recording"]

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


#: BrainVision units -> their value in SI, as MNE scales the samples (siemens for the skin conductance units)
_BV_SI = {"V": 1.0, "mV": 1e-3, "µV": 1e-6, "uV": 1e-6, "μV": 1e-6, "nV": 1e-9, "S": 1.0, "mS": 1e-3, "µS": 1e-6,
          "uS": 1e-6, "μS": 1e-6}


def _vhdr_units(path: Path) -> list[str]:
    """The unit of each channel, in order, from the ``[Channel Infos]`` lines ``Ch<n>=<name>,<ref>,<res>,<unit>``
    of a BrainVision header (a missing unit is µV, the format's default)."""
    from .tables import text_encoding

    raw = path.read_bytes()
    units: dict[int, str] = {}
    section = ""
    for line in raw.decode(text_encoding(raw[:1 << 16]), errors="replace").splitlines():  # Codepage=ANSI: µ is 0xB5
        line = line.strip()
        if line.startswith("["):
            section = line.lower()
        elif section == "[channel infos]" and line[:2].lower() == "ch" and "=" in line:
            key, _, value = line.partition("=")
            fields = value.split(",")
            if key[2:].isdigit():
                units[int(key[2:])] = fields[3].strip() if len(fields) > 3 and fields[3].strip() else "µV"
    return [units[k] for k in sorted(units)]


def read_brainvision(path: "str | Path", *, convert: bool = True, **_: Any):
    """Read a BrainVision recording (the ``.vhdr`` header; its ``.eeg`` data and ``.vmrk`` markers beside it).

    BrainVision files carry no channel types, so MNE calls every voltage channel EEG and a skin
    conductance channel (``µS``) misc; here each channel keeps the unit its header states (``convert``;
    ``False``: MNE's SI values, V and S), its modality comes from its name (``GSR``, ``ECG``, ``Resp``) or,
    for a conductance unit, is EDA, and the markers are ``info["annotations"]``.
    """
    mne = require("mne", "io", "Reading BrainVision (.vhdr) files")
    path = Path(path)
    try:
        raw = mne.io.read_raw_brainvision(str(path), preload=True, verbose="error")
    except Exception as exc:  # mne raises assorted types on damaged files
        raise SignalError(f"{path}: not a readable BrainVision recording ({type(exc).__name__}: {exc}); the .vhdr "
                          "needs its .eeg (and .vmrk) beside it, as written") from exc
    rec = raw_to_recording(raw, str(path), convert=False)
    from .modalities import modality_from_name

    file_units = _vhdr_units(path)
    if len(file_units) != len(rec.channels):
        file_units = [""] * len(rec.channels)  # a header MNE reads but we cannot: SI values, units unknown
    units, mods, converted = {}, {}, {}
    for name, unit in zip(rec.channels, file_units):
        si = _BV_SI.get(unit)
        do = convert and si is not None
        if do:
            rec.signals[name] = rec.signals[name] / si
        if do or si is None:  # as the header states it (a unit MNE does not scale, e.g. °C, is as written too)
            units[name] = unit
        else:  # MNE's SI values
            units[name] = "S" if unit.endswith("S") else "V"
        converted[name] = do
        mods[name] = modality_from_name(name) or ("eda" if unit.endswith("S") and si is not None else None)
    rec.units = {n: u for n, u in units.items() if u}
    rec.info.update(format="brainvision", sensors={n: None for n in rec.channels}, modalities=mods, converted=converted)
    return rec
