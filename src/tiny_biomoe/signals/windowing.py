"""Cutting a channel into fixed-length windows with a stride, refusing mostly-missing windows."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._compat import keyword_only_after
from ..errors import SignalError
from .modalities import ModalityDefaults
from .processing import check_sampling_rate

__all__ = ["Windows", "make_windows", "signal_windows"]


@dataclass(frozen=True)
class Windows:
    """Windows of one channel.

    Attributes:
        data: ``(N, L)`` float64 array, no NaN (remaining small gaps are interpolated).
        starts: ``(N,)`` start time of each window in seconds from the start of the signal.
        sampling_rate: Hz.
        window_s: window length in seconds (``L / sampling_rate``).
        stride_s: stride in seconds.
        n_candidates: windows the signal could hold.
        n_dropped: windows refused because more than ``max_missing`` of their samples were NaN.
    """

    data: np.ndarray
    starts: np.ndarray
    sampling_rate: float
    window_s: float
    stride_s: float
    n_candidates: int
    n_dropped: int

    def __len__(self) -> int:
        return int(self.data.shape[0])


@keyword_only_after(1, legacy=5)
def make_windows(
    signal: np.ndarray,
    *,
    sampling_rate: float,
    window_s: float,
    stride_s: float | None = None,
    max_missing: float = 0.5,
    max_windows: int | None = None,
) -> Windows:
    """Cut ``signal`` into windows of ``window_s`` seconds every ``stride_s`` seconds (default: no overlap).

    Windows with more than ``max_missing`` (fraction) NaN samples are dropped and counted (a
    warning says how many); the NaN left in kept windows are linearly interpolated. A signal
    shorter than one window, or one where every window is dropped, is a SignalError.
    """
    fs = check_sampling_rate(sampling_rate)
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise SignalError(f"windowing needs one channel (1-D), got shape {x.shape}")
    if not window_s or window_s <= 0:
        raise SignalError(f"window length must be positive seconds, got {window_s!r}")
    stride_s = window_s if stride_s is None else stride_s
    if stride_s <= 0:
        raise SignalError(f"stride must be positive seconds, got {stride_s!r}")
    if max_windows is not None and int(max_windows) < 1:
        raise SignalError(f"max_windows must be at least 1, got {max_windows}")
    if stride_s * fs < 0.5:  # would be rounded up to one sample: refuse instead of making every sample a window
        raise SignalError(f"stride {stride_s:g} s is shorter than one sample at {fs:g} Hz ({1 / fs:g} s); use a stride "
                          "of at least one sample")
    n_win = int(round(window_s * fs))
    n_hop = max(1, int(round(stride_s * fs)))
    if n_win < 8:
        raise SignalError(
            f"a window of {window_s:g} s at {fs:g} Hz has only {n_win} samples; use a longer window (--window)"
        )
    if x.size < n_win:
        raise SignalError(
            f"signal is {x.size / fs:.3g} s long ({x.size} samples at {fs:g} Hz), shorter than one window of "
            f"{window_s:g} s; use a shorter window (--window) or a longer recording"
        )
    view = np.lib.stride_tricks.sliding_window_view(x, n_win)[::n_hop]
    n_cand = view.shape[0]
    starts = np.arange(n_cand) * n_hop
    nan_cum = np.concatenate([[0], np.cumsum(np.isnan(x))])  # O(samples) memory, not windows x window length
    frac_missing = (nan_cum[starts + n_win] - nan_cum[starts]) / n_win
    keep = frac_missing <= max_missing
    n_dropped = int((~keep).sum())
    if not keep.any():
        raise SignalError(
            f"all {n_cand} windows are more than {max_missing:.0%} missing (NaN); check the signal or gap settings"
        )
    if n_dropped:
        warnings.warn(
            f"dropped {n_dropped} of {n_cand} windows that were more than {max_missing:.0%} missing", stacklevel=2
        )
    chosen = np.flatnonzero(keep)
    if max_windows is not None:  # before copying: a tiny stride must not copy every window first
        chosen = chosen[: int(max_windows)]
    from .._validate import check_work

    hint = "use a larger stride or fewer windows (max_windows, CLI --max-windows)"
    check_work(chosen.size, f"{chosen.size} windows", limit_name="MAX_WINDOWS", hint=hint, error=SignalError)
    check_work(chosen.size * n_win * 8.0, f"{chosen.size} windows of {n_win} samples", hint=hint, error=SignalError)
    data = np.array(view[chosen], dtype=np.float64)
    starts = starts[chosen]
    idx = np.arange(n_win)
    for row in data:  # few rows have NaN left; interpolate (edges take the nearest value)
        nan = np.isnan(row)
        if nan.any():
            row[nan] = np.interp(idx[nan], idx[~nan], row[~nan])
    return Windows(data, starts / fs, fs, n_win / fs, n_hop / fs, n_cand, n_dropped)


def signal_windows(
    signal: np.ndarray,
    sampling_rate: float,
    modality: "str | ModalityDefaults",
    window_s: float | None = None,
    stride_s: float | None = None,
    *,
    preprocess: bool = True,
    target_rate: float | None = None,
    max_missing: float = 0.5,
    max_windows: int | None = None,
) -> Windows:
    """Deprecated thin alias of :func:`tiny_biomoe.signals.conditioning.condition` (kept for one release).

    ``target_rate=None`` keeps the recording's rate (``resample="native"``) as this function always
    did; :func:`~tiny_biomoe.signals.conditioning.condition` defaults to the modality's model rate.
    """
    from .conditioning import condition

    return condition(signal, sampling_rate=sampling_rate, modality=modality, window_s=window_s, stride_s=stride_s,
                     preprocess=preprocess,
                     resample="native" if target_rate is None else target_rate, max_missing=max_missing,
                     max_windows=max_windows, quality=False)
