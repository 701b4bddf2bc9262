"""PPG template-matching quality index, per sample, computed with numpy.

:func:`templatematch_quality` returns what ``neurokit2.ppg_quality(cleaned, sampling_rate=fs,
method="templatematch")`` returns (NeuroKit2's index loosely based on Orphanidou et al., 2015), to
floating-point precision: every beat is cut out of the signal over a window of one average cycle
(half of it before the peak), the template is the sample-wise mean of the beats whose window lies
inside the signal, each such beat but the last gets the Pearson correlation of its shape with the
template, and every sample takes the value of the latest beat at or before it (samples before the
first beat take the first beat's value).

Why it is written by hand: NeuroKit2 builds one pandas DataFrame per beat and pivots their
concatenation (``signal_cyclesegment`` -> ``epochs_create`` -> ``epochs_to_df(...).pivot``):
15-50 ms for a 10-s window and seconds for a long recording, almost all of it outside the
arithmetic. Here the beats are one 2-D array taken by fancy indexing and the correlations one
vectorised expression. Measured on a 2-core CPU: a 10-s window at 100 Hz 16 ms -> 1.1 ms (~15x);
a 30-min recording at 64 Hz 2.0-3.1 s -> 45-65 ms (~35-60x), most of what is left being
NeuroKit2's peak finder (the rest alone, peaks given: ~330x). NeuroKit2 still finds the beats
(``ppg_peaks``, as ``ppg_quality`` does) and the average cycle rate (``signal_rate``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["templatematch_quality"]

#: share of the beat window before the peak (NeuroKit2's ``signal_cyclesegment`` default)
_RATIO_PRE = 0.5


def _reference(x: np.ndarray, fs: float, peaks: Any) -> np.ndarray:
    """NeuroKit2 itself, for given peaks this module does not handle (see :func:`templatematch_quality`)."""
    import neurokit2 as nk

    return np.asarray(nk.ppg_quality(x, peaks=peaks, sampling_rate=fs, method="templatematch"), dtype=np.float64)


def _as_peak_indices(peaks: Any, n: int) -> np.ndarray | None:
    """Strictly increasing integer sample indices inside the signal, or ``None`` when they are not."""
    if isinstance(peaks, (dict, tuple)) or hasattr(peaks, "columns"):
        return None  # NeuroKit2's other peak containers
    p = np.asarray(peaks)
    if p.ndim != 1 or p.size == 0 or not (np.issubdtype(p.dtype, np.integer) or np.issubdtype(p.dtype, np.floating)):
        return None
    if np.issubdtype(p.dtype, np.floating):
        if not np.isfinite(p).all() or (p != np.round(p)).any():
            return None
    p = p.astype(np.int64)
    if p[0] < 0 or p[-1] >= n or (p.size > 1 and (np.diff(p) <= 0).any()):
        return None
    return p


def templatematch_quality(cleaned: np.ndarray, sampling_rate: float, peaks: np.ndarray | None = None) -> np.ndarray:
    """``(n,)`` quality of each sample of a cleaned PPG: NeuroKit2's ``templatematch`` index.

    Same result as ``nk.ppg_quality(cleaned, peaks=peaks, sampling_rate=sampling_rate,
    method="templatematch")`` (the signal is taken as float64), and the same failures: the
    peak finder's own (e.g. an ``IndexError`` on a flat signal), and a ``ValueError`` when the
    signal is shorter than 4 s, when there are no peaks, three or fewer (no average rate), or
    fewer than two beats wholly inside the signal (with one window length for all of them).
    ``peaks`` (sample indices; default: NeuroKit2's ``ppg_peaks``) that are not strictly
    increasing integers inside the signal are passed to NeuroKit2 itself.
    """
    import neurokit2 as nk

    x = np.asarray(cleaned, dtype=np.float64).ravel()
    n = x.size
    fs = sampling_rate
    if peaks is None:
        _, info = nk.ppg_peaks(x, sampling_rate=fs)
        peaks = info["PPG_Peaks"]
    p = _as_peak_indices(peaks, n)
    if p is None:
        if np.size(peaks) == 0:
            raise ValueError("the template-matching quality needs at least one detected peak")
        return _reference(x, fs, peaks)
    if n < fs * 4:
        raise ValueError("the signal is too short to be cut into beats (under 4 s)")

    # beat window: one average cycle, as seconds before/after the peak
    rate = np.mean(nk.signal_rate(p, sampling_rate=fs, desired_length=n))
    if not np.isfinite(rate):
        raise ValueError("too few peaks for an average cycle rate")
    cycle_s = 60 / rate
    pre_s = -(_RATIO_PRE * cycle_s)
    post_s = (1 - _RATIO_PRE) * cycle_s
    pad = int((post_s - pre_s) * fs)  # NaN on both sides, so every window is a slice
    # first and last sample (exclusive) of each window in the padded signal, rounded as NeuroKit2 does
    anchor = p + pad
    first = np.trunc(anchor + pre_s * fs).astype(np.int64)
    stop = np.trunc(anchor + post_s * fs).astype(np.int64)
    length = stop - first
    if first.min() < 0 or stop.max() > n + 2 * pad:
        return _reference(x, fs, p)  # a window wider than the padding: only for absurd rates

    # Beats of one length share one time grid (evenly spaced from pre_s to post_s); rounding can
    # make a few one sample longer, and then NeuroKit2's pivot holds the union of the grids: only
    # beats whose own grid is that whole union can be complete.
    lengths = np.unique(length)
    if lengths.size == 1:
        keep_len = int(lengths[0])
    else:
        grids = [np.linspace(pre_s, post_s, num=int(m), endpoint=True) for m in lengths]
        union = np.unique(np.concatenate(grids)).size
        full = [int(m) for m in lengths if m == union]
        keep_len = full[0] if full else -1
    valid = length == keep_len
    padded = np.concatenate((np.full(pad, np.nan), x, np.full(pad, np.nan)))
    beats = np.empty((0, max(keep_len, 0)))
    if valid.any():
        beats = padded[first[valid, None] + np.arange(keep_len)]
        inside = ~np.isnan(beats).any(axis=1)  # windows past an edge (or over NaN samples) are dropped
        valid[np.flatnonzero(valid)[~inside]] = False
        beats = beats[inside]
    kept = p[valid]
    if kept.size < 2:
        raise ValueError("fewer than two beats lie wholly inside the signal")

    # Pearson correlation of each beat (but the last) with the template, as np.corrcoef computes it
    template = beats.mean(axis=0)
    rows = beats[:-1]
    dev = rows - rows.mean(axis=1, keepdims=True)
    tdev = template - template.mean()
    scale = 1.0 / (keep_len - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = (dev @ tdev) * scale
        sd_rows = np.sqrt(np.einsum("ij,ij->i", dev, dev) * scale)
        sd_templ = np.sqrt((tdev @ tdev) * scale)
        cc = np.clip(cov / sd_rows / sd_templ, -1.0, 1.0)

    # each sample: the latest correlated beat at or before it (the first one before it)
    at = np.searchsorted(kept[:-1], np.arange(n), side="right") - 1
    return cc[np.maximum(at, 0)]
