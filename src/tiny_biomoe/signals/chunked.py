"""Conditioning a long recording in chunks of windows, equal to conditioning it whole.

:func:`iter_condition` cuts the recording into chunks of ``chunk_windows`` windows and runs the one
conditioning function (:func:`tiny_biomoe.signals.conditioning.condition`: gaps -> filter ->
resample -> windows) on each chunk *plus an overlap* on both sides. The overlap is several
times the settling length of the modality's zero-phase filter (its slowest pole decayed to
1e-15 of its value) plus the resampler's FIR length, and every segment starts on a sample that
is both a resampling phase and a window boundary, so the windows of a chunk equal the same
windows of the whole recording to float rounding (tests check every modality's filter). Memory
is the raw recording plus one chunk, whatever the recording's length.

>>> import numpy as np
>>> x = np.sin(np.arange(60_000) / 50.0)
>>> sum(len(c) for c in iter_condition(x, 100.0, "eda", window_s=10.0, chunk_windows=16))
60
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterator

import numpy as np
from scipy import signal as sps

from ..errors import SignalError
from .modalities import ModalityDefaults, get_modality
from .processing import check_sampling_rate, check_signal, design_filter

__all__ = ["Chunk", "iter_condition", "overlap_samples"]


@dataclass(frozen=True)
class Chunk:
    """Conditioned windows ``[first, first + len)`` of a recording.

    Attributes:
        data: ``(n, L)`` float64 windows.
        starts: ``(n,)`` start times in seconds from the start of the recording.
        sampling_rate: Hz (after resampling).
        window_s, stride_s: seconds.
        n_candidates: candidate windows this chunk covered (kept + dropped as mostly missing).
        settings: the conditioning settings of :func:`condition` (the same for every chunk).
    """

    data: np.ndarray
    starts: np.ndarray
    sampling_rate: float
    window_s: float
    stride_s: float
    n_candidates: int
    settings: dict[str, Any]

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_dropped(self) -> int:
        """Candidate windows of this chunk dropped as mostly missing."""
        return self.n_candidates - len(self)


def _ratio(fs0: float, fs: float) -> tuple[int, int]:
    """``(up, down)`` exactly as :func:`tiny_biomoe.signals.processing.resample` chooses them."""
    if fs == fs0:
        return 1, 1
    frac = Fraction(fs / fs0).limit_denominator(1000)
    return frac.numerator, frac.denominator


def overlap_samples(modality: "str | ModalityDefaults", sampling_rate: float, target_rate: float,
                    preprocess: bool = True, max_gap_s: float = 0.5) -> int:
    """Input samples of overlap on each side of a chunk so that chunked conditioning equals whole.

    Five settling lengths of the filter (each decays its slowest pole to 1e-3, so 1e-15 in all),
    plus the resampler's FIR half-length and the longest gap that is interpolated.
    """
    m = get_modality(modality)
    fs0 = check_sampling_rate(sampling_rate)
    settle = 0
    if preprocess:
        sos, _ = design_filter(fs0, m.highpass_hz, m.lowpass_hz, m.filter_order)
        if sos is not None:
            radius = float(np.abs(sps.sos2zpk(sos)[1]).max())
            settle = int(math.ceil(math.log(1e-3) / math.log(radius))) if 0.0 < radius < 1.0 else 1
    up, down = _ratio(fs0, check_sampling_rate(target_rate))
    fir = 0 if up == down == 1 else 10 * max(up, down) // up + 2  # resample_poly's default half-length, in input samples
    return 5 * settle + fir + int(math.ceil(max_gap_s * fs0)) + 16


class _EdgeFix:
    """The resampler's ``padtype="line"`` continues the line through the *recording's* first and last
    (filtered) samples beyond its edges; a segment holding one edge continues its own line instead.
    The difference is linear in that line's slope: this adds the resampler's response to it (it
    reaches only the resampling filter's length into the recording)."""

    def __init__(self, raw, fs0, m, up, down, preprocess, max_gap_s, pad_in, left, right):
        self.raw, self.fs0, self.m, self.up, self.down = raw, fs0, m, up, down
        self.preprocess, self.max_gap_s, self.pad_in, self.left, self.right = preprocess, max_gap_s, pad_in, left, right
        n = raw.size
        self.first = self._edge(0, right(min(n, 2 * pad_in)), 0)
        self.last = self._edge(left(max(0, n - 2 * pad_in)), n, -1)
        self.k = down * (-(-(20 * max(up, down) // up + 8) // down))  # input samples of the continued line used

    def _edge(self, a: int, b: int, which: int) -> float:
        """First/last value of the (filtered, gap-filled) stretch ``raw[a:b]`` as the resampler sees it."""
        from .processing import fill_short_gaps, zero_phase_filter

        y = fill_short_gaps(self.raw[a:b], sampling_rate=self.fs0, max_gap_s=self.max_gap_s)[0]
        if self.preprocess:
            y = zero_phase_filter(y, sampling_rate=self.fs0, highpass_hz=self.m.highpass_hz,
                                  lowpass_hz=self.m.lowpass_hz, order=self.m.filter_order)
        return float(y[np.isfinite(y)][which])

    def apply(self, data: np.ndarray, starts: np.ndarray, a_in: int, b_in: int, n_win: int) -> np.ndarray:
        n, up, down, k = self.raw.size, self.up, self.down, self.k
        slope = (self.last - self.first) / (n - 1)
        if a_in == 0:  # holds the start; its own line ends at the segment's last sample
            own = (self._edge(self.left(max(0, b_in - 2 * self.pad_in)), b_in, -1) - self.first) / (b_in - 1)
            z = np.concatenate([(slope - own) * np.arange(-k, 0), np.zeros(k)])
            corr = sps.resample_poly(z, up, down)[k * up // down :]
            off = 0
        else:  # holds the end
            own = (self.last - self._edge(a_in, self.right(min(n, a_in + 2 * self.pad_in)), 0)) / (n - a_in - 1)
            tail = n - a_in - (n - a_in - k) // down * down if n - a_in > k else n - a_in
            tail = tail if (n - a_in - tail) % down == 0 else n - a_in
            z = np.concatenate([np.zeros(tail), (slope - own) * np.arange(1, k + 1)])
            corr = sps.resample_poly(z, up, down)[: -(-tail * up // down)]
            off = (n - a_in - tail) * up // down  # segment output index of corr[0]
        out = np.array(data, dtype=np.float64, copy=True)
        for r, g in enumerate(np.asarray(starts, dtype=np.int64)):
            lo, hi = max(g, off), min(g + n_win, off + corr.size)
            if lo < hi:
                out[r, lo - g : hi - g] += corr[lo - off : hi - off]
        return out


def iter_condition(
    signal: Any,
    sampling_rate: float,
    modality: "str | ModalityDefaults",
    *,
    chunk_windows: int = 512,
    window_s: float | None = None,
    stride_s: float | None = None,
    resample: "str | float | None" = "model",
    preprocess: bool = True,
    max_gap_s: float = 0.5,
    max_missing: float = 0.5,
    max_windows: int | None = None,
) -> Iterator[Chunk]:
    """Yield the conditioned sliding windows of one channel, ``chunk_windows`` windows at a time.

    A chunk whose windows are all mostly missing comes out empty (its ``n_dropped`` counts them).

    The windows (and their start times) are those of ``condition(signal, ...)`` on the whole
    recording (same arguments; quality flags and normalisation, which need the whole recording,
    are not offered). A recording that fits one chunk is conditioned whole.

    Raises:
        SignalError: what :func:`condition` raises for the whole recording (bad signal, shorter than
            one window, every window mostly missing).
    """
    from .conditioning import condition, resolve_rate

    m = get_modality(modality)
    fs0 = check_sampling_rate(sampling_rate)
    fs = resolve_rate(resample, m, fs0)
    if int(chunk_windows) < 1:
        raise SignalError(f"chunk_windows must be >= 1, got {chunk_windows}")
    raw = check_signal(signal)  # refuses empty/constant/all-missing recordings as a whole
    win = float(m.window_s if window_s is None else window_s)
    stride = win if stride_s is None else float(stride_s)
    kw = dict(window_s=win, stride_s=stride, resample=resample, preprocess=preprocess, max_gap_s=max_gap_s,
              max_missing=max_missing, quality=False)
    up, down = _ratio(fs0, fs)
    n_out = -(-raw.size * up // down)  # resample_poly's output length
    n_win, hop = int(round(win * fs)), max(1, int(round(stride * fs)))
    n_cand = (n_out - n_win) // hop + 1 if n_out >= n_win else 0
    limit = n_cand if max_windows is None else min(n_cand, int(max_windows))

    def chunk_of(c, first: int, count: int) -> Chunk:
        return Chunk(c.data, c.starts, c.sampling_rate, c.window_s, c.stride_s, count, c.settings)

    if n_cand <= int(chunk_windows):  # one chunk: exactly condition() on the whole recording
        yield chunk_of(condition(raw, sampling_rate=fs0, modality=m, max_windows=max_windows, **kw), 0, n_cand)
        return
    pad_in = overlap_samples(m, fs0, fs, preprocess, max_gap_s)
    pad_out = -(-pad_in * up // down)
    # a segment starts on a resampling phase (even, for the resampler's rounding of gaps) and a window boundary
    align = math.lcm(2 * up, hop)
    d = np.diff(np.concatenate(([0], np.isnan(raw).astype(np.int8), [0])))
    run_s, run_e = np.flatnonzero(d == 1), np.flatnonzero(d == -1)  # missing stretches [s, e)

    def left(a: int) -> int:  # no gap may start within the overlap of the segment's first sample
        while a > 0:
            i = int(np.searchsorted(run_e, a, side="left"))
            if i >= run_s.size or run_s[i] >= a + pad_in:
                break
            a = max(0, int(run_s[i]) - pad_in)
        return a

    def right(b: int) -> int:  # nor end within the overlap of its last sample
        while b < raw.size:
            i = int(np.searchsorted(run_s, b, side="right")) - 1
            if i < 0 or run_e[i] <= b - pad_in:
                break
            b = min(raw.size, int(run_e[i]) + pad_in)
        return b
    edge = _EdgeFix(raw, fs0, m, up, down, preprocess, max_gap_s, pad_in, left, right) if (up, down) != (1, 1) else None
    kept = 0
    k0 = 0
    while k0 < n_cand and kept < limit:
        k1 = min(n_cand, k0 + int(chunk_windows))
        a_out = max(0, k0 * hop - pad_out) // align * align
        a_out = left(a_out * down // up) * up // down // align * align
        b_out = min(n_out, (k1 - 1) * hop + n_win + pad_out)
        a_in, b_in = a_out * down // up, right(min(raw.size, -(-b_out * down // up) + 1))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # per-chunk drop counts; the total is reported once
                c = condition(raw[a_in:b_in], sampling_rate=fs0, modality=m, **kw)
        except SignalError as exc:
            if "missing" in str(exc):  # every window of this stretch is mostly missing: an empty chunk
                yield Chunk(np.empty((0, n_win)), np.empty(0), fs, n_win / fs, hop / fs, k1 - k0, {})
                k0 = k1
                continue
            # e.g. a constant stretch: condition the rest of the recording in one piece
            c = condition(raw[a_in:], sampling_rate=fs0, modality=m, **kw)
            k1 = n_cand
        idx = np.round(c.starts * fs).astype(np.int64) + a_out  # global start samples
        sel = (idx >= k0 * hop) & (idx < k1 * hop) if k1 < n_cand else idx >= k0 * hop
        sel = np.flatnonzero(sel)[: limit - kept]
        data = c.data[sel]
        if edge is not None and (a_in == 0) != (b_in >= raw.size):  # the segment has one of the recording's edges
            data = edge.apply(data, idx[sel] - a_out, a_in, b_in, n_win)
        yield Chunk(data, idx[sel] / fs, c.sampling_rate, c.window_s, c.stride_s, k1 - k0, c.settings)
        kept += sel.size
        k0 = k1
    if kept == 0:
        raise SignalError(f"all {n_cand} windows are more than {max_missing:.0%} missing (NaN); check the signal "
                          "or gap settings")
