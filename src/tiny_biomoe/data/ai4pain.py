"""AI4PAIN 2025 and 2026, read exactly as the challenge distributes them.

Layout (organisers' 2026 protocol document; participants' published code and papers)::

    [AI4Pain 2025 Dataset/]            optional wrapper folder of the zip
        train/ validation/ test/
            Bvp/ Eda/ Resp/ SpO2/      one folder per modality
                <subject>.csv          one CSV per participant, 100 Hz, no time column

Each column of a participant's CSV is one segment of the session, named ``<subject>_<State>_<k>``
(spelling and case vary: ``Baseline``/``BASELINE``, ``LOW``/``Low``, ``REST``/``Rest``); shorter
columns are padded with empty cells to the longest. The test partition's columns are blinded
(``<subject>_<k>``: no state, no label).

* **2025** (classes No_Pain / Low_Pain / High_Pain): one ~60 s ``Baseline`` column, 12 ``LOW`` and
  12 ``HIGH`` (~10 s), ``REST`` (~40 s) between stimuli. Default construction, as the participants
  built it: the baseline cut into ``baseline_segments=6`` non-overlapping segments of ``segment_s``
  (No_Pain), each LOW/HIGH column one trial, REST left out (it may carry residual pain).
  ``rest="no_pain"`` adds the last ``segment_s`` seconds of ``rest_periods=6`` REST periods as
  further No_Pain (the organisers' 2026 variant).
* **2026** (classes No_Pain / Arm_Pain / Hand_Pain): columns ``Baseline_<k>``, ``ARM_<k>``,
  ``HAND_<k>``, 12 each, already ~10 s: each column one trial.

The per-trial layout this package assumed before (one CSV per trial) is still read as a fallback
(``layout="per_trial"``, or automatically when the modality folders hold no session tables).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DatasetError
from . import _files
from .dataset import DatasetWarning, PainDataset, Trial, resolve_modalities
from .folders import load_trial_folder, select_columns

__all__ = [
    "AI4PAIN_CLASSES",
    "AI4PAIN_2026_CLASSES",
    "AI4PAIN_LABELS",
    "AI4PAIN_COLUMNS",
    "AI4PAIN_MODALITY_FOLDERS",
    "AI4PAIN_PARTITIONS",
    "parse_segment_name",
    "find_ai4pain_root",
    "load_ai4pain",
]

AI4PAIN_CLASSES = ["No_Pain", "Low_Pain", "High_Pain"]
AI4PAIN_2026_CLASSES = ["No_Pain", "Arm_Pain", "Hand_Pain"]
#: raw label spellings of the per-trial fallback layout (case-insensitive) -> class
AI4PAIN_LABELS = {
    "No_Pain": "No_Pain", "NoPain": "No_Pain", "NP": "No_Pain", "Baseline": "No_Pain", "No": "No_Pain",
    "Low_Pain": "Low_Pain", "LowPain": "Low_Pain", "LP": "Low_Pain", "Low": "Low_Pain",
    "High_Pain": "High_Pain", "HighPain": "High_Pain", "HP": "High_Pain", "High": "High_Pain",
}
#: modality -> accepted folder names (case-insensitive), as distributed first
AI4PAIN_MODALITY_FOLDERS = {"EDA": ["Eda", "GSR"], "BVP": ["Bvp", "PPG"], "RESP": ["Resp", "Respiration"], "SpO2": ["SpO2"]}
#: per-trial fallback: modality -> accepted column names
AI4PAIN_COLUMNS = {"EDA": ["EDA", "Eda", "GSR"], "BVP": ["BVP", "Bvp", "PPG"], "RESP": ["RESP", "Resp", "Respiration"],
                   "SpO2": ["SpO2", "Spo2", "SPO2"]}
#: partition -> accepted folder names (case-insensitive)
AI4PAIN_PARTITIONS = {"train": ["train", "training"], "validation": ["validation", "val", "valid", "dev"],
                      "test": ["test", "testing"]}
#: segment state (any case) -> canonical state
_STATES = {"baseline": "Baseline", "base": "Baseline", "bl": "Baseline", "low": "LOW", "high": "HIGH",
           "rest": "REST", "arm": "ARM", "hand": "HAND"}
_STATE_CLASS = {"2025": {"Baseline": "No_Pain", "LOW": "Low_Pain", "HIGH": "High_Pain"},
                "2026": {"Baseline": "No_Pain", "ARM": "Arm_Pain", "HAND": "Hand_Pain"}}
_EDITION_OF = {"LOW": "2025", "HIGH": "2025", "ARM": "2026", "HAND": "2026"}
_SEP = r"[_\- ]+"
_LABELLED_RE = re.compile(rf"^(?P<subject>.+?){_SEP}(?P<state>{'|'.join(_STATES)})(?:{_SEP}?(?P<k>\d+))?$", re.IGNORECASE)
_BLIND_RE = re.compile(rf"^(?P<subject>.+?){_SEP}(?P<k>\d+)$")
_TAIL_LABELLED_RE = re.compile(rf"^(?P<state>{'|'.join(_STATES)})(?:{_SEP}?(?P<k>\d+))?$", re.IGNORECASE)
_TAIL_BLIND_RE = re.compile(r"^(?P<k>\d+)$")
_PER_TRIAL_PATTERN = (
    r"^(?P<subject>[^_\-]+)[_\-](?:(?P<label>No[_\-]?Pain|Low[_\-]?Pain|High[_\-]?Pain|NP|LP|HP|Baseline|Low|High)[_\-])?"
    r"(?P<trial>[^.]+)\.(?:csv|tsv|txt)$"
)
REST_VARIANTS = ("exclude", "no_pain")
EDITIONS = ("auto", "2025", "2026")


@dataclass(frozen=True)
class Segment:
    """One parsed column name: ``state`` is ``None`` for blinded (test) columns."""

    column: str
    subject: str
    state: str | None
    k: int | None


def parse_segment_name(name: str, subject: str | None = None, *, where: str = "") -> Segment:
    """Parse a column name ``<subject>_<State>_<k>`` (any case, ``_``/``-``/space separators, ``k``
    optional) or a blinded ``<subject>_<k>``. With ``subject``, the column must belong to it.
    Anything else is a :class:`DatasetError` naming the column."""
    col = str(name).strip()
    bad = DatasetError(
        f"{where}column {col!r} does not parse as <subject>_<State>_<k> (State one of Baseline, LOW, HIGH, REST, "
        "ARM, HAND, any case) nor as a blinded <subject>_<k>; rename it, or remove it from the file")
    if subject is not None:
        own = re.match(rf"^{re.escape(str(subject))}{_SEP}(?P<rest>.+)$", col, re.IGNORECASE)
        if own:  # the participant's own column: only the part after the id must parse
            m = _TAIL_LABELLED_RE.match(own.group("rest")) or _TAIL_BLIND_RE.match(own.group("rest"))
            if not m:
                raise bad
            st = m.groupdict().get("state")
            k = m.group("k")
            return Segment(col, str(subject), _STATES[st.lower()] if st else None, int(k) if k is not None else None)
    m = _LABELLED_RE.match(col) or _BLIND_RE.match(col)
    if not m:
        raise bad
    subj = m.group("subject")
    if subject is not None:
        raise DatasetError(f"{where}column {col!r} names participant {subj!r}, but the file is participant {subject!r}; "
                           "each <subject>.csv must hold only that participant's segments")
    st = m.groupdict().get("state")
    k = m.group("k")
    return Segment(col, subj, _STATES[st.lower()] if st else None, int(k) if k is not None else None)


# ----------------------------------------------------------------------------- folders
def _match_dir(parent: Path, names: Sequence[str]) -> Path | None:
    lower = {n.lower() for n in names}
    hits = [d for d in sorted(parent.iterdir()) if d.is_dir() and d.name.lower() in lower]
    return hits[0] if hits else None


def _has_partitions(d: Path) -> bool:
    return any(_match_dir(d, names) is not None for names in AI4PAIN_PARTITIONS.values())


def _is_junk(p: Path) -> bool:
    """Archive and OS debris: hidden names, macOS ``__MACOSX/`` folders and ``._*`` AppleDouble files."""
    return p.name.startswith((".", "__MACOSX")) or p.name in ("Thumbs.db", "desktop.ini")


def find_ai4pain_root(root: str | Path, max_depth: int = 3) -> Path:
    """The folder that holds ``train/``, ``validation/``, ``test/``: ``root`` itself or the one folder
    below it, up to ``max_depth`` levels down, that does (e.g. ``AI4Pain 2025 Dataset/`` of the zip,
    beside a ``__MACOSX/`` folder or a README). Hidden folders and ``__MACOSX`` are not searched.

    Raises:
        DatasetError: no such folder, or several at the same depth (naming them).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"AI4PAIN: folder {root} does not exist; point --root at the folder holding train/ validation/ test/ "
                           "(or the folder the zip unpacked to)")
    level = [root]
    for _ in range(max_depth + 1):
        hits = [d for d in level if _has_partitions(d)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DatasetError(f"AI4PAIN: several folders under {root} hold partition folders: "
                               f"{[str(h.relative_to(root)) for h in hits][:6]}; point --root at the one to use")
        nxt = []
        for d in level:
            try:
                nxt += [p for p in sorted(d.iterdir()) if p.is_dir() and not _is_junk(p)]
            except OSError:
                continue
        level = nxt
        if not level:
            break
    found = sorted(p.name for p in root.iterdir() if not _is_junk(p))[:10]
    raise DatasetError(f"AI4PAIN: no train/ validation/ test/ folders in {root} or in the folders up to {max_depth} levels "
                       f"below it; found {found}. Point --root at the folder holding the partition folders")


# ----------------------------------------------------------------------------- reading
def _read_csv(path: Path) -> pd.DataFrame:
    """Read one participant table (header row = segment names, empty cells = padding) with the package's
    one table reader (:func:`tiny_biomoe.signals.tables.read_frame`, through ``data._files``)."""
    return _files.read_table(path, header=0)


def _column(df: pd.DataFrame, col: str, path: Path, notes: Counter) -> np.ndarray:
    """One segment column: numeric, trailing padding (empty cells) trimmed, inner gaps interpolated."""
    x = np.array(pd.to_numeric(df[col], errors="coerce"), dtype=np.float64)  # a writable copy
    ok = np.isfinite(x)
    if not ok.any():
        raise DatasetError(f"AI4PAIN: {path}: column {col!r} holds no numbers; remove the column or fix the file")
    x = x[: int(np.flatnonzero(ok)[-1]) + 1]  # padding: empty cells after the segment's last sample
    bad = ~np.isfinite(x)
    if bad.any():
        idx = np.arange(x.size)
        x[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
        notes["gap samples interpolated"] += int(bad.sum())
    return x


def _read_session(path: Path, subject: str, where: str, notes: Counter) -> tuple[list[Segment], dict[str, np.ndarray]]:
    df = _read_csv(path)
    segs: list[Segment] = []
    data: dict[str, np.ndarray] = {}
    df.columns = [str(c).lstrip("\ufeff").strip() for c in df.columns]  # a byte-order mark is not part of the name
    for c in df.columns:
        if str(c).startswith("Unnamed:") or str(c) == "":
            notes["unnamed (index) columns ignored"] += 1
            continue
        s = parse_segment_name(c, subject, where=f"{where}{path.name}: ")
        segs.append(s)
        data[s.column] = _column(df, c, path, notes)
    if not segs:
        raise DatasetError(f"AI4PAIN: {path} has no segment columns; expected columns named <subject>_<State>_<k>")
    return segs, data


def _pieces(n: int, count: int, length: int | None) -> list[tuple[int, int]]:
    """``count`` non-overlapping pieces of ``length`` samples spread evenly over ``n`` samples (as many
    as fit when fewer do); ``length=None``: ``count`` equal consecutive parts."""
    if length is None:
        edges = np.linspace(0, n, count + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    fit = min(count, n // length)
    if fit == 0:
        return []
    starts = np.linspace(0, n - length, fit).round().astype(int) if fit > 1 else np.array([0])
    return [(int(s), int(s) + length) for s in starts]


@dataclass
class _Options:
    edition: str
    rest: str
    segment_s: float | None
    baseline_segments: int
    rest_periods: int
    fs: float


def _segment_trials(subject: str, part: str, segs: list[Segment], data: Mapping[str, dict[str, np.ndarray]],
                    opt: _Options, labelled: bool, where: str, counts: Counter, warn: list[str]) -> list[Trial]:
    """Trials of one participant from its parsed columns; ``data[modality][column]`` holds the samples."""
    mods = list(data)
    first = data[mods[0]]
    fs = opt.fs
    L = None if opt.segment_s is None else int(round(opt.segment_s * fs))
    trials: list[Trial] = []
    cls_of = _STATE_CLASS[opt.edition]

    def add(col: str, trial_id: str, label: str | None, state: str | None, a: int, b: int) -> None:
        sig = {m: data[m][col][a:b].copy() for m in mods}
        info = {"column": col, "state": state, "start_s": a / fs, "end_s": b / fs}
        trials.append(Trial(subject, trial_id, label, sig, {m: fs for m in mods}, part, where, info))

    baselines = [s for s in segs if s.state == "Baseline"]
    rests = [s for s in segs if s.state == "REST"]
    for s in segs:
        n = first[s.column].size
        if s.state is None:
            if labelled:
                raise DatasetError(f"AI4PAIN/{part}: column {s.column!r} of participant {subject} carries no label "
                                   f"(blinded <subject>_<k>), but {part} is a labelled partition")
            add(s.column, s.column, None, None, 0, n)
            counts["blinded segment"] += 1
        elif s.state == "REST":
            continue  # below
        elif s.state in _EDITION_OF and _EDITION_OF[s.state] != opt.edition:
            raise DatasetError(f"AI4PAIN/{part}: column {s.column!r} of participant {subject} is an AI4PAIN "
                               f"{_EDITION_OF[s.state]} segment, but the data read so far are the {opt.edition} edition; "
                               "mixed editions in one folder cannot be read together")
        elif s.state == "Baseline" and len(baselines) == 1:
            # the one long baseline (2025): non-overlapping pieces
            pcs = _pieces(n, opt.baseline_segments, L)
            if len(pcs) < opt.baseline_segments:
                size = f"{opt.segment_s:g} s" if opt.segment_s is not None else "one sample or more"
                warn.append(f"{subject} ({part}): baseline {s.column!r} is {n / fs:.1f} s, {len(pcs)} segments of "
                            f"{size} fit (asked {opt.baseline_segments})")
            if not pcs:
                continue
            for j, (a, b) in enumerate(pcs, 1):
                add(s.column, f"{s.column}#{j}", cls_of["Baseline"], "Baseline", a, b)
        else:
            add(s.column, s.column, cls_of[s.state], s.state, 0, n)
    if rests:
        if opt.rest == "exclude":
            counts["REST columns left out"] += len(rests)
        else:
            pick = rests
            if len(rests) > opt.rest_periods:
                idx = np.linspace(0, len(rests) - 1, opt.rest_periods).round().astype(int)
                pick = [rests[i] for i in idx]
            elif len(rests) < opt.rest_periods:
                warn.append(f"{subject} ({part}): {len(rests)} REST periods, fewer than rest_periods={opt.rest_periods}")
            counts["REST columns left out"] += len(rests) - len(pick)
            tail = L if L is not None else int(round(10.0 * fs))
            for s in pick:
                n = first[s.column].size
                if n < tail:
                    warn.append(f"{subject} ({part}): REST {s.column!r} is {n / fs:.1f} s, shorter than its last {tail / fs:g} s; left out")
                    continue
                add(s.column, f"{s.column}#last", "No_Pain", "REST", n - tail, n)
    return trials


def _edition_of(segs: list[Segment]) -> str | None:
    eds = {_EDITION_OF[s.state] for s in segs if s.state in _EDITION_OF}
    if len(eds) > 1:
        raise DatasetError(f"AI4PAIN: participant {segs[0].subject} has both LOW/HIGH (2025) and ARM/HAND (2026) columns")
    return eds.pop() if eds else None


def _load_partition(pdir: Path, part: str, mod_dirs: Mapping[str, Path], opt: _Options, labelled: bool,
                    length_tolerance: int, counts: Counter, warn: list[str], state: dict) -> list[Trial]:
    where = f"AI4PAIN/{part}: "
    files = {m: {p.stem: p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".txt")
                 and not _is_junk(p)} for m, d in mod_dirs.items()}
    subjects = sorted(set().union(*[set(f) for f in files.values()]), key=_natural)
    if not subjects:
        raise DatasetError(f"{where}no participant CSV files in {', '.join(str(d) for d in mod_dirs.values())}")
    for m, f in files.items():
        lacking = [s for s in subjects if s not in f]
        if lacking:
            raise DatasetError(f"{where}participant(s) {lacking[:5]} have no file in {mod_dirs[m]} ({m}) but do in the other "
                               "modality folders; restore the file(s), or leave the modality out with modalities=[...] "
                               "(CLI --modalities)")
    trials: list[Trial] = []
    for subj in subjects:
        notes: Counter = Counter()
        per_mod: dict[str, dict[str, np.ndarray]] = {}
        segs0: list[Segment] | None = None
        m0 = None
        for m, f in files.items():
            segs, data = _read_session(f[subj], subj, where, notes)
            if segs0 is None:
                segs0, m0 = segs, m
            elif [s.column.lower() for s in segs] != [s.column.lower() for s in segs0]:
                a, b = {s.column for s in segs0}, {s.column for s in segs}
                diff = sorted(a ^ b)[:4] or "(same names, different order)"
                raise DatasetError(f"{where}participant {subj}: the columns of {f[subj]} ({m}) differ from those of "
                                   f"{files[m0][subj]} ({m0}): {diff}; every modality must hold the same segments")
            per_mod[m] = {s0.column: data[s.column] for s0, s in zip(segs0, segs)}
        assert segs0 is not None and m0 is not None
        for s in segs0:  # the same segment must have the same length in every modality
            lens = {m: per_mod[m][s.column].size for m in per_mod}
            lo, hi = min(lens.values()), max(lens.values())
            if hi - lo > length_tolerance:
                raise DatasetError(f"{where}participant {subj}: segment {s.column!r} has different lengths across modalities "
                                   f"({lens} samples); the modalities of one segment must be recorded together. Pass "
                                   f"length_tolerance={hi - lo} to crop them to the shortest")
            if hi != lo:
                for m in per_mod:
                    per_mod[m][s.column] = per_mod[m][s.column][:lo]
                counts["segments cropped to the shortest modality"] += 1
        ed = _edition_of(segs0)
        if ed is not None:
            if state["edition"] is None:
                state["edition"] = ed
                opt.edition = ed
            elif state["edition"] != ed and state.get("explicit"):
                raise DatasetError(f"{where}participant {subj} has AI4PAIN {ed} segments "
                                   f"({'ARM/HAND' if ed == '2026' else 'LOW/HIGH'} columns) but edition={state['edition']!r} "
                                   f"was asked; pass edition='auto' or '{ed}'")
            elif state["edition"] != ed:
                raise DatasetError(f"{where}participant {subj} is AI4PAIN {ed} but earlier participants are "
                                   f"{state['edition']}; keep one edition per folder")
        elif state["edition"] is None and opt.edition == "auto":
            opt.edition = "2025"  # blinded-only files: the classes do not matter for reading
        trials += _segment_trials(subj, part, segs0, per_mod, opt, labelled, str(files[m0][subj]), counts, warn)
        for k, v in notes.items():
            counts[k] += v
    return trials


def _natural(s: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s))


def _is_session_folder(d: Path) -> bool:
    """A modality folder of the distributed layout: its first table has segment-named columns."""
    f = next((p for p in sorted(d.iterdir()) if p.is_file() and p.suffix.lower() in (".csv", ".tsv", ".txt")
              and not _is_junk(p)), None)
    if f is None:
        return False
    try:
        with open(f, "r", encoding="utf-8", errors="replace") as fh:
            head = fh.readline()
    except OSError:
        return False
    cols = [c.strip().strip('"') for c in re.split(r"[,;\t]", head.lstrip("\ufeff")) if c.strip()]
    def parses(c: str) -> bool:
        return bool(_LABELLED_RE.match(c) or _BLIND_RE.match(c))
    return bool(cols) and sum(parses(c) for c in cols) >= max(1, len(cols) // 2)


def _load_per_trial(pdir: Path, part: str, cols: Mapping[str, str | Sequence[str]], *, file_pattern: str,
                    sampling_rate: float | None, time_column: str | None, time_unit: str,
                    label_map: Mapping[str, str] | None, allow_unlabelled: bool) -> list[Trial]:
    """The fallback layout: one CSV per trial, either below the partition with one column per modality,
    or in one folder per modality (``Eda/``...) with the signal in the first non-time column."""
    lmap = dict(label_map) if label_map is not None else dict(AI4PAIN_LABELS)
    classes = list(dict.fromkeys(lmap.values())) if label_map is not None else list(AI4PAIN_CLASSES)
    common = dict(file_pattern=file_pattern, classes=classes, label_map=lmap, sampling_rate=sampling_rate,
                  time_column=time_column, time_unit=time_unit, partition=part, allow_unlabelled=allow_unlabelled)
    mod_dirs = {m: _match_dir(pdir, [names] if isinstance(names, str) else list(names)) for m, names in cols.items()}
    if not any(d is not None for d in mod_dirs.values()):
        return load_trial_folder(pdir, name=f"AI4PAIN/{part}", columns=cols, **common)
    absent = [m for m, d in mod_dirs.items() if d is None]
    if absent:
        warnings.warn(f"AI4PAIN/{part}: no folder for modalities {absent} under {pdir}", DatasetWarning, stacklevel=3)
    merged: dict[tuple[str, str], Trial] = {}
    per_mod: Counter = Counter()
    for mod, d in mod_dirs.items():
        if d is None:
            continue
        for t in load_trial_folder(d, name=f"AI4PAIN/{part}/{d.name}", columns={mod: "*"}, **common):
            per_mod[mod] += 1
            key = (t.subject, t.trial)
            if key not in merged:
                merged[key] = t
                continue
            if merged[key].label != t.label:
                raise DatasetError(f"AI4PAIN/{part}: trial {key} has label {merged[key].label} in one modality and {t.label} in {mod}")
            merged[key].signals.update(t.signals)
            merged[key].sampling_rates.update(t.sampling_rates)
    n_dirs = sum(d is not None for d in mod_dirs.values())
    incomplete = sum(1 for t in merged.values() if len(t.signals) < n_dirs)
    if incomplete:
        warnings.warn(f"AI4PAIN/{part}: {incomplete} trials lack at least one modality file ({dict(per_mod)} files per modality)",
                      DatasetWarning, stacklevel=3)
    return list(merged.values())


# ----------------------------------------------------------------------------- entry point
def load_ai4pain(
    root: str | Path,
    *,
    partitions: Sequence[str] = ("train", "validation", "test"),
    modalities: Sequence[str] | None = None,
    edition: str = "auto",
    rest: str = "exclude",
    segment_s: float | None = 10.0,
    baseline_segments: int = 6,
    rest_periods: int = 6,
    sampling_rate: float | None = 100.0,
    unlabelled_partitions: Sequence[str] = ("test",),
    length_tolerance: int = 0,
    layout: str = "auto",
    file_pattern: str = _PER_TRIAL_PATTERN,
    columns: Mapping[str, str | Sequence[str]] | None = None,
    time_column: str | None = "auto",
    time_unit: str = "auto",
    label_map: Mapping[str, str] | None = None,
) -> PainDataset:
    """Load AI4PAIN 2025 or 2026 as distributed (see the module docstring for the layout).

    Args:
        root: the folder holding ``train/ validation/ test/``, or the folder the zip unpacked to
            (a single wrapper folder such as ``AI4Pain 2025 Dataset/`` is entered).
        partitions: partitions to read; missing ones are skipped with a warning.
        modalities: any of ``EDA, BVP, RESP, SpO2`` (default all four; each needs its folder).
        edition: ``'2025'``, ``'2026'`` or ``'auto'`` (from the column states: LOW/HIGH or ARM/HAND).
        rest: ``'exclude'`` (default, the participants' choice) or ``'no_pain'``: the last
            ``segment_s`` s of ``rest_periods`` REST periods (spread evenly over the session, our
            choice; the protocol document does not say which) become further No_Pain trials.
        segment_s: length of the segments cut from longer periods (the 2025 baseline, REST tails);
            ``None`` cuts the baseline into ``baseline_segments`` equal parts instead. Stimulus
            columns (LOW/HIGH/ARM/HAND/blinded, 2026 Baseline_k) are taken whole, without padding.
        baseline_segments: number of non-overlapping segments of a participant's single baseline
            column (default 6, spread evenly; if fewer fit, as many as fit, with a warning).
        sampling_rate: Hz (the challenge's is 100; the files have no time column).
        unlabelled_partitions: partitions whose columns may be blinded (``<subject>_<k>``).
        length_tolerance: samples by which one segment may differ across modalities (cropped to
            the shortest); a larger difference is a DatasetError.
        layout: ``'auto'``, ``'distributed'`` or ``'per_trial'`` (the old one-CSV-per-trial fallback,
            which uses ``file_pattern``, ``columns``, ``time_column``, ``time_unit``, ``label_map``).

    Returns a :class:`PainDataset` named ``ai4pain`` (2025) or ``ai4pain-2026`` whose ``info``
    records the construction and whose ``window_s`` is the trials' common length.
    """
    if edition not in EDITIONS:
        raise DatasetError(f"AI4PAIN: edition must be one of {list(EDITIONS)}, not {edition!r}")
    rest = rest.replace("-", "_").lower()
    if rest not in REST_VARIANTS:
        raise DatasetError(f"AI4PAIN: rest must be one of {list(REST_VARIANTS)}, not {rest!r}")
    if segment_s is not None and not segment_s > 0:
        raise DatasetError(f"AI4PAIN: segment_s must be positive seconds or None, not {segment_s!r}")
    if baseline_segments < 1 or rest_periods < 1:
        raise DatasetError("AI4PAIN: baseline_segments and rest_periods must be at least 1")
    if layout not in ("auto", "distributed", "per_trial"):
        raise DatasetError(f"AI4PAIN: layout must be 'auto', 'distributed' or 'per_trial', not {layout!r}")
    base = find_ai4pain_root(root)
    mods = (resolve_modalities(list(modalities), [*AI4PAIN_MODALITY_FOLDERS, *(columns or {})])
            if modalities is not None else list(AI4PAIN_MODALITY_FOLDERS))
    unknown = [m for m in mods if m not in AI4PAIN_MODALITY_FOLDERS and (columns is None or m not in columns)]
    if unknown:
        raise DatasetError(f"AI4PAIN: unknown modalities {unknown}; known: {list(AI4PAIN_MODALITY_FOLDERS)}")
    fs = float(sampling_rate) if sampling_rate else 100.0
    opt = _Options(edition if edition != "auto" else "auto", rest, segment_s, int(baseline_segments), int(rest_periods), fs)
    state = {"edition": None if edition == "auto" else edition, "explicit": edition != "auto"}
    if edition != "auto":
        opt.edition = edition
    unl = {u.lower() for u in unlabelled_partitions}
    trials: list[Trial] = []
    found: list[str] = []
    counts: Counter = Counter()
    warn: list[str] = []
    used_layout = set()
    for part in partitions:
        names = AI4PAIN_PARTITIONS.get(part.lower(), [part])
        pdir = _match_dir(base, names)
        if pdir is None:
            warnings.warn(f"AI4PAIN: partition folder {base / part} not found; skipped", DatasetWarning, stacklevel=2)
            continue
        found.append(part)
        mod_dirs = {m: _match_dir(pdir, [m, *AI4PAIN_MODALITY_FOLDERS.get(m, [])]) for m in mods}
        lay = layout
        if lay == "auto":
            present = [d for d in mod_dirs.values() if d is not None]
            lay = "distributed" if present and all(_is_session_folder(d) for d in present) else "per_trial"
        used_layout.add(lay)
        if lay == "per_trial":
            trials += _load_per_trial(pdir, part, select_columns("AI4PAIN", columns, AI4PAIN_COLUMNS, mods),
                                      file_pattern=file_pattern, sampling_rate=sampling_rate, time_column=time_column,
                                      time_unit=time_unit, label_map=label_map, allow_unlabelled=part.lower() in unl)
            continue
        missing = [m for m, d in mod_dirs.items() if d is None]
        if missing:
            have = sorted(p.name for p in pdir.iterdir() if p.is_dir())
            raise DatasetError(
                f"AI4PAIN/{part}: no folder for {missing} in {pdir} (expected "
                + ", ".join(f"{m}: {AI4PAIN_MODALITY_FOLDERS.get(m, [m])[0]}/" for m in missing)
                + f"; found {have}); restore it, or leave the modality out with modalities=[...] (CLI --modalities)")
        trials += _load_partition(pdir, part, mod_dirs, opt, part.lower() not in unl, int(length_tolerance), counts, warn,
                                  state)
    if not found:
        raise DatasetError(f"AI4PAIN: none of the partition folders {list(partitions)} exist under {base}")
    if not trials:
        raise DatasetError(f"AI4PAIN: no segments found under {base} in partitions {found}")
    if warn:
        warnings.warn(f"AI4PAIN: {len(warn)} notes on the segments: " + "; ".join(warn[:5]) + (" ..." if len(warn) > 5 else ""),
                      DatasetWarning, stacklevel=2)
    if counts.get("gap samples interpolated"):
        warnings.warn(f"AI4PAIN: {counts['gap samples interpolated']} empty or non-numeric cells inside segments were "
                      "interpolated", DatasetWarning, stacklevel=2)
    if used_layout == {"per_trial"}:
        classes = list(dict.fromkeys(label_map.values())) if label_map is not None else list(AI4PAIN_CLASSES)
        return PainDataset("ai4pain", trials, classes, ["AI4PAIN (per-trial files): use the predefined partitions "
                                                        "(protocol 'split')."], {"layout": "per-trial files (fallback)"})
    if "per_trial" in used_layout:
        raise DatasetError(f"AI4PAIN: some partitions under {base} are in the distributed layout and some hold per-trial "
                           "files; pass layout= to read one kind")
    ed = opt.edition if opt.edition != "auto" else "2025"
    classes = list(AI4PAIN_CLASSES if ed == "2025" else AI4PAIN_2026_CLASSES)
    info = {
        "edition": f"AI4PAIN {ed}",
        "layout": "distributed (<partition>/<Modality>/<subject>.csv, one column per segment)",
        "construction": (
            "each stimulus column one trial (taken whole); " + (
                f"the baseline cut into {baseline_segments} non-overlapping segments of "
                + (f"{segment_s:g} s" if segment_s is not None else "equal length") if ed == "2025"
                else "each Baseline_k column one No_Pain trial")),
        "rest": ("REST left out" if rest == "exclude" else
                 f"last {segment_s if segment_s is not None else 10:g} s of {rest_periods} REST periods as No_Pain"),
        "sampling_rate_hz": fs,
    }
    if counts:
        info["counts"] = dict(counts)
    durs = np.array([t.duration(next(iter(t.signals))) for t in trials])
    win = float(np.floor(durs.min() * 100) / 100)
    if segment_s is not None:
        win = min(win, float(segment_s))
    short = [f"{t.subject}/{t.trial} ({d:.2f} s)" for t, d in zip(trials, durs) if d < 0.8 * np.median(durs)]
    if short:
        warnings.warn(f"AI4PAIN: {len(short)} segments are much shorter than the others (e.g. {short[:3]}); the window "
                      f"follows the shortest ({win:g} s). Pass --window-s to choose it (longer segments are cropped; "
                      "shorter ones are refused, never padded)", DatasetWarning, stacklevel=2)
    notes = ["AI4PAIN challenge rule: use the predefined partitions (protocol 'split': train on train, report on validation; "
             "the test labels were never released)."]
    return PainDataset("ai4pain" if ed == "2025" else "ai4pain-2026", trials, classes, notes, info, win)
