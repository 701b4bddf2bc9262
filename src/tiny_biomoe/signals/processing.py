"""Preprocessing of one biosignal channel: checks, gap filling, zero-phase filters, resampling.

Filters are Butterworth second-order sections applied forward and backward with
:func:`scipy.signal.sosfiltfilt` (zero phase). Resampling uses :func:`scipy.signal.resample_poly`.
NaN gaps are handled here by hand because scipy's filters propagate NaN through the whole
signal: short gaps are interpolated, long gaps stay NaN and each finite stretch is filtered on
its own, so that windowing can later refuse windows that are mostly missing.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import signal as sps

from .._compat import keyword_only_after
from ..errors import SignalError
from .modalities import ModalityDefaults, get_modality

__all__ = [
    "MAX_SAMPLING_RATE",
    "check_sampling_rate",
    "check_signal",
    "fill_short_gaps",
    "design_filter",
    "zero_phase_filter",
    "eda_components",
    "normalize",
    "resample",
    "preprocess",
    "describe_preprocessing",
]

#: Highest sampling rate accepted (Hz); anything above is almost certainly a unit mistake.
MAX_SAMPLING_RATE = 100_000.0
#: Lowest sampling rate accepted (Hz).
MIN_SAMPLING_RATE = 0.1


def check_sampling_rate(sampling_rate: Any) -> float:
    """Return ``sampling_rate`` as a float, or raise SignalError if it is missing or absurd."""
    if sampling_rate is None:
        raise SignalError("no sampling rate given; pass sampling_rate= (Hz) or --fs, or a time column")
    if isinstance(sampling_rate, (bool, np.bool_)):  # True would pass as 1 Hz
        raise SignalError(f"sampling rate must be a number in Hz, not the bool {sampling_rate!r}")
    try:
        fs = float(sampling_rate)
    except (TypeError, ValueError) as exc:
        raise SignalError(f"sampling rate must be a number in Hz, got {sampling_rate!r}") from exc
    if not math.isfinite(fs) or fs < MIN_SAMPLING_RATE or fs > MAX_SAMPLING_RATE:
        raise SignalError(
            f"sampling rate {sampling_rate!r} Hz is not plausible; give a rate between "
            f"{MIN_SAMPLING_RATE:g} and {MAX_SAMPLING_RATE:g} Hz (in Hz, not kHz or a period)"
        )
    return fs


def check_signal(signal: Any, name: str = "signal") -> np.ndarray:
    """Return a 1-D float64 copy of ``signal``; refuse empty, non-numeric, all-NaN or constant data."""
    try:
        x = np.asarray(signal, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SignalError(f"{name} must be numeric; check the column choice") from exc
    x = np.squeeze(x) if x.ndim > 1 and sum(s > 1 for s in x.shape) <= 1 else x
    if x.ndim != 1:
        raise SignalError(f"{name} must be one channel (1-D), got shape {x.shape}; select one column/channel")
    if x.size == 0:
        raise SignalError(f"{name} is empty")
    x = x.copy()
    x[~np.isfinite(x)] = np.nan
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        raise SignalError(f"{name} has no finite values (all NaN/inf); check the file and column")
    if np.ptp(finite) == 0.0:
        raise SignalError(
            f"{name} is constant ({finite[0]:g} everywhere); it carries no signal - check the column or channel"
        )
    return x


def _nan_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Start/stop indices of runs of True in ``mask``."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


@keyword_only_after(1, legacy=2)
def fill_short_gaps(signal: np.ndarray, *, sampling_rate: float, max_gap_s: float = 0.5) -> tuple[np.ndarray, int]:
    """Linearly interpolate NaN gaps no longer than ``max_gap_s``; return (signal, samples filled).

    Gaps at the very start or end are filled with the nearest value when short enough.
    Longer gaps are left as NaN.
    """
    x = np.array(signal, dtype=np.float64, copy=True)
    nan = np.isnan(x)
    if not nan.any():
        return x, 0
    max_gap = int(round(max_gap_s * sampling_rate))
    idx = np.arange(x.size)
    good = ~nan
    filled = 0
    for a, b in _nan_runs(nan):
        if b - a > max_gap:
            continue
        x[a:b] = np.interp(idx[a:b], idx[good], x[good])
        filled += b - a
    return x, filled


def design_filter(
    sampling_rate: float, highpass_hz: float | None, lowpass_hz: float | None, order: int = 4
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Butterworth SOS for the given edges, capping the low-pass below Nyquist.

    Returns ``(sos or None, description)``. The low-pass edge is capped at 0.45 x rate; a
    pure low-pass that falls at or above that cap is dropped (the signal is already band-limited).
    A high-pass at or above the (capped) low-pass is a SignalError.
    """
    fs = check_sampling_rate(sampling_rate)
    cap = 0.45 * fs
    info: dict[str, Any] = {"type": "butterworth", "order": int(order), "zero_phase": True, "edge_padding": "even"}
    high = lowpass_hz
    if high is not None and high >= cap:
        info["lowpass_capped_from"] = high
        high = cap if highpass_hz is not None else None
    low = highpass_hz
    if low is not None and high is not None and low >= high:
        raise SignalError(
            f"cannot band-pass {low:g}-{lowpass_hz:g} Hz at a sampling rate of {fs:g} Hz "
            f"(Nyquist {fs / 2:g} Hz); use a higher sampling rate or override the filter edges"
        )
    if low is not None and low >= cap:
        raise SignalError(
            f"high-pass edge {low:g} Hz is too high for a sampling rate of {fs:g} Hz; override highpass_hz"
        )
    info["highpass_hz"], info["lowpass_hz"] = low, high
    if low is None and high is None:
        return None, info
    if low is not None and high is not None:
        sos = sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    elif low is not None:
        sos = sps.butter(order, low, btype="highpass", fs=fs, output="sos")
    else:
        sos = sps.butter(order, high, btype="lowpass", fs=fs, output="sos")
    return sos, info


#: The edge padding lasts until the filter's slowest pole has decayed to this fraction.
_SETTLE_TOL = 1e-3


def _settle_samples(sos: np.ndarray) -> int:
    """Samples for the slowest pole of ``sos`` to decay to ``_SETTLE_TOL`` (~3 periods of the lowest edge)."""
    radius = float(np.abs(sps.sos2zpk(sos)[1]).max())
    return int(math.ceil(math.log(_SETTLE_TOL) / math.log(radius))) if 0.0 < radius < 1.0 else 1


def _sosfiltfilt_finite(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sosfiltfilt applied to each finite stretch of ``x`` separately (NaN gaps kept).

    Each stretch is extended by its mirror image (``padtype="even"``) over the filter's settling
    length (capped at the stretch). scipy's default, an odd extension of 3 x (2 x sections + 1)
    samples, turns the signal upside down about its first/last sample and is far shorter than the
    transient of a low high-pass edge (0.27 s at 100 Hz against ~6 s for 0.5 Hz): a window that
    starts on a slope, such as a pulse upstroke, got a spike at its edge.
    """
    out = np.full_like(x, np.nan)
    settle = _settle_samples(sos)
    for a, b in _nan_runs(np.isfinite(x)):
        seg = x[a:b]
        if seg.size < 2 * len(sos) + 2:  # too short to filter meaningfully; keep as is
            out[a:b] = seg
            continue
        out[a:b] = sps.sosfiltfilt(sos, seg, padtype="even", padlen=min(settle, seg.size - 1))
    return out


@keyword_only_after(1, legacy=4)
def zero_phase_filter(
    signal: np.ndarray, *, sampling_rate: float, highpass_hz: float | None, lowpass_hz: float | None, order: int = 4
) -> np.ndarray:
    """Zero-phase Butterworth filter (high-, low- or band-pass); NaN gaps are preserved."""
    x = np.asarray(signal, dtype=np.float64)
    sos, _ = design_filter(sampling_rate, highpass_hz, lowpass_hz, order)
    if sos is None:
        return x.copy()
    return _sosfiltfilt_finite(sos, x)


@keyword_only_after(1, legacy=3)
def eda_components(
    signal: np.ndarray, *, sampling_rate: float, cutoff_hz: float = 0.05, order: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Split EDA into (tonic, phasic): phasic = zero-phase high-pass at ``cutoff_hz``, tonic = rest.

    This is the high-pass method of NeuroKit2's ``eda_phasic`` written with scipy directly so
    that the filter order and padding are ours and documented.
    """
    x = np.asarray(signal, dtype=np.float64)
    phasic = zero_phase_filter(x, sampling_rate=sampling_rate, highpass_hz=cutoff_hz, lowpass_hz=None, order=order)
    return x - phasic, phasic


@keyword_only_after(1, legacy=1)
def normalize(signal: np.ndarray, *, method: str | None = None) -> np.ndarray:
    """Normalise a channel: ``None`` (unchanged), ``"zscore"`` or ``"minmax"`` (NaN-aware)."""
    x = np.asarray(signal, dtype=np.float64)
    if method in (None, "none"):
        return x.copy()
    if method == "zscore":
        sd = np.nanstd(x)
        return (x - np.nanmean(x)) / (sd if sd > 0 else 1.0)
    if method == "minmax":
        lo, hi = np.nanmin(x), np.nanmax(x)
        return (x - lo) / ((hi - lo) if hi > lo else 1.0)
    raise SignalError(f"unknown normalisation {method!r}; use None, 'zscore' or 'minmax'")


@keyword_only_after(1, legacy=3)
def resample(
    signal: np.ndarray, *, sampling_rate: float, target_rate: float, max_denominator: int = 1000, padtype: str = "constant"
) -> np.ndarray:
    """Resample with :func:`scipy.signal.resample_poly` (anti-aliased); NaN gaps are carried over.

    The rate ratio is approximated by a fraction with denominator <= ``max_denominator``.
    ``padtype`` is resample_poly's edge assumption: ``"constant"`` (zeros, its default) or e.g.
    ``"line"`` (the conditioning path: a signal with an offset, such as EDA or SpO2, keeps its
    level at the edges instead of ringing towards zero).
    """
    fs = check_sampling_rate(sampling_rate)
    target = check_sampling_rate(target_rate)
    x = np.asarray(signal, dtype=np.float64)
    if fs == target:
        return x.copy()
    frac = Fraction(target / fs).limit_denominator(max_denominator)
    up, down = frac.numerator, frac.denominator
    nan = np.isnan(x)
    filled = x
    if nan.any():
        good = ~nan
        if not good.any():
            raise SignalError("cannot resample a signal with no finite values")
        idx = np.arange(x.size)
        filled = x.copy()
        filled[nan] = np.interp(idx[nan], idx[good], x[good])
    y = sps.resample_poly(filled, up, down, padtype=padtype)
    if nan.any():
        src = np.minimum((np.arange(y.size) * down / up).round().astype(int), x.size - 1)
        y[nan[src]] = np.nan
    return y


def describe_preprocessing(
    modality: str | ModalityDefaults, sampling_rate: float, normalize_method: str | None = None
) -> dict[str, Any]:
    """The preprocessing that :func:`preprocess` applies, as a plain dict (for metadata)."""
    m = get_modality(modality)
    _, info = design_filter(sampling_rate, m.highpass_hz, m.lowpass_hz, m.filter_order)
    return {"modality": m.name, "filter": info, "normalize": normalize_method}


@keyword_only_after(1, legacy=2)
def preprocess(
    signal: np.ndarray,
    *,
    sampling_rate: float,
    modality: str | ModalityDefaults,
    filter: bool = True,
    normalize_method: str | None = None,
    max_gap_s: float = 0.5,
    **overrides: Any,
) -> np.ndarray:
    """Clean one channel with the modality defaults (spec table); keyword overrides change fields.

    Steps: check rate and values; interpolate NaN gaps up to ``max_gap_s``; zero-phase
    Butterworth filter of the modality (e.g. EDA low-pass 5 Hz, BVP band-pass 0.5-8 Hz, SpO2
    none); optional normalisation. Long gaps stay NaN (windowing drops mostly-missing windows).

    Args:
        signal: one channel (1-D, numeric; not empty, all-NaN or constant, else a SignalError).
        sampling_rate: Hz (0.1 to 100,000).
        modality: a modality name or alias (``"eda"``, ``"ppg"``...) or a :class:`ModalityDefaults`.
        filter: apply the modality's zero-phase Butterworth filter (``False``: no filtering).
        normalize_method: ``None`` (unchanged), ``"zscore"`` or ``"minmax"`` (see :func:`normalize`).
        max_gap_s: longest NaN gap, in seconds, that is linearly interpolated (a warning says how many
            samples); longer gaps stay NaN.
        **overrides: fields of the modality defaults to change, e.g. ``lowpass_hz=5.0`` (see :func:`get_modality`).

    >>> import numpy as np
    >>> y = preprocess(np.sin(np.arange(1000) / 10), sampling_rate=100, modality="ppg", lowpass_hz=5.0)
    """
    fs = check_sampling_rate(sampling_rate)
    m = get_modality(modality, **overrides)
    x = check_signal(signal)
    x, filled = fill_short_gaps(x, sampling_rate=fs, max_gap_s=max_gap_s)
    if filled:
        warnings.warn(f"interpolated {filled} missing samples in gaps up to {max_gap_s:g} s", stacklevel=2)
    if filter:
        x = zero_phase_filter(x, sampling_rate=fs, highpass_hz=m.highpass_hz, lowpass_hz=m.lowpass_hz,
                              order=m.filter_order)
    return normalize(x, method=normalize_method)
