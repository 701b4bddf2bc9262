"""Event-locked trials: cut trials out of one continuous recording around its events.

Events are a pandas DataFrame with the columns ``onset`` (seconds from the first sample),
``duration`` (seconds, may be 0) and ``label`` -- the shape of a BIDS ``_events.tsv`` (with
``trial_type`` as the label). :func:`read_events` reads them from

* an events table (``.tsv``/``.csv`` or a DataFrame) with ``onset``/``duration`` and a label column
  (``trial_type``, ``label``, ``event``, ``condition``, ``value`` or ``label_column=``);
* a BIDS ``*_events.tsv`` (the same, ``n/a`` durations read as 0);
* an Empatica E4 ``tags.csv`` (one UNIX time per line; ``start_time=`` is the recording's start,
  the first line of its ``EDA.csv``, or the path of that file);
* MNE annotations (an ``mne.io.Raw`` or ``mne.Annotations`` with the ``Raw`` for its time origin);
* a :class:`~tiny_biomoe.signals.Recording` whose reader found events: EDF+ annotations
  (``info["annotations"]``) or tags (Empatica EmbracePlus button presses, ``info["tags"]`` in UNIX
  seconds; onsets from the recording's earliest channel start);

and :func:`events_from_stim` finds them in a stimulus/trigger channel (a Stim column, PLUX
digital inputs): every run of non-zero samples is one event, labelled by its value.

:func:`cut_trials` then cuts ``[onset + tmin, onset + tmax)`` of every channel (like
``mne.Epochs``/``nk.epochs_create``; ``tmax=None`` uses each event's duration), optionally
subtracts the mean of a baseline interval, and returns :class:`~tiny_biomoe.data.Trial` objects;
:func:`dataset_from_events` makes a :class:`~tiny_biomoe.data.PainDataset` for the pain pipeline.

>>> import numpy as np, pandas as pd
>>> ev = pd.DataFrame({"onset": [5.0, 20.0], "duration": [10.0, 10.0], "label": ["rest", "pain"]})
>>> trials = cut_trials({"EDA": np.arange(4000.0)}, ev, sampling_rate=100, subject="s1", tmin=0, tmax=10)
>>> tuple((t.trial, t.label, t.signals["EDA"].size, float(t.signals["EDA"].min())) for t in trials)
(('000', 'rest', 1000, 500.0), ('001', 'pain', 1000, 2000.0))
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError, SignalError
from .dataset import DatasetWarning, PainDataset, Trial

__all__ = ["EVENT_COLUMNS", "read_events", "events_from_stim", "read_empatica_tags", "events_from_annotations",
           "cut_trials", "dataset_from_events"]

#: columns of an events frame
EVENT_COLUMNS = ("onset", "duration", "label")
_LABEL_COLUMNS = ("trial_type", "label", "event", "condition", "value", "stim_type", "description")


def _frame(onset, duration, label) -> pd.DataFrame:
    df = pd.DataFrame({"onset": np.asarray(onset, dtype=np.float64), "duration": np.asarray(duration, dtype=np.float64),
                       "label": [str(v) for v in label]})
    return df.sort_values("onset", kind="stable").reset_index(drop=True)


def read_events(
    source: Any,
    *,
    label_column: str | None = None,
    start_time: "float | str | os.PathLike | None" = None,
    raw: Any = None,
) -> pd.DataFrame:
    """Events as a frame ``onset, duration, label`` (seconds, sorted by onset).

    ``source``: a path to an events table / BIDS ``_events.tsv`` / Empatica ``tags.csv``, a DataFrame,
    an ``mne.io.Raw`` (its annotations) or ``mne.Annotations`` (with ``raw=`` for the time origin), or a
    :class:`~tiny_biomoe.signals.Recording` with EDF+ annotations or tags (EmbracePlus).
    ``start_time`` (Empatica tags only): the UNIX time of the first sample, or the path of the E4
    signal file whose first line holds it.

    Args:
        source: the events file, DataFrame, MNE object or Recording with annotations or tags (see above).
        label_column: the column holding the labels (any case); ``None``: the first of ``trial_type``,
            ``label``, ``event``, ``condition``, ``value``, ``stim_type``, ``description``, else every label
            is ``"event"``.
        start_time: for Empatica tags (see above); given, any file is read as an Empatica ``tags.csv``.
        raw: the ``mne.io.Raw`` whose first sample is the time origin of ``mne.Annotations``.
    """
    if type(source).__module__.startswith("mne."):
        return events_from_annotations(source, raw=raw)
    from ..signals.readers import Recording

    if isinstance(source, Recording):
        if source.info.get("annotations"):  # EDF+ annotations, onsets from the first sample
            ann = source.info["annotations"]
            return _frame([a["onset"] for a in ann], [a["duration"] for a in ann], [a["label"] for a in ann])
        return _recording_tags(source)
    if isinstance(source, pd.DataFrame):
        return _from_table(source, label_column, "<DataFrame>")
    path = Path(source)
    if not path.is_file():
        raise DatasetError(f"events file {str(path)!r} does not exist")
    if path.name.lower() == "tags.csv" or start_time is not None:
        return read_empatica_tags(path, start_time=start_time)
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        df = pd.read_csv(path, sep=sep, na_values=["n/a", "N/A", ""], keep_default_na=True)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read events file {path}: {exc}") from exc
    return _from_table(df, label_column, str(path))


def _from_table(df: pd.DataFrame, label_column: str | None, source: str) -> pd.DataFrame:
    cols = {str(c).strip().lower(): c for c in df.columns}
    if "onset" not in cols:
        raise DatasetError(f"{source}: events need an 'onset' column (seconds; BIDS events.tsv layout); columns: {list(df.columns)}")
    if label_column is not None:
        if label_column.lower() not in cols:
            raise DatasetError(f"{source}: no label column {label_column!r}; columns: {list(df.columns)}")
        lab = cols[label_column.lower()]
    else:
        lab = next((cols[c] for c in _LABEL_COLUMNS if c in cols), None)
    onset = pd.to_numeric(df[cols["onset"]], errors="coerce")
    if onset.isna().any():
        raise DatasetError(f"{source}: {int(onset.isna().sum())} onsets are not numbers (seconds)")
    dur = pd.to_numeric(df[cols["duration"]], errors="coerce").fillna(0.0) if "duration" in cols else np.zeros(len(df))
    if np.any(np.asarray(dur) < 0):
        raise DatasetError(f"{source}: negative event durations")
    labels = df[lab].astype(str).str.strip() if lab is not None else ["event"] * len(df)
    return _frame(onset, dur, labels)


def read_empatica_tags(path: "str | os.PathLike", *, start_time: "float | str | os.PathLike | None") -> pd.DataFrame:
    """Empatica E4 ``tags.csv`` (UNIX times of button presses) as events ``tag1, tag2, ...`` of duration 0.

    ``start_time``: UNIX time of the recording's first sample, or the path of an E4 signal file
    (``EDA.csv``, ``BVP.csv``, ...; its first line is that time).
    """
    path = Path(path)
    if start_time is None:
        raise DatasetError(f"{path}: Empatica tags are UNIX times; pass start_time= (the first line of EDA.csv, "
                           "or the path of EDA.csv)")
    if isinstance(start_time, (str, os.PathLike)):
        try:
            t0 = float(Path(start_time).read_text().splitlines()[0].split(",")[0])
        except (OSError, IndexError, ValueError) as exc:
            raise DatasetError(f"{start_time}: cannot read the E4 start time from its first line ({exc})") from exc
    else:
        t0 = float(start_time)
    try:
        text = path.read_text().split()
        times = np.array([float(v.split(",")[0]) for v in text], dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not an Empatica tags.csv (one UNIX time per line) ({exc})") from exc
    return _tag_events(times, t0)


def _recording_tags(rec: Any) -> pd.DataFrame:
    """A recording's tags (UNIX seconds, ``info["tags"]``) as events ``tag1, tag2, ...`` of duration 0,
    onsets from its earliest channel start (``info["start_time"]``, UNIX seconds)."""
    tags, start = rec.info.get("tags"), rec.info.get("start_time")
    if tags is None:
        raise DatasetError(f"{rec.source}: its reader found no events (EDF+ annotations, EmbracePlus tags); pass an "
                           "events file instead")
    starts = list(start.values()) if isinstance(start, Mapping) else [start]
    try:
        t0 = min(float(v) for v in starts)
    except (TypeError, ValueError):
        raise DatasetError(f"{rec.source}: tags without a UNIX start time (info['start_time']) to place them") from None
    return _tag_events(np.asarray(tags, dtype=np.float64), t0)


def _tag_events(times: np.ndarray, t0: float) -> pd.DataFrame:
    """Button presses at UNIX ``times`` as events ``tag1, tag2, ...`` of duration 0, onsets from ``t0``."""
    return _frame(times - t0, np.zeros(times.size), [f"tag{i + 1}" for i in range(times.size)])


def events_from_annotations(obj: Any, *, raw: Any = None) -> pd.DataFrame:
    """MNE annotations as events; onsets in seconds from the first sample of ``raw`` (``obj`` or ``raw=``)."""
    import mne

    if isinstance(obj, mne.io.BaseRaw):
        raw, ann = obj, obj.annotations
    elif isinstance(obj, mne.Annotations):
        ann = obj
    else:
        raise DatasetError(f"expected an mne.io.Raw or mne.Annotations, got {type(obj).__name__}")
    if raw is not None:
        # onset in samples from the first sample of the data, with MNE's own time origin rules
        idx = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
        onset = idx / float(raw.info["sfreq"])
    elif ann.orig_time is None:
        onset = np.asarray(ann.onset, dtype=np.float64)
    else:
        raise DatasetError("these annotations have a measurement-date origin; pass raw= to place them in the recording")
    return _frame(onset, ann.duration, ann.description)


def events_from_stim(
    stim: Any,
    sampling_rate: float,
    *,
    label_map: Mapping[Any, str] | None = None,
    invert: bool = False,
    min_duration: float = 0.0,
) -> pd.DataFrame:
    """Events from a trigger channel: each run of non-zero samples is one event (onset, duration).

    The label is the run's value (``"1"``, ``"2"``, ... or ``label_map[value]``); ``invert=True``
    treats 0 as the active state (active-low PLUX digital inputs hold 1 at rest and drop to 0).
    Runs shorter than ``min_duration`` seconds are ignored (contact bounce).
    """
    from ..signals.processing import check_sampling_rate

    fs = check_sampling_rate(sampling_rate)
    x = np.asarray(stim, dtype=np.float64).ravel()
    if x.size == 0:
        raise SignalError("the stimulus channel is empty")
    x = np.nan_to_num(x, nan=0.0)
    if invert:
        x = np.where(x == 0, 1.0, 0.0)
    change = np.flatnonzero(np.diff(x) != 0) + 1
    bounds = np.concatenate(([0], change, [x.size]))
    on, dur, lab = [], [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        v = x[a]
        if v == 0 or (b - a) / fs < min_duration:
            continue
        key = int(v) if float(v).is_integer() else float(v)
        on.append(a / fs)
        dur.append((b - a) / fs)
        lab.append(label_map.get(key, str(key)) if label_map else str(key))
    return _frame(on, dur, lab)


def _channels(recording: Any, sampling_rate: float | None, channels: Mapping[str, str] | None) -> tuple[dict[str, np.ndarray], dict[str, float], str]:
    from ..signals.readers import Recording, read_signal

    rec = recording if isinstance(recording, Recording) else read_signal(recording, sampling_rate=sampling_rate)
    if sampling_rate is not None and isinstance(recording, Recording):
        rec = read_signal(recording, sampling_rate=sampling_rate)
    if channels is None:
        chosen = {c: c for c in rec.channels}
    else:
        from ..signals.readers import _resolve_column

        chosen = {mod: _resolve_column(col, rec.channels, rec.source) for mod, col in channels.items()}
    return ({mod: np.asarray(rec.signals[c], dtype=np.float64) for mod, c in chosen.items()},
            {mod: rec.rate(c) for mod, c in chosen.items()}, rec.source)


def cut_trials(
    recording: Any,
    events: Any,
    *,
    subject: str,
    tmin: float = 0.0,
    tmax: float | None = None,
    sampling_rate: float | None = None,
    channels: Mapping[str, str] | None = None,
    labels: Sequence[str] | None = None,
    label_map: Mapping[str, str | None] | None = None,
    baseline: tuple[float, float] | None = None,
    partition: str | None = None,
) -> list[Trial]:
    """Cut one trial per event: samples ``[onset + tmin, onset + tmax)`` of every channel.

    Args:
        recording: a :class:`~tiny_biomoe.signals.Recording`, a path, or any in-memory input of
            :func:`~tiny_biomoe.signals.read_signal` (DataFrame, NeuroKit2 frame, MNE ``Raw``, dict).
        events: an events frame (:func:`read_events`) or anything :func:`read_events` reads.
        subject: the subject id of every trial.
        tmin: start of the trial in seconds relative to onset (negative: before it).
        tmax: end in seconds relative to onset (``None``: the event's duration; an event of
            duration 0 then is a DatasetError).
        sampling_rate: Hz, as :func:`~tiny_biomoe.signals.read_signal` takes it: the rate of a Recording or an
            in-memory input, and of a file only where it states none (``None``: the recording's own rate).
        channels: modality -> channel name (default: every channel, named as in the recording).
        labels: keep only events with these labels; ``label_map`` renames labels first (``None``
            drops an event).
        label_map: label -> new label, applied before ``labels``; a label mapped to ``None`` drops its events,
            labels not in it stay as they are.
        baseline: ``(b0, b1)`` seconds relative to onset; the mean of that interval is subtracted
            from the trial, per channel (as ``mne.Epochs(baseline=...)``).
        partition: the partition of every trial (``None``: none).

    Events whose interval leaves the recording are dropped with a :class:`DatasetWarning`.
    """
    ev = events if isinstance(events, pd.DataFrame) and list(events.columns[:3]) == list(EVENT_COLUMNS) else read_events(events)
    sigs, rates, source = _channels(recording, sampling_rate, channels)
    if tmax is not None and not tmax > tmin:
        raise DatasetError(f"tmax ({tmax}) must be greater than tmin ({tmin})")
    if baseline is not None and not baseline[1] > baseline[0]:
        raise DatasetError(f"baseline {baseline} must be (start, end) with end > start, in seconds from onset")
    out: list[Trial] = []
    dropped = 0
    for i, row in ev.iterrows():
        lab = str(row["label"])
        if label_map is not None:
            lab = label_map.get(lab, lab)
            if lab is None:
                continue
        if labels is not None and lab not in labels:
            continue
        hi = tmax if tmax is not None else float(row["duration"])
        if not hi > tmin:
            raise DatasetError(f"event {i} ({lab} at {row['onset']:g} s) has duration {row['duration']:g} s; give tmax=")
        cut: dict[str, np.ndarray] = {}
        for mod, x in sigs.items():
            fs = rates[mod]
            o = int(round(float(row["onset"]) * fs))
            a, b = o + int(round(tmin * fs)), o + int(round(hi * fs))
            lo = min(a, o + int(round(baseline[0] * fs))) if baseline is not None else a
            top = max(b, o + int(round(baseline[1] * fs))) if baseline is not None else b
            if lo < 0 or top > x.size:
                break
            seg = x[a:b].copy()
            if baseline is not None:
                base = x[o + int(round(baseline[0] * fs)): o + int(round(baseline[1] * fs))]
                seg -= np.nanmean(base)
            cut[mod] = seg
        if len(cut) < len(sigs):
            dropped += 1
            continue
        t = Trial(str(subject), f"{i:03d}", lab, cut, dict(rates), partition, f"{source}@{float(row['onset']):g}s")
        t.info.update(onset_s=float(row["onset"]), tmin=float(tmin), tmax=float(hi), event=int(i),
                      baseline=None if baseline is None else list(baseline))
        out.append(t)
    if dropped:
        warnings.warn(f"{source}: {dropped} events lie (partly) outside the recording for [{tmin:g}, "
                      f"{'duration' if tmax is None else f'{tmax:g}'}] s and were dropped", DatasetWarning, stacklevel=2)
    return out


def dataset_from_events(
    recordings: Mapping[str, tuple[Any, Any]],
    *,
    name: str = "events",
    classes: Sequence[str] | None = None,
    **cut_kwargs: Any,
) -> PainDataset:
    """A :class:`PainDataset` from ``{subject: (recording, events)}`` with :func:`cut_trials` for each.

    ``classes`` fixes the class order and keeps only those labels (default: labels in first-seen order).

    Args:
        recordings: subject id -> ``(recording, events)``, each as :func:`cut_trials` takes them.
        name: the dataset's name.
        classes: class order; unless ``cut_kwargs`` has ``labels``, only events with these labels are kept.
        **cut_kwargs: further keyword arguments of :func:`cut_trials` (``tmin``, ``tmax``, ``channels``,
            ``label_map``, ``baseline``, ...).
    """
    trials: list[Trial] = []
    if classes is not None:
        cut_kwargs.setdefault("labels", list(classes))
    for subj, (rec, ev) in recordings.items():
        trials += cut_trials(rec, ev, subject=str(subj), **cut_kwargs)
    if not trials:
        raise DatasetError(f"{name}: no trial could be cut; check the events, labels and tmin/tmax")
    cls = list(classes) if classes is not None else list(dict.fromkeys(t.label for t in trials))
    return PainDataset(name, trials, cls)
