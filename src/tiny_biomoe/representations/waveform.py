"""``waveform``: the window as a black antialiased line on white (spec kind 1)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..signals.modalities import ModalityDefaults
from ._raster import check_line_params, draw_polylines, scale_windows  # noqa: F401  (scale_windows: old import path)
from .kind import Kind

__all__ = ["WaveformParams", "WAVEFORM"]


@dataclass(frozen=True)
class WaveformParams:
    """Parameters of ``waveform``.

    Attributes:
        line_width: line width in pixels.
        margin: blank border in pixels on every side.
        value_range: fixed physical ``(low, high)`` mapped to bottom/top (values outside are
            clipped); ``None``: per-window min-max. Default: the modality's (SpO2: 80-100).
        use_modality_range: take ``value_range`` from the modality when it is ``None``.
        size: image side in pixels.
    """

    line_width: float = 1.5
    margin: int = 4
    value_range: tuple[float, float] | None = None
    use_modality_range: bool = True
    size: int = 224

    def __post_init__(self) -> None:
        check_line_params(self)
        if self.value_range is not None:
            lo, hi = self.value_range
            if not hi > lo:
                raise InputError(f"value_range must be (low, high) with high > low, got {self.value_range}")
            object.__setattr__(self, "value_range", (float(lo), float(hi)))


def _resolve(p: WaveformParams, fs: float, n: int, m: ModalityDefaults | None) -> WaveformParams:
    if p.value_range is None and p.use_modality_range and m is not None and m.value_range is not None:
        return dataclasses.replace(p, value_range=m.value_range)
    return p


def _render(x: torch.Tensor, fs: float, p: WaveformParams) -> torch.Tensor:
    v = scale_windows(x, p.value_range).unsqueeze(1)
    black = torch.zeros(1, 3)
    return draw_polylines(v, black, size=p.size, margin=p.margin, line_width=p.line_width)


WAVEFORM = Kind(
    name="waveform",
    version="waveform/2",  # 2: issue 11 defaults (windows at the modality's model rate); same pixels for a given window
    params_type=WaveformParams,
    render_fn=_render,
    resolve_fn=_resolve,
    description="black line of the window on white, min-max envelope per column",
    output_in_range=True,  # draw_polylines: 1 - a, or clamped composites
)
