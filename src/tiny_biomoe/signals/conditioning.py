"""The one conditioning path: a recording -> gaps -> filter -> resample -> windows.

Every caller uses :func:`condition`: ``embed_signal``/``embed_file``, ``render_signal`` (the
previews), the pain pipeline (``trial_windows``, so ``evaluate``/``train``), ``predict`` and the
pretraining shards. The same recording with the same settings therefore gives the same windows
everywhere (before, two copies resampled first and two filtered first; the windows differed by
2-7 % of their range).

Order (:data:`CONDITIONING`, stored in every output as ``conditioning``):

1. **gaps** (one policy, :data:`GAP_POLICY`): non-finite samples are missing; gaps up to
   ``max_gap_s`` (0.5 s) are linearly interpolated; longer gaps stay missing: each finite stretch
   is filtered on its own, resampling carries the gap over, windows more than ``max_missing``
   missing are dropped (counted) and the few missing samples left in a kept window are
   interpolated. Nothing is ever padded: a recording shorter than its window is refused.
2. **filter**: the modality's zero-phase Butterworth filter at the recording's own rate, over the
   whole recording (edges mirrored over the filter's settling length). Filtering first removes the
   offset and drift, so the polyphase resampler's zero-padded edges do not ring, and no
   information above the new Nyquist is folded in before the filter has seen it.
3. **resample** to the modality's model rate (:attr:`ModalityDefaults.model_rate_hz`, e.g. 100 Hz
   for BVP) with :func:`scipy.signal.resample_poly` (anti-aliased; ``padtype="line"``, so a
   signal with a level, EDA or SpO2, does not ring towards zero at the edges), so that one
   modality looks the same whatever device recorded it; ``resample="native"`` keeps the
   recording's rate.
4. **windows**: sliding windows of ``window_s`` every ``stride_s`` (``placement="sliding"``) or
   the one window at the centre of the recording (``placement="centre"``, a trial).

``lines`` asks for extra component windows (what the ``multi`` kind draws), computed from the
*unconditioned* recording over the whole recording with the same gap -> filter -> resample order
and cut at the same places: ``raw`` (no filter), ``filtered`` (the modality's band), ``lowpassed``,
``tonic``/``phasic`` (EDA split). ``quality`` adds per-window flags (:mod:`.quality`).

>>> import numpy as np
>>> c = condition(np.sin(np.arange(6000) / 20.0), 200.0, "bvp", window_s=10.0)
>>> c.data.shape, c.sampling_rate, c.settings["conditioning"]["order"]
((3, 1000), 100.0, ['gaps', 'filter', 'resample', 'windows'])
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .._compat import keyword_only_after
from ..errors import SignalError
from .modalities import ModalityDefaults, get_modality
from .processing import (
    check_sampling_rate,
    check_signal,
    describe_preprocessing,
    eda_components,
    fill_short_gaps,
    normalize,
    resample as _resample,
    zero_phase_filter,
)
from .quality import WindowQuality, window_quality
from .windowing import Windows, make_windows

__all__ = ["CONDITIONING", "GAP_POLICY", "LINE_NAMES", "Conditioned", "condition", "resolve_rate", "check_conditioning"]

#: The order and version of the conditioning steps (stored with every output).
CONDITIONING: dict[str, Any] = {"order": ["gaps", "filter", "resample", "windows"], "version": 2}
#: The order used before version 2 by the pain pipeline, predict and the shards (never mixed).
OLD_ORDER = ["resample", "filter", "windows"]
#: The one gap policy (see the module docstring).
GAP_POLICY: dict[str, Any] = {"interpolate_up_to_s": 0.5, "longer_gaps": "missing; each finite stretch filtered alone",
                              "max_missing": 0.5, "left_in_kept_windows": "linear interpolation", "padding": "never"}
#: Component lines :func:`condition` can cut alongside the windows.
LINE_NAMES = ("raw", "filtered", "lowpassed", "tonic", "phasic")


@dataclass(frozen=True)
class Conditioned(Windows):
    """Windows of one conditioned channel plus what downstream needs.

    Besides :class:`~tiny_biomoe.signals.windowing.Windows` (``data``, ``starts``, ``sampling_rate``,
    ``window_s``, ``stride_s``, ``n_candidates``, ``n_dropped``):

    Attributes:
        lines: component name -> ``(N, L)`` windows cut at the same places from the
            unconditioned recording (empty unless asked for).
        quality: per-window flags (``None`` when not asked for).
        original_sampling_rate: the recording's own rate (Hz).
        settings: how the windows were made (``conditioning`` order and version, gap policy,
            rates, filter, window, placement); stored with every output.
        span_index: with ``spans``: the span each window was cut from.
    """

    lines: Mapping[str, np.ndarray] = field(default_factory=dict)
    quality: WindowQuality | None = None
    original_sampling_rate: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)
    span_index: np.ndarray | None = None


def band_top_hz(modality: "str | ModalityDefaults") -> float | None:
    """The upper edge of where the modality's information is: its spectrogram band's ``fmax``, else
    its filter's low-pass edge (``None`` when it has neither, e.g. SpO2)."""
    m = get_modality(modality)
    if m.spectrogram_band_hz is not None:
        return float(m.spectrogram_band_hz[1])
    return None if m.lowpass_hz is None else float(m.lowpass_hz)


def _warn_band_above_nyquist(m: ModalityDefaults, fs0: float, fs: float) -> None:
    """Warn when a recording is resampled up to the model rate but its own Nyquist frequency is below
    the modality's band: the upper part of the band (and of the spectrogram images) stays empty."""
    top = band_top_hz(m)
    if top is None or fs <= fs0 or fs0 / 2 >= top:
        return
    warnings.warn(
        f"{m.name.upper()} recorded at {fs0:g} Hz: its Nyquist frequency ({fs0 / 2:g} Hz) is below the top of the "
        f"modality's band ({top:g} Hz), so {fs0 / 2:g}-{top:g} Hz holds nothing and that part of the spectrogram "
        f"images stays empty after resampling to {fs:g} Hz ({m.name.upper()} is usually recorded at "
        f"{m.typical_rates[0]:g}-{m.typical_rates[1]:g} Hz); the images are still made", stacklevel=3)


def resolve_rate(resample: "str | float | None", modality: "str | ModalityDefaults", sampling_rate: float) -> float:
    """The output rate: ``"model"``/``None`` -> the modality's model rate, ``"native"`` -> ``sampling_rate``, Hz -> Hz."""
    m = get_modality(modality)
    if resample is None or (isinstance(resample, str) and resample.strip().lower() == "model"):
        return check_sampling_rate(m.model_rate_hz)
    if isinstance(resample, str):
        key = resample.strip().lower()
        if key == "native":
            return check_sampling_rate(sampling_rate)
        try:
            return check_sampling_rate(float(key))
        except ValueError:
            raise SignalError(f"resample must be 'model', 'native' or a rate in Hz, got {resample!r}") from None
    return check_sampling_rate(resample)


def check_conditioning(recorded: Any, where: str) -> str | None:
    """``None`` when ``recorded`` (a stored ``conditioning`` setting) is the current one, else why not.

    A missing record means the output predates version 2: the old resample -> filter order.
    """
    if not recorded:
        return (f"{where} was made with the old conditioning order (resample -> filter, before version "
                f"{CONDITIONING['version']}); its windows differ from today's gaps -> filter -> resample")
    order, version = list(recorded.get("order") or []), recorded.get("version")
    if order != CONDITIONING["order"] or version != CONDITIONING["version"]:
        return (f"{where} was made with conditioning {order} version {version}; today's is "
                f"{CONDITIONING['order']} version {CONDITIONING['version']}")
    return None


def _stage(x: np.ndarray, fs: float, fs_out: float, hp: float | None, lp: float | None, order: int,
           filt: bool) -> np.ndarray:
    """filter (optional) at ``fs`` then resample to ``fs_out``: steps 2-3 of the order."""
    y = zero_phase_filter(x, sampling_rate=fs, highpass_hz=hp, lowpass_hz=lp, order=order) if filt else x
    return _resample(y, sampling_rate=fs, target_rate=fs_out, padtype="line") if fs_out != fs else y


def _cut(x: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    out = np.stack([x[s : s + n] for s in starts]).astype(np.float64)
    idx = np.arange(n)
    for row in out:  # the policy: missing samples left in a kept window are interpolated
        nan = np.isnan(row)
        if nan.any() and (~nan).any():
            row[nan] = np.interp(idx[nan], idx[~nan], row[~nan])
    return out


@keyword_only_after(1, legacy=2)
def condition(
    signal: Any,
    *,
    sampling_rate: float,
    modality: "str | ModalityDefaults",
    window_s: float | None = None,
    stride_s: float | None = None,
    resample: "str | float | None" = "model",
    preprocess: bool = True,
    normalize_method: str | None = None,
    max_gap_s: float = 0.5,
    max_missing: float = 0.5,
    max_windows: int | None = None,
    placement: str = "sliding",
    spans: "Sequence[tuple[float, float]] | None" = None,
    lines: Sequence[str] = (),
    line_settings: Mapping[str, Any] | None = None,
    quality: bool = True,
    sqi: bool = True,
) -> Conditioned:
    """Condition one channel: gaps -> filter -> resample -> windows (see the module docstring).

    Args:
        signal: 1-D samples (non-finite = missing).
        sampling_rate: the recording's rate in Hz.
        modality: name or :class:`ModalityDefaults` (its filter, window and model rate).
        window_s: window length in seconds (default: the modality's window).
        stride_s: seconds between window starts (default: the window, no overlap).
        resample: ``"model"`` (default: the modality's model rate), ``"native"`` or a rate in Hz.
        preprocess: apply the modality's filter (``False``: gaps and resampling only).
        normalize_method: ``None``, ``"zscore"`` or ``"minmax"`` over the whole conditioned recording.
        max_gap_s: gaps up to this long are interpolated.
        max_missing: windows with a larger missing fraction are dropped.
        max_windows: keep only the first N windows.
        placement: ``"sliding"`` or ``"centre"`` (one window at the middle of the recording).
        spans: ``[(start_s, end_s), ...]``: sliding windows cut inside each span only (e.g. the
            labelled segments of a recording), after conditioning the whole recording;
            ``max_windows`` applies per span, spans shorter than a window give none
            (``Conditioned.span_index`` says which span each window came from).
        lines: component windows to cut too (:data:`LINE_NAMES`).
        line_settings: overrides of ``highpass_hz``, ``lowpass_hz``, ``tonic_phasic_hz``,
            ``filter_order`` for the lines (default: the modality's).
        quality: compute per-window quality flags.
        sqi: with ``quality``, also NeuroKit2's signal quality index (``False``: the flags without it).

    Raises:
        SignalError: bad signal or settings, a recording shorter than one window (never padded),
            or every window mostly missing.
    """
    m = get_modality(modality)
    fs0 = check_sampling_rate(sampling_rate)
    fs = resolve_rate(resample, m, fs0)
    if placement not in ("sliding", "centre", "center"):
        raise SignalError(f"placement must be 'sliding' or 'centre', got {placement!r}")
    bad = [n for n in lines if n not in LINE_NAMES]
    if bad:
        raise SignalError(f"unknown line(s) {bad}; known: {list(LINE_NAMES)}")
    win = float(m.window_s if window_s is None else window_s)
    raw = check_signal(signal)
    _warn_band_above_nyquist(m, fs0, fs)
    # 1. gaps
    filled_x, filled = fill_short_gaps(raw, sampling_rate=fs0, max_gap_s=max_gap_s)
    # 2.-3. filter at the recording's rate, then resample
    x = _stage(filled_x, fs0, fs, m.highpass_hz, m.lowpass_hz, m.filter_order, preprocess)
    x = normalize(x, method=normalize_method)
    # 4. windows
    span_index = None
    if spans is not None:
        n = int(round(win * fs))
        parts, part_starts, part_idx, n_cand, n_drop = [], [], [], 0, 0
        for j, (a, b) in enumerate(spans):
            i0, i1 = max(0, int(round(float(a) * fs))), min(x.size, int(round(float(b) * fs)))
            if i1 - i0 < n:
                continue  # shorter than one window (e.g. a truncated last epoch)
            try:
                w = make_windows(x[i0:i1], sampling_rate=fs, window_s=n / fs, stride_s=stride_s,
                                 max_missing=max_missing, max_windows=max_windows)
            except SignalError:  # every window of this span mostly missing
                continue
            parts.append(w.data)
            part_starts.append(w.starts + i0 / fs)
            part_idx.append(np.full(len(w), j))
            n_cand, n_drop, stride = n_cand + w.n_candidates, n_drop + w.n_dropped, w.stride_s
        if not parts:
            raise SignalError(f"no span of the recording holds one usable window of {win:g} s")
        data, starts_s, span_index = np.concatenate(parts), np.concatenate(part_starts), np.concatenate(part_idx)
    elif placement == "sliding":
        w = make_windows(x, sampling_rate=fs, window_s=win, stride_s=stride_s, max_missing=max_missing,
                         max_windows=max_windows)
        data, starts_s, stride, n_cand, n_drop = w.data, w.starts, w.stride_s, w.n_candidates, w.n_dropped
    else:
        n = int(round(win * fs))
        if n < 8:
            raise SignalError(f"a window of {win:g} s at {fs:g} Hz has only {n} samples; use a longer window")
        if x.size < n:
            raise SignalError(
                f"the recording is {x.size / fs:.3g} s long ({x.size} samples at {fs:g} Hz), shorter than its window "
                f"of {win:g} s; windows are never padded: use a window of at most {x.size / fs:.3g} s or leave it out")
        s = (x.size - n) // 2
        miss = float(np.isnan(x[s : s + n]).mean())
        if miss > max_missing:
            raise SignalError(f"the centre window is {miss:.0%} missing (NaN), more than {max_missing:.0%}; "
                              "check the recording's gaps")
        data, starts_s, stride, n_cand, n_drop = _cut(x, np.array([s]), n), np.array([s / fs]), win, 1, 0
    n = data.shape[1]
    idx = np.round(np.asarray(starts_s) * fs).astype(np.int64)
    # component lines from the unconditioned recording, over the whole recording
    out_lines: dict[str, np.ndarray] = {}
    if lines:
        ls = {"highpass_hz": m.highpass_hz, "lowpass_hz": m.lowpass_hz, "filter_order": m.filter_order,
              "tonic_phasic_hz": m.tonic_phasic_hz or 0.05, **{k: v for k, v in dict(line_settings or {}).items() if v is not None}}
        order = int(ls["filter_order"])
        tonic = phasic = None
        for name in lines:
            if name == "raw":
                y = _stage(filled_x, fs0, fs, None, None, order, False)
            elif name == "filtered":
                y = _stage(filled_x, fs0, fs, ls["highpass_hz"], ls["lowpass_hz"], order, True)
            elif name == "lowpassed":
                y = _stage(filled_x, fs0, fs, None, ls["lowpass_hz"], order, True)
            else:
                if tonic is None:
                    tonic, phasic = eda_components(filled_x, sampling_rate=fs0,
                                                   cutoff_hz=float(ls["tonic_phasic_hz"]), order=order)
                y = _stage(tonic if name == "tonic" else phasic, fs0, fs, None, None, order, False)
            out_lines[name] = _cut(y, idx, n)
    q = None
    if quality:
        q = window_quality(raw, fs0, m, starts_s=np.asarray(starts_s), window_s=n / fs, cleaned=x, cleaned_rate=fs, sqi=sqi)
    settings = {
        "conditioning": dict(CONDITIONING),
        "gaps": {**GAP_POLICY, "interpolate_up_to_s": float(max_gap_s), "max_missing": float(max_missing),
                 "samples_interpolated": int(filled), "samples_missing": int(np.isnan(filled_x).sum())},
        "modality": m.name,
        "original_sampling_rate": fs0,
        "resample": resample if isinstance(resample, str) or resample is None else float(resample),
        "model_rate_hz": float(m.model_rate_hz),
        "sampling_rate": fs,
        "preprocessing": ({**describe_preprocessing(m, fs0, normalize_method), "at_rate": fs0} if preprocess else None),
        "window_s": n / fs,
        "stride_s": float(stride),
        "placement": "spans" if spans is not None else ("centre" if placement == "center" else placement),
        "lines": list(out_lines),
    }
    return Conditioned(np.asarray(data, np.float64), np.asarray(starts_s, np.float64), fs, n / fs, float(stride),
                       int(n_cand), int(n_drop), out_lines, q, fs0, settings, span_index)
