"""``waveform``: the window as a black antialiased line on white (spec kind 1)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InputError
from ..signals.modalities import ModalityDefaults
from ._raster import draw_polylines
from .base import Kind, check_image_size

__all__ = ["WaveformParams", "WAVEFORM", "scale_windows", "check_line_params"]


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


def check_line_params(p: Any) -> None:
    """Validate the drawing fields the line kinds share (``line_width``, ``margin``, ``size``)."""
    check_image_size(p.size)
    if not 0 < p.line_width <= 20:
        raise InputError(f"line_width must be in (0, 20] px, got {p.line_width}")
    if not 0 <= p.margin < p.size // 4:
        raise InputError(f"margin must be in [0, {p.size // 4}) px, got {p.margin}")


def _resolve(p: WaveformParams, fs: float, n: int, m: ModalityDefaults | None) -> WaveformParams:
    if p.value_range is None and p.use_modality_range and m is not None and m.value_range is not None:
        return dataclasses.replace(p, value_range=m.value_range)
    return p


def scale_windows(x: torch.Tensor, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Scale each row of ``(N, L)`` to [0, 1]: min-max per window, or a fixed range (clipped).

    A constant window maps to 0.5 (a flat line in the middle).
    """
    if value_range is not None:
        lo, hi = value_range
        return ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    mn, mx = torch.aminmax(x, dim=-1, keepdim=True)
    span = mx - mn
    flat = span <= 0
    out = (x - mn) / torch.where(flat, torch.ones_like(span), span)
    return torch.where(flat, torch.full_like(out, 0.5), out) if bool(flat.any()) else out


def _render(x: torch.Tensor, fs: float, p: WaveformParams) -> torch.Tensor:
    v = scale_windows(x, p.value_range).unsqueeze(1)
    black = torch.zeros(1, 3)
    return draw_polylines(v, black, size=p.size, margin=p.margin, line_width=p.line_width)


WAVEFORM = Kind(
    name="waveform",
    version="waveform/1",
    params_type=WaveformParams,
    render_fn=_render,
    resolve_fn=_resolve,
    description="black line of the window on white, min-max envelope per column",
    output_in_range=True,  # draw_polylines: 1 - a, or clamped composites
)
