"""BIDS physiological recordings: ``*_physio.tsv.gz`` (or ``*_stim.tsv.gz``) with their JSON sidecar.

The data file is gzipped tab-separated text **without a header row**; the sidecar ``*_physio.json``
gives ``SamplingFrequency`` (Hz), ``StartTime`` (s, relative to the start of the matching data file)
and ``Columns`` (the names of the columns in order), and may describe each column (``{"Units": ...}``).
The sidecar is the file beside it with ``.json`` instead of ``.tsv.gz``; by the BIDS inheritance
principle it may also sit in a parent folder with fewer entities (e.g. ``task-rest_physio.json``).
Column names map to modalities: ``cardiac`` (the pulse) -> bvp, ``respiratory`` -> resp, and
``eda``/``gsr``/``ecg``/``ppg``/... by name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SignalError

__all__ = ["read_bids_physio", "find_sidecar"]

_BIDS_NAMES = {"cardiac": "bvp", "respiratory": "resp", "trigger": None}


def _entities(name: str) -> tuple[dict[str, str], str]:
    stem = re.sub(r"(\.tsv\.gz|\.tsv|\.json)$", "", name)
    parts = stem.split("_")
    ents = dict(p.split("-", 1) for p in parts[:-1] if "-" in p)
    return ents, parts[-1]


def find_sidecar(path: "str | Path") -> Path | None:
    """The JSON sidecar of a BIDS ``*_physio.tsv.gz``: the sibling ``.json``, else the nearest one up the
    folders whose entities are a subset of the file's (BIDS inheritance), or None."""
    path = Path(path)
    sib = path.with_name(re.sub(r"\.tsv(\.gz)?$", ".json", path.name))
    if sib.is_file():
        return sib
    ents, suffix = _entities(path.name)
    d = path.parent
    for _ in range(4):
        cands = []
        for j in sorted(d.glob(f"*{suffix}.json")):
            je, js = _entities(j.name)
            if js == suffix and all(ents.get(k) == v for k, v in je.items()):
                cands.append((len(je), j))
        if cands:
            return max(cands)[1]
        if d.parent == d:
            break
        d = d.parent
    return None


def read_bids_physio(path: "str | Path", *, time_unit: str = "auto", **_: Any):
    """Read a BIDS physio/stim recording and its sidecar into a Recording (rate and names from the sidecar)."""
    from .readers import Recording
    from .tables import read_table

    path = Path(path)
    side = find_sidecar(path)
    if side is None:
        raise SignalError(f"{path}: no JSON sidecar ({path.name.replace('.tsv.gz', '.json')}) beside it or in a parent "
                          "folder; BIDS physio files need it for SamplingFrequency and Columns")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SignalError(f"{side}: the sidecar is not readable JSON ({exc})") from exc
    fs = meta.get("SamplingFrequency")
    cols = meta.get("Columns")
    if not isinstance(fs, (int, float)) or isinstance(fs, bool) or not fs > 0:
        raise SignalError(f"{side}: SamplingFrequency must be a positive number of Hz, not {fs!r}")
    if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
        raise SignalError(f"{side}: Columns must be the list of column names, not {cols!r}")
    tab = read_table(path, header=None, sep="\t", sampling_rate=float(fs), time_column=False, comment="")
    if tab.frame.shape[1] != len(cols):
        raise SignalError(f"{path}: {tab.frame.shape[1]} columns but the sidecar's Columns lists {len(cols)} ({cols})")
    signals = {c: tab.frame[str(i)].to_numpy(np.float64) for i, c in enumerate(cols)}
    units = {c: str(meta[c].get("Units")) for c in cols if isinstance(meta.get(c), dict) and meta[c].get("Units")}
    mods = {c: _BIDS_NAMES.get(c.lower(), "") for c in cols}
    info = {"format": "bids-physio", "sampling_rate_from": "header", "sidecar": str(side),
            "start_time": meta.get("StartTime"),
            "modalities": {c: (m or None) for c, m in mods.items() if m != ""}}
    return Recording(signals, float(fs), str(path), units=units, info=info)
