"""Signals as they live in memory: pandas Series/DataFrames, NeuroKit2 outputs, MNE ``Raw``.

:func:`as_recording` turns such an object into a :class:`~tiny_biomoe.signals.Recording` (named
1-D float64 channels plus their rate), so that :func:`~tiny_biomoe.signals.read_signal`,
:func:`~tiny_biomoe.embed.embed_signal` and the event tools take them directly:

* a pandas ``Series`` or ``DataFrame``: the rate comes from a ``DatetimeIndex``/``TimedeltaIndex``,
  a time column (``time``, ``timestamp``, ... or ``time_column=``; datetime columns too) or
  ``sampling_rate=``; non-numeric columns are left out;
* a NeuroKit2 frame (what ``nk.eda_process``/``nk.ppg_process``/... return): asked for a modality
  without a column, the ``<PREFIX>_Clean`` column of that modality is used (``EDA_Clean``,
  ``PPG_Clean``, ``ECG_Clean``, ``RSP_Clean``, ``EMG_Clean``); the ``(signals, info)`` tuple that
  NeuroKit2 returns is accepted as is and its ``info["sampling_rate"]`` used;
* an MNE ``Raw``: channels by name (``column=``) or by type (``picks="ecg"``, any MNE ``picks``),
  the rate from ``info["sfreq"]``, data in MNE's units (volts for EEG/ECG/EMG).

Anything else is a :class:`~tiny_biomoe.errors.SignalError` that says how to convert it.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import InputError, SignalError
from .modalities import get_modality
from .processing import check_sampling_rate
from .readers import TIME_COLUMN_NAMES, TIME_COLUMN_NAMES_MS, Recording

__all__ = ["as_recording", "is_in_memory", "one_channel", "NEUROKIT_PREFIXES"]

#: canonical modality -> column prefix of NeuroKit2's ``*_process`` frames
NEUROKIT_PREFIXES = {"eda": "EDA", "bvp": "PPG", "ecg": "ECG", "resp": "RSP", "emg": "EMG", "eeg": "EEG"}


def _is_pandas(obj: Any) -> bool:
    mod = type(obj).__module__
    return (mod == "pandas" or mod.startswith("pandas.")) and type(obj).__name__ in ("Series", "DataFrame")


def _is_mne_raw(obj: Any) -> bool:
    try:
        import mne  # noqa: F401  (only imported when the object could be one)
    except ImportError:  # pragma: no cover - mne is optional
        return False
    from mne.io import BaseRaw

    return isinstance(obj, BaseRaw)


def is_in_memory(obj: Any) -> bool:
    """True for the objects :func:`as_recording` converts (pandas, NeuroKit2 ``(frame, info)``, MNE ``Raw``)."""
    if isinstance(obj, tuple) and len(obj) == 2 and _is_pandas(obj[0]) and isinstance(obj[1], Mapping):
        return True
    return _is_pandas(obj) or (type(obj).__module__.startswith("mne.") and _is_mne_raw(obj))


def as_recording(
    obj: Any,
    *,
    column: "str | int | Sequence[str | int] | None" = None,
    sampling_rate: float | None = None,
    time_column: "str | bool | None" = None,
    modality: str | None = None,
    picks: Any = None,
) -> Recording:
    """Convert an in-memory signal container to a :class:`Recording`.

    Args:
        obj: pandas ``Series``/``DataFrame``, NeuroKit2 ``(frame, info)`` tuple, or MNE ``Raw``.
        column: channel(s) to keep, by name (case-insensitive) or 0-based index.
        sampling_rate: Hz; overrides the rate found in the object (a differing index rate warns).
        time_column: pandas only: name of a time column (seconds, or datetimes); ``None``
            auto-detects ``time``/``timestamp``/...; ``False`` disables detection.
        modality: with a NeuroKit2 frame and no ``column``, keep that modality's ``*_Clean`` column.
        picks: MNE only: channel types or names (``"ecg"``, ``["EDA"]``), passed to MNE's ``pick``.

    >>> import pandas as pd
    >>> s = pd.Series([1.0, 2.0, 3.0], index=pd.timedelta_range(0, periods=3, freq="10ms"), name="EDA")
    >>> rec = as_recording(s)
    >>> rec.channels, rec.sampling_rate
    (['EDA'], 100.0)
    """
    cols = None if column is None else ([column] if isinstance(column, (str, int, np.integer)) else list(column))
    if isinstance(obj, tuple) and len(obj) == 2 and _is_pandas(obj[0]) and isinstance(obj[1], Mapping):
        frame, info = obj
        fs = sampling_rate if sampling_rate is not None else info.get("sampling_rate")
        return _from_pandas(frame, cols, fs, time_column, modality, source="<neurokit2>")
    if _is_pandas(obj):
        return _from_pandas(obj, cols, sampling_rate, time_column, modality)
    if type(obj).__module__.startswith("mne.") and _is_mne_raw(obj):
        return _from_mne(obj, cols, sampling_rate, picks)
    raise SignalError(_conversion_hint(obj))


def _conversion_hint(obj: Any) -> str:
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    hints = {
        "torch": "use tensor.detach().cpu().numpy()",
        "polars": "use frame.to_pandas() (or .to_numpy() with sampling_rate=)",
        "xarray": "use data_array.to_pandas() or .values with sampling_rate=",
        "mne": "pass an mne.io.Raw (for Epochs use epochs.get_data() with sampling_rate=epochs.info['sfreq'])",
    }
    hint = next((h for k, h in hints.items() if name.startswith(k)), None)
    return (f"cannot use a {name} as a signal; {hint or 'convert it to a NumPy array (np.asarray(x)) and pass sampling_rate='}. "
            "Accepted: NumPy arrays, dicts of 1-D arrays, pandas Series/DataFrames, NeuroKit2 outputs, mne.io.Raw, "
            "or a file path")


def _index_seconds(index: Any) -> np.ndarray | None:
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex):
        return (index - index[0]).total_seconds().to_numpy(np.float64) if len(index) else None
    if isinstance(index, pd.TimedeltaIndex):
        return index.total_seconds().to_numpy(np.float64)
    return None


def _column_seconds(col: Any) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        return (col - col.iloc[0]).dt.total_seconds().to_numpy(np.float64)
    if pd.api.types.is_timedelta64_dtype(col):
        return col.dt.total_seconds().to_numpy(np.float64)
    return pd.to_numeric(col, errors="coerce").to_numpy(np.float64)


def _match(names: Sequence[str], wanted: "str | int", source: str) -> str:
    if isinstance(wanted, (int, np.integer)):
        if not -len(names) <= int(wanted) < len(names):
            raise SignalError(f"{source}: column index {wanted} out of range; channels are {list(names)}")
        return names[int(wanted)]
    if wanted in names:
        return wanted
    low = {n.lower(): n for n in names}
    if str(wanted).lower() in low:
        return low[str(wanted).lower()]
    raise SignalError(f"{source}: no column {wanted!r}; available: {list(names)} (pass column=NAME)")


def _from_pandas(obj: Any, cols, sampling_rate, time_column, modality, source: str = "<DataFrame>") -> Recording:
    import pandas as pd

    from .readers import _rate_from_time

    if isinstance(obj, pd.Series):
        name = str(obj.name) if obj.name is not None else "signal"
        obj = obj.to_frame(name)
        source = "<Series>"
    if obj.empty:
        raise SignalError(f"{source}: the frame has no rows")
    df = obj.copy()
    df.columns = [str(c) for c in df.columns]
    names = list(df.columns)
    time = _index_seconds(df.index)
    time_from = "index" if time is not None else None
    tcol = None
    if time_column is not None and time_column is not False:
        tcol = _match(names, time_column, source)
    elif time_column is None:
        tcol = next((c for c in names if c.lower() in TIME_COLUMN_NAMES + TIME_COLUMN_NAMES_MS), None)
    if tcol is not None:
        t = _column_seconds(df[tcol])
        if tcol.lower() in TIME_COLUMN_NAMES_MS and not pd.api.types.is_datetime64_any_dtype(df[tcol]):
            t = t * 1e-3
        time, time_from = t, f"time column {tcol!r}"
    numeric = {c: pd.to_numeric(df[c], errors="coerce") for c in names if c != tcol}
    usable = [c for c in numeric if pd.api.types.is_numeric_dtype(df[c]) or not numeric[c].isna().all()]
    if cols is not None:
        chosen = [_match(names, c, source) for c in cols]
        bad = [c for c in chosen if c not in usable]
        if bad:
            raise SignalError(f"{source}: column(s) {bad} are not numeric signals")
    elif modality is not None and (clean := _neurokit_column(usable, modality)) is not None:
        chosen = [clean]
    else:
        chosen = usable
    if not chosen:
        raise SignalError(f"{source}: no numeric signal columns (columns: {names})")
    signals = {c: numeric[c].to_numpy(np.float64) for c in chosen}
    info: dict[str, Any] = {"format": "pandas", "time_column": tcol}
    if sampling_rate is not None:
        fs = check_sampling_rate(sampling_rate)
        info["sampling_rate_from"] = "given"
        if time is not None:
            ft = _rate_from_time(time, source)
            if abs(ft - fs) > 0.01 * fs:
                import warnings

                warnings.warn(f"{source}: given sampling rate {fs:g} Hz differs from the {time_from}'s {ft:g} Hz; "
                              "using the given rate", stacklevel=4)
    elif time is not None:
        fs = check_sampling_rate(_rate_from_time(time, source))
        info["sampling_rate_from"] = time_from
    else:
        raise SignalError(
            f"{source}: no sampling rate: the index is not a DatetimeIndex/TimedeltaIndex and there is no time "
            "column; pass sampling_rate= (NeuroKit2: the info['sampling_rate'] of *_process, or pass the "
            "(signals, info) tuple)"
        )
    if time is not None and len(time) == len(df):
        import warnings

        from .tables import on_time_grid

        notes: list[str] = []
        signals = on_time_grid(np.asarray(time, dtype=np.float64), signals, fs, source=f"{source}: {time_from}",
                               notes=notes)
        for n in notes:
            warnings.warn(n, stacklevel=4)
    return Recording(signals, fs, source, info=info)


def _neurokit_column(names: Sequence[str], modality: str) -> str | None:
    try:
        canon = get_modality(modality).name
    except SignalError:
        return None
    prefix = NEUROKIT_PREFIXES.get(canon)
    if prefix is None:
        return None
    want = f"{prefix}_Clean".lower()
    return next((n for n in names if n.lower() == want), None)


def _from_mne(raw: Any, cols, sampling_rate, picks) -> Recording:
    source = f"<mne.io.Raw {raw.filenames[0] if getattr(raw, 'filenames', None) and raw.filenames[0] else ''}>".replace(" >", ">")
    names = list(raw.ch_names)
    if cols is not None and picks is not None:
        raise SignalError("give either column= (channel names) or picks= (MNE channel types/names), not both")
    if cols is not None:
        sel = [_match(names, c, source) for c in cols]
    elif picks is not None:
        types = raw.get_channel_types()
        sel = []
        for p in [picks] if isinstance(picks, str) else list(picks):
            if p in names:
                sel.append(p)
            elif str(p).lower() in types:
                sel += [n for n, t in zip(names, types) if t == str(p).lower()]
            else:
                raise SignalError(f"{source}: picks={p!r} is neither a channel name nor a channel type present; "
                                  f"channels: {names}, types: {sorted(set(types))}")
        sel = list(dict.fromkeys(sel))
    else:
        sel = names
    data = raw.get_data(picks=sel)
    fs = check_sampling_rate(sampling_rate if sampling_rate is not None else float(raw.info["sfreq"]))
    types = dict(zip(names, raw.get_channel_types()))
    info = {"format": "mne", "sampling_rate_from": "given" if sampling_rate is not None else "info['sfreq']",
            "channel_types": {n: types[n] for n in sel}}
    return Recording({n: np.asarray(row, dtype=np.float64) for n, row in zip(sel, data)}, fs, source, info=info)


def one_channel(
    signal: Any,
    *,
    sampling_rate: float | None,
    modality: str,
    column: "str | int | None" = None,
    caller: str = "embed_signal",
) -> tuple[np.ndarray, float, str, "str | None"]:
    """The one channel a signal entry point works on: ``(samples, rate, source, channel)``.

    ``signal`` is a 1-D array-like, a :class:`~tiny_biomoe.signals.Recording`, or anything
    :func:`as_recording` converts (pandas, NeuroKit2, MNE ``Raw``). The channel is ``column`` or
    the one named like ``modality``; ``sampling_rate`` (Hz) overrides the object's own rate. A file
    name or an unknown type is an error that says what to pass instead.
    """
    if isinstance(signal, (str, os.PathLike)):
        fn = "embed_file" if caller.startswith("embed") else "render_file"
        raise InputError(f"{caller} takes samples, not a file name ({str(signal)!r}); use "
                         f"{fn}(path, modality=...) or {caller}(read_signal(path), modality=...)")
    canon = get_modality(modality).name
    source, channel = "<array>", None
    if is_in_memory(signal) or not (isinstance(signal, (np.ndarray, Recording, list, tuple))
                                    or hasattr(signal, "__array__")):
        signal = as_recording(signal, column=column, sampling_rate=sampling_rate, modality=canon)
    if isinstance(signal, Recording):
        channel, samples, rate = signal.pick(column, canon)
        source = signal.source
        sampling_rate = rate if sampling_rate is None else sampling_rate
        signal = samples
    return signal, check_sampling_rate(sampling_rate), source, channel
