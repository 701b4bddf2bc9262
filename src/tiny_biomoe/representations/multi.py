"""``multi``: several derived signals of one window as coloured lines in one image (our kind 6).

Derived signals per modality (``ModalityDefaults.multi_components``): EDA raw, tonic and
phasic (0.05 Hz high-pass split); RESP raw and low-passed; SpO2 raw only; the others raw and
band-passed with the modality's filter. Each line is min-max scaled on its own; all share the
time axis.

The lines come from the *unconditioned* recording, computed over the whole recording (so BVP's
raw and band-passed lines differ, and EDA's tonic level is the recording's slow component, not a
0.05 Hz split inside a 10 s window): :func:`tiny_biomoe.signals.conditioning.condition` cuts them
(``lines=``, names and filter settings from :func:`multi_lines_request`) and
:func:`~tiny_biomoe.representations.render` takes them as ``lines=``; every caller of the package
(``embed``, ``render``, the pain pipeline, ``predict``) does this. Given only windows, the lines
are derived from each window with scipy on the CPU (an approximation: a filtered window's "raw"
line is already filtered).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..signals.modalities import ModalityDefaults, get_modality
from ..signals.processing import eda_components, zero_phase_filter
from ._raster import check_line_params, draw_polylines, scale_windows
from .kind import Kind

__all__ = ["MultiParams", "multi_components", "multi_lines_request", "MULTI", "MULTI_COLORS"]

#: Line colours in drawing order (matplotlib's tab10 blue, orange, green, red).
MULTI_COLORS = ((0.122, 0.467, 0.706), (1.0, 0.498, 0.055), (0.173, 0.627, 0.173), (0.839, 0.153, 0.157))


@dataclass(frozen=True)
class MultiParams:
    """Parameters of ``multi``.

    Attributes:
        components: names of the derived signals (default: the modality's).
        highpass_hz, lowpass_hz: filter edges for ``filtered``/``lowpassed`` (default: the modality's).
        tonic_phasic_hz: EDA split frequency (default: the modality's, 0.05 Hz).
        filter_order: Butterworth order.
        line_width, margin, size: drawing, as ``waveform``.
    """

    components: tuple[str, ...] | None = None
    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    tonic_phasic_hz: float | None = None
    filter_order: int = 4
    line_width: float = 1.5
    margin: int = 4
    size: int = 224

    def __post_init__(self) -> None:
        check_line_params(self)


_KNOWN = ("raw", "filtered", "lowpassed", "tonic", "phasic")


def _resolve(p: MultiParams, fs: float, n: int, m: ModalityDefaults | None) -> MultiParams:
    if m is None and p.components is None:
        raise InputError("the 'multi' kind needs a modality (e.g. modality='eda') or explicit components")
    comps = tuple(p.components) if p.components is not None else m.multi_components
    bad = [c for c in comps if c not in _KNOWN]
    if bad or not comps or len(comps) > len(MULTI_COLORS):
        raise InputError(f"multi components must be 1-{len(MULTI_COLORS)} of {_KNOWN}, got {comps}")
    hp = p.highpass_hz if p.highpass_hz is not None else (m.highpass_hz if m else None)
    lp = p.lowpass_hz if p.lowpass_hz is not None else (m.lowpass_hz if m else None)
    tp = p.tonic_phasic_hz if p.tonic_phasic_hz is not None else ((m.tonic_phasic_hz if m else None) or 0.05)
    return dataclasses.replace(p, components=comps, highpass_hz=hp, lowpass_hz=lp, tonic_phasic_hz=tp)


def multi_lines_request(
    kinds: "Sequence[Any]", kind_params: "Mapping[str, Mapping[str, Any]] | None", modality: "str | ModalityDefaults | None"
) -> tuple[tuple[str, ...], dict[str, Any]]:
    """``(line names, line settings)`` to ask :func:`~tiny_biomoe.signals.conditioning.condition` for,
    so that ``multi`` (if among ``kinds``) draws lines from the whole recording; ``((), {})`` otherwise."""
    names = [k if isinstance(k, str) else getattr(k, "name", None) for k in kinds]
    if "multi" not in names or modality is None:
        return (), {}
    kp = dict((kind_params or {}).get("multi", {}))
    p = _resolve(MultiParams(**{k: v for k, v in kp.items() if k in {f.name for f in dataclasses.fields(MultiParams)}}),
                 1.0, 8, get_modality(modality))
    return tuple(p.components), {"highpass_hz": p.highpass_hz, "lowpass_hz": p.lowpass_hz,
                                 "tonic_phasic_hz": p.tonic_phasic_hz, "filter_order": p.filter_order}


def multi_components(
    windows: np.ndarray, sampling_rate: float, p: MultiParams, lines: "Mapping[str, np.ndarray] | None" = None
) -> np.ndarray:
    """The derived signals ``(N, K, L)`` (unscaled) for resolved parameters ``p``; a component found
    in ``lines`` (cut from the whole recording) is taken from there, the others from each window."""
    x = np.asarray(windows, dtype=np.float64)
    out = np.empty((x.shape[0], len(p.components), x.shape[1]))
    lines = dict(lines or {})
    for k, c in enumerate(p.components):
        if c in lines:
            out[:, k] = np.asarray(lines[c], dtype=np.float64)
    for i, w in enumerate(x):
        tonic = phasic = None
        for k, c in enumerate(p.components):
            if c in lines:
                continue
            if c == "raw":
                out[i, k] = w
            elif c == "filtered":
                out[i, k] = zero_phase_filter(w, sampling_rate=sampling_rate, highpass_hz=p.highpass_hz,
                                              lowpass_hz=p.lowpass_hz, order=p.filter_order)
            elif c == "lowpassed":
                out[i, k] = zero_phase_filter(w, sampling_rate=sampling_rate, highpass_hz=None,
                                              lowpass_hz=p.lowpass_hz, order=p.filter_order)
            else:
                if tonic is None:
                    tonic, phasic = eda_components(w, sampling_rate=sampling_rate, cutoff_hz=p.tonic_phasic_hz,
                                                   order=p.filter_order)
                out[i, k] = tonic if c == "tonic" else phasic
    return out


def _render(x: torch.Tensor, fs: float, p: MultiParams, lines: "Mapping[str, torch.Tensor] | None" = None) -> torch.Tensor:
    ln = {c: v.detach().cpu().double().numpy() for c, v in (lines or {}).items()}
    comps = torch.from_numpy(multi_components(x.detach().cpu().double().numpy(), fs, p, ln)).to(x.device, x.dtype)
    N, K, L = comps.shape
    v = scale_windows(comps.reshape(N * K, L)).reshape(N, K, L)
    colors = torch.tensor(MULTI_COLORS[:K])
    return draw_polylines(v, colors, size=p.size, margin=p.margin, line_width=p.line_width)


MULTI = Kind(
    name="multi",
    version="multi/3",  # 2: filters pad the window edges by mirroring; 3: issue 11 (model rate, whole-recording lines)
    params_type=MultiParams,
    render_fn=_render,
    resolve_fn=_resolve,
    description="derived signals of the window (e.g. EDA raw/tonic/phasic) as coloured lines",
    output_in_range=True,  # draw_polylines: 1 - a, or clamped composites
    lines_fn=lambda x, lines, fs, p: _render(x, fs, p, lines),
)
