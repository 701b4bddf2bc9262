"""Per-window quality flags: flat-line dropouts, clipping and NeuroKit2's signal-quality index.

A band-pass turns a sensor dropout (the signal stuck at 0 for seconds) into plausible waves, so
the flat-line and clipping checks look at the *unconditioned* recording (gaps as recorded, no
filter, the recording's own rate); the signal-quality index (SQI) looks at the conditioned
recording, as NeuroKit2 expects a cleaned signal.

* ``flatline``: the window holds a run of identical consecutive samples of at least
  ``flatline_s`` seconds (per modality, :data:`QUALITY_DEFAULTS`; ``None``: not checked, e.g.
  SpO2, a whole-percent series that legitimately stays put for minutes).
* ``clipped``: more than ``clip_fraction`` of the window's samples sit on a plateau (two or more
  equal samples) at the recording's minimum or maximum (the converter's limits), not counting
  flat-line runs (already flagged as dropouts).
* ``low_sqi``: NeuroKit2's index is below ``sqi_min``. BVP/PPG: NeuroKit2's ``templatematch``
  index of :func:`neurokit2.ppg_quality` (correlation of each beat with the recording's average
  beat, per sample, averaged over the window; ~0.99 on clean simulated PPG, ~0.7 with strong
  noise), computed as NeuroKit2 computes it but vectorised with numpy (same values). ECG:
  :func:`neurokit2.ecg_quality` (``zhao2018``, ``simple``) per window, mapped Excellent = 1,
  Barely acceptable = 0.5, Unacceptable = 0. Other modalities have no index in NeuroKit2
  (``sqi`` is NaN, never flagged).

>>> import numpy as np
>>> x = np.sin(np.arange(3000) / 8.0); x[1200:1900] = 0.0
>>> q = window_quality(x, 100.0, "bvp", starts_s=np.array([0.0, 10.0, 20.0]), window_s=10.0, sqi=False)
>>> q.flatline.tolist()
[False, True, False]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._ppg_sqi import templatematch_quality
from .modalities import ModalityDefaults, get_modality

__all__ = ["QUALITY_DEFAULTS", "QUALITY_VERSION", "WindowQuality", "window_quality", "flat_runs"]

#: Bumped whenever a flag's definition changes (stored with the flags).
QUALITY_VERSION = 1

#: modality -> (flatline_s, clipping checked, SQI method). Thresholds below apply to all.
QUALITY_DEFAULTS: dict[str, dict[str, Any]] = {
    "eda": {"flatline_s": 5.0, "clipping": True, "sqi": None},
    "bvp": {"flatline_s": 1.0, "clipping": True, "sqi": "ppg_templatematch"},
    "resp": {"flatline_s": 2.0, "clipping": True, "sqi": None},
    "spo2": {"flatline_s": None, "clipping": False, "sqi": None},
    "ecg": {"flatline_s": 0.5, "clipping": True, "sqi": "ecg_zhao2018"},
    "emg": {"flatline_s": 0.5, "clipping": True, "sqi": None},
    "eeg": {"flatline_s": 1.0, "clipping": True, "sqi": None},
}
#: a window is ``clipped`` when more than this fraction of its samples sit on the extremes
CLIP_FRACTION = 0.01
#: a window has ``low_sqi`` when its index is below this
SQI_MIN = 0.8

_ZHAO = {"Excellent": 1.0, "Barely acceptable": 0.5, "Unacceptable": 0.0}


@dataclass(frozen=True)
class WindowQuality:
    """Quality of each window (row ``i`` is window ``i``).

    Attributes:
        flatline_s: longest run of identical samples inside the window, seconds.
        clipped_fraction: share of the window's samples on a plateau at the recording's extremes.
        sqi: NeuroKit2's signal-quality index of the window in [0, 1] (NaN: none for the modality).
        flatline, clipped, low_sqi: the flags (see the module docstring).
        settings: thresholds and methods used (stored with the flags).
    """

    flatline_s: np.ndarray
    clipped_fraction: np.ndarray
    sqi: np.ndarray
    flatline: np.ndarray
    clipped: np.ndarray
    low_sqi: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.flatline.shape[0])

    @property
    def flagged(self) -> np.ndarray:
        """``(N,)`` bool: any flag raised."""
        return self.flatline | self.clipped | self.low_sqi

    def counts(self) -> dict[str, int]:
        """Number of windows per flag and in all (``flagged``), for summaries."""
        return {"windows": len(self), "flagged": int(self.flagged.sum()), "flatline": int(self.flatline.sum()),
                "clipped": int(self.clipped.sum()), "low_sqi": int(self.low_sqi.sum())}

    def summary(self) -> str:
        """One line, e.g. ``2 of 30 windows flagged (flat-line 1, clipped 1, low SQI 0)``."""
        c = self.counts()
        return (f"{c['flagged']} of {c['windows']} windows flagged (flat-line {c['flatline']}, clipped {c['clipped']}, "
                f"low SQI {c['low_sqi']})")

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Name -> ``(N,)`` array, for saving next to embeddings."""
        return {"flatline": self.flatline, "clipped": self.clipped, "low_sqi": self.low_sqi,
                "flatline_s": self.flatline_s, "clipped_fraction": self.clipped_fraction, "sqi": self.sqi}

    def select(self, rows: Any) -> "WindowQuality":
        """The quality of a subset of windows (index or mask)."""
        a = {k: np.asarray(v)[rows] for k, v in self.as_arrays().items()}
        return WindowQuality(a["flatline_s"], a["clipped_fraction"], a["sqi"], a["flatline"], a["clipped"],
                             a["low_sqi"], dict(self.settings))


def flat_runs(x: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of runs of at least two identical consecutive finite samples."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < 2:
        return []
    starts = np.concatenate(([0], np.flatnonzero(x[1:] != x[:-1]) + 1))  # NaN != NaN: gaps are never runs
    stops = np.concatenate((starts[1:], [x.size]))
    keep = (stops - starts >= 2) & np.isfinite(x[starts])
    return list(zip(starts[keep].tolist(), stops[keep].tolist()))


def _sqi(method: str, cleaned: np.ndarray, fs: float, starts: np.ndarray, n_win: int) -> np.ndarray:
    import neurokit2 as nk

    out = np.full(len(starts), np.nan)
    x = np.asarray(cleaned, dtype=np.float64)
    if method == "ppg_templatematch":
        finite = np.isfinite(x)
        if finite.sum() < 2:
            return out
        xf = np.interp(np.arange(x.size), np.flatnonzero(finite), x[finite]) if not finite.all() else x
        try:
            with warnings.catch_warnings():  # NeuroKit2's own warnings (e.g. few peaks); the index says it
                warnings.simplefilter("ignore")
                q = templatematch_quality(xf, fs)  # = nk.ppg_quality(xf, sampling_rate=fs, method="templatematch")
        except Exception:  # no index on signals without beats (as NeuroKit2 fails there), not a crash
            return out
        for i, s in enumerate(starts):
            seg = q[s : s + n_win]
            out[i] = float(np.nanmean(seg)) if np.isfinite(seg).any() else np.nan
        return np.clip(out, 0.0, 1.0)
    if method == "ecg_zhao2018":
        for i, s in enumerate(starts):
            seg = x[s : s + n_win]
            if not np.isfinite(seg).all():
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out[i] = _ZHAO.get(str(nk.ecg_quality(seg, sampling_rate=fs, method="zhao2018", approach="simple")), np.nan)
            except Exception:  # too few beats in the window for NeuroKit2: no index
                out[i] = np.nan
        return out
    raise ValueError(f"unknown SQI method {method!r}")  # pragma: no cover (internal table)


def window_quality(
    raw: np.ndarray,
    sampling_rate: float,
    modality: "str | ModalityDefaults",
    *,
    starts_s: np.ndarray,
    window_s: float,
    cleaned: np.ndarray | None = None,
    cleaned_rate: float | None = None,
    sqi: bool = True,
) -> WindowQuality:
    """Flags of the windows starting at ``starts_s`` (seconds) of length ``window_s``.

    ``raw`` is the unconditioned recording at ``sampling_rate`` (NaN gaps allowed; they are not
    flat). ``cleaned`` (at ``cleaned_rate``, default ``sampling_rate``) is what the SQI is computed
    on (default ``raw``); ``sqi=False`` skips NeuroKit2.
    """
    m = get_modality(modality)
    d = QUALITY_DEFAULTS.get(m.name, {"flatline_s": 1.0, "clipping": True, "sqi": None})
    fs = float(sampling_rate)
    x = np.asarray(raw, dtype=np.float64)
    starts = np.asarray(starts_s, dtype=np.float64)
    n = len(starts)
    n_win = int(round(window_s * fs))
    s_idx = np.minimum(np.round(starts * fs).astype(np.int64), max(0, x.size - 1))
    longest = np.zeros(x.size + 1)  # longest flat run covering each sample (0: none)
    clip = np.zeros(x.size, bool)
    flat_len = d["flatline_s"]
    finite = x[np.isfinite(x)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (np.nan, np.nan)
    runs = flat_runs(x) if (d["flatline_s"] is not None or d["clipping"]) else []
    for a, b in runs:
        longest[a:b] = np.maximum(longest[a:b], (b - a) / fs)
        is_flat = flat_len is not None and (b - a) / fs >= flat_len
        if d["clipping"] and not is_flat and x[a] in (lo, hi):
            clip[a:b] = True
    flat_s = np.array([longest[s : s + n_win].max(initial=0.0) for s in s_idx])
    clip_frac = np.array([clip[s : s + n_win].mean() if clip[s : s + n_win].size else 0.0 for s in s_idx])
    q = np.full(n, np.nan)
    method = d["sqi"] if sqi else None
    if method is not None and n:
        c = x if cleaned is None else np.asarray(cleaned, dtype=np.float64)
        cfs = fs if cleaned is None or cleaned_rate is None else float(cleaned_rate)
        q = _sqi(method, c, cfs, np.round(starts * cfs).astype(np.int64), int(round(window_s * cfs)))
    flat = flat_s >= flat_len if flat_len is not None else np.zeros(n, bool)
    settings = {"version": QUALITY_VERSION, "flatline_s": flat_len, "clipping": bool(d["clipping"]),
                "clip_fraction": CLIP_FRACTION, "sqi_method": method, "sqi_min": SQI_MIN,
                "checked_on": "unconditioned recording (flat-line, clipping); conditioned recording (SQI)"}
    with np.errstate(invalid="ignore"):
        low = np.isfinite(q) & (q < SQI_MIN)
    return WindowQuality(flat_s, clip_frac, q, np.asarray(flat, bool),
                         np.asarray(clip_frac > CLIP_FRACTION, bool) if d["clipping"] else np.zeros(n, bool),
                         np.asarray(low, bool), settings)
