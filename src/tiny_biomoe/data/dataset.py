"""The in-memory form every pain dataset adapter returns: trials of multimodal signals.

A :class:`Trial` is one stimulus presentation of one subject: a label and, per modality, a 1-D
signal with its sampling rate. A :class:`PainDataset` is a list of trials plus the class order
and a stable id (used in embedding cache keys). Adapters (AI4PAIN, BioVid, manifest, synthetic)
only differ in how they find and read trials; everything downstream sees this one shape.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import DatasetError

__all__ = ["Trial", "PainDataset", "DatasetWarning", "resolve_modalities"]


def resolve_modalities(requested: Sequence[str], known: Sequence[str]) -> list[str]:
    """``requested`` modality names spelt as the dataset spells them (``known``): an exact name, else
    the same name in another case (``eda`` -> ``EDA``), else the same modality under an alias
    (``gsr``/``ppg``/``spo2`` -> ``EDA``/``BVP``/``SpO2``) when exactly one known name is it. Names that
    match nothing are kept as given, for the caller's error that lists the known ones."""
    from ..errors import SignalError
    from ..signals.modalities import get_modality

    def canon(name: str) -> str | None:
        try:
            return get_modality(name).name
        except SignalError:
            return None

    out = []
    for r in requested:
        if r in known:
            out.append(r)
            continue
        same_case = [k for k in known if k.lower() == str(r).lower()]
        same_mod = [k for k in known if canon(str(r)) is not None and canon(k) == canon(str(r))]
        hit = same_case if len(same_case) == 1 else same_mod
        out.append(hit[0] if len(hit) == 1 else r)
    return out


class DatasetWarning(UserWarning):
    """Something in a dataset was skipped, padded or is missing; the message says what and how many."""


@dataclass
class Trial:
    """One labelled trial: ``signals[modality]`` is a 1-D float array at ``sampling_rates[modality]`` Hz.

    ``label`` is ``None`` only for partitions whose labels were never released (AI4PAIN test).
    ``partition`` is the dataset's own split (``'train'``, ``'validation'``, ``'test'``) or ``None``.
    ``info`` says how the adapter made the trial (e.g. AI4PAIN: the column it was cut from, its
    state and the start/end in seconds within that column).

    Attributes:
        subject: subject id (the group of the subject-wise protocols).
        trial: trial id, unique within the subject.
        label: class name, one of the dataset's ``classes``; ``None``: unlabelled (see above).
        signals: modality -> 1-D signal (made float64 by :class:`PainDataset`).
        sampling_rates: modality -> sampling rate in Hz (> 0).
        partition: the dataset's own split, or ``None`` (see above).
        source: where the trial was read from (a file path, ``"synthetic"``, ...); ``""``: not recorded.
        info: how the adapter made the trial (see above); empty by default.
    """

    subject: str
    trial: str
    label: str | None
    signals: dict[str, np.ndarray]
    sampling_rates: dict[str, float]
    partition: str | None = None
    source: str = ""
    info: dict = field(default_factory=dict)

    def duration(self, modality: str) -> float:
        """Length of one modality's signal in seconds."""
        return len(self.signals[modality]) / float(self.sampling_rates[modality])


@dataclass
class PainDataset:
    """A list of trials with the class order (index = integer label) and a stable dataset id.

    ``info`` records how the adapter built the trials (AI4PAIN: edition, segment construction, REST
    variant; BioVid: time unit). ``window_s`` is the window the trials call for (the length of the
    dataset's trials, e.g. 5.5 s for BioVid); ``None`` leaves the choice to the modality defaults.

    Attributes:
        name: dataset name (in messages, and part of :meth:`fingerprint`).
        trials: the :class:`Trial` objects (at least one; ``(subject, trial)`` ids unique).
        classes: class names in order (index = integer label); every trial label must be one of them.
        notes: remarks for the reader (e.g. a challenge rule), shown in :meth:`summary` and the report.
        info: how the adapter built the trials (see above).
        window_s: window in seconds the trials call for (see above).
    """

    name: str
    trials: list[Trial]
    classes: list[str]
    notes: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    window_s: float | None = None

    def __post_init__(self) -> None:
        if not self.trials:
            raise DatasetError(f"dataset {self.name!r} has no trials; check the folder/manifest and the file pattern")
        unknown = sorted({t.label for t in self.trials if t.label is not None and t.label not in self.classes})
        if unknown:
            raise DatasetError(
                f"dataset {self.name!r}: labels {unknown} are not among the classes {self.classes}; "
                "pass a label_map that maps them to known classes, or list them in classes="
            )
        keys = Counter((t.subject, t.trial) for t in self.trials)
        dup = [k for k, n in keys.items() if n > 1]
        if dup:
            raise DatasetError(f"dataset {self.name!r}: duplicate (subject, trial) ids, e.g. {dup[:3]}; trial ids must be unique per subject")
        for t in self.trials:
            for m, x in t.signals.items():
                x = np.asarray(x, dtype=np.float64)
                if x.ndim != 1 or x.size == 0:
                    raise DatasetError(f"trial {t.subject}/{t.trial}: modality {m} must be a non-empty 1-D signal, got shape {x.shape}")
                t.signals[m] = x
                if m not in t.sampling_rates or not t.sampling_rates[m] > 0:
                    raise DatasetError(f"trial {t.subject}/{t.trial}: modality {m} has no positive sampling rate")

    # ------------------------------------------------------------------ views
    @property
    def modalities(self) -> list[str]:
        """Modalities present in at least one trial, in first-seen order."""
        seen: dict[str, None] = {}
        for t in self.trials:
            for m in t.signals:
                seen.setdefault(m, None)
        return list(seen)

    @property
    def subjects(self) -> list[str]:
        """Subjects in first-seen order."""
        return list(dict.fromkeys(t.subject for t in self.trials))

    @property
    def partitions(self) -> list[str]:
        """The dataset's own partitions in first-seen order (empty when it has none)."""
        return [p for p in dict.fromkeys(t.partition for t in self.trials) if p is not None]

    def labelled(self) -> "PainDataset":
        """The trials that carry a label (drops AI4PAIN-test-like unlabelled trials, with a warning)."""
        keep = [t for t in self.trials if t.label is not None]
        if len(keep) < len(self.trials):
            warnings.warn(
                f"{self.name}: {len(self.trials) - len(keep)} trials have no label (e.g. a test partition whose labels "
                "were never released) and are left out of training and evaluation",
                DatasetWarning,
                stacklevel=2,
            )
        return PainDataset(self.name, keep, list(self.classes), list(self.notes), dict(self.info), self.window_s)

    def select(self, modalities: Sequence[str]) -> "PainDataset":
        """Trials that have all ``modalities`` (names in any case or alias: ``eda``, ``gsr`` -> ``EDA``);
        the others are left out with a warning saying how many."""
        modalities = resolve_modalities(list(modalities), self.modalities)
        missing_all = [m for m in modalities if m not in self.modalities]
        if missing_all:
            raise DatasetError(f"{self.name}: modalities {missing_all} not found; available: {self.modalities}")
        keep = [t for t in self.trials if all(m in t.signals for m in modalities)]
        if not keep:
            raise DatasetError(f"{self.name}: no trial has all of {list(modalities)}")
        if len(keep) < len(self.trials):
            lacking = Counter(m for t in self.trials for m in modalities if m not in t.signals)
            warnings.warn(
                f"{self.name}: {len(self.trials) - len(keep)} of {len(self.trials)} trials lack a selected modality "
                f"({dict(lacking)}) and are left out; select fewer modalities to keep them",
                DatasetWarning,
                stacklevel=2,
            )
        trials = [Trial(t.subject, t.trial, t.label, {m: t.signals[m] for m in modalities},
                        {m: t.sampling_rates[m] for m in modalities}, t.partition, t.source, dict(t.info)) for t in keep]
        return PainDataset(self.name, trials, list(self.classes), list(self.notes), dict(self.info), self.window_s)

    def in_partition(self, name: str) -> "PainDataset":
        """The trials of one of the dataset's own partitions (e.g. ``'test'``); DatasetError if it has none."""
        keep = [t for t in self.trials if t.partition == name]
        if not keep:
            raise DatasetError(f"{self.name}: no trials in partition {name!r}; partitions found: {self.partitions or 'none'} "
                               "(CLI: --partition NAME, or --partition all for every trial)")
        return PainDataset(self.name, keep, list(self.classes), list(self.notes), dict(self.info), self.window_s)

    def labels_array(self) -> np.ndarray:
        """Integer labels (index into ``classes``); -1 for unlabelled trials."""
        return np.array([self.classes.index(t.label) if t.label is not None else -1 for t in self.trials], dtype=np.int64)

    def groups_array(self) -> np.ndarray:
        """Subject id per trial (the groups of the subject-wise protocols)."""
        return np.array([t.subject for t in self.trials])

    def partitions_array(self) -> np.ndarray:
        """Partition per trial; ``''`` for trials without one."""
        return np.array([t.partition if t.partition is not None else "" for t in self.trials])

    def fingerprint(self) -> str:
        """Short stable id of the dataset content (name, ids, labels, signal bytes) for cache keys."""
        h = hashlib.sha256(self.name.encode())
        for t in self.trials:
            h.update(f"|{t.subject}|{t.trial}|{t.label}|{t.partition}".encode())
            for m in sorted(t.signals):
                h.update(m.encode())
                h.update(repr(float(t.sampling_rates[m])).encode())
                h.update(np.ascontiguousarray(t.signals[m], dtype=np.float64).tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ summary
    def summary(self) -> dict:
        """Participants, trials per class (and per partition), durations and rates per modality."""
        per_part: dict[str, Counter] = defaultdict(Counter)
        subj_part: dict[str, set] = defaultdict(set)
        for t in self.trials:
            p = t.partition or "all"
            per_part[p][t.label if t.label is not None else "(unlabelled)"] += 1
            subj_part[p].add(t.subject)
        mods = {}
        for m in self.modalities:
            durs = np.array([t.duration(m) for t in self.trials if m in t.signals])
            rates = sorted({float(t.sampling_rates[m]) for t in self.trials if m in t.signals})
            mods[m] = {
                "trials": int(durs.size),
                "duration_s": {"min": float(durs.min()), "median": float(np.median(durs)), "max": float(durs.max())},
                "sampling_rates_hz": rates,
            }
        per_subject = Counter(t.subject for t in self.trials)
        # segment durations per partition and class (first modality; adapters cut all modalities alike)
        seg: dict[str, dict[str, dict[str, float]]] = {}
        if self.modalities:
            m0 = self.modalities[0]
            by: dict[tuple[str, str], list[float]] = defaultdict(list)
            for t in self.trials:
                if m0 in t.signals:
                    by[(t.partition or "all", t.label if t.label is not None else "(unlabelled)")].append(t.duration(m0))
            for (p, c), v in by.items():
                a = np.asarray(v)
                seg.setdefault(p, {})[c] = {"min": float(a.min()), "median": float(np.median(a)), "max": float(a.max())}
        return {
            "name": self.name,
            "participants": len(self.subjects),
            "trials": len(self.trials),
            "classes": list(self.classes),
            "trials_per_class": dict(Counter(t.label if t.label is not None else "(unlabelled)" for t in self.trials)),
            "partitions": {p: {"participants": len(subj_part[p]), "trials_per_class": dict(c),
                               "duration_s_per_class": seg.get(p, {})} for p, c in per_part.items()},
            "trials_per_subject": {"min": min(per_subject.values()), "max": max(per_subject.values())},
            "modalities": mods,
            "window_s": self.window_s,
            "construction": dict(self.info),
            "notes": list(self.notes),
        }

    def summary_text(self) -> str:
        """Human-readable :meth:`summary`, printed by the CLI before anything is trained."""
        s = self.summary()
        lines = [f"dataset {s['name']}: {s['participants']} participants, {s['trials']} trials, classes {s['classes']}"]
        for p, d in s["partitions"].items():
            counts = ", ".join(f"{k}={v}" for k, v in d["trials_per_class"].items())
            lines.append(f"  partition {p}: {d['participants']} participants; trials per class: {counts}")
            durs = "; ".join(f"{k} {v['min']:.2f}/{v['median']:.2f}/{v['max']:.2f} s"
                             for k, v in d.get("duration_s_per_class", {}).items())
            if durs:
                lines.append(f"    segment durations (min/median/max): {durs}")
        lines.append(f"  trials per participant: {s['trials_per_subject']['min']}..{s['trials_per_subject']['max']}")
        for m, d in s["modalities"].items():
            du = d["duration_s"]
            lines.append(
                f"  {m}: {d['trials']} trials, duration {du['min']:.2f}/{du['median']:.2f}/{du['max']:.2f} s (min/median/max), "
                f"rate {', '.join(f'{r:g}' for r in d['sampling_rates_hz'])} Hz"
            )
        if s["window_s"] is not None:
            lines.append(f"  window: {s['window_s']:g} s (the trials' length; --window-s overrides)")
        for k, v in s["construction"].items():
            lines.append(f"  {k}: {v}")
        for n in s["notes"]:
            lines.append(f"  note: {n}")
        return "\n".join(lines)

