"""Batched drawing primitives in PyTorch: antialiased polylines and the viridis colour map.

Written by hand because no maintained library draws thousands of small polylines batched on a
GPU tensor; matplotlib/PIL draw one image at a time on the CPU. The algorithm is a column-span
rasteriser: for each pixel column, the polyline covers a vertical span [lo, hi] (the min and max
of the line over the column's width: the samples that fall in the column plus the line's
values at the column edges, so the line stays connected and a min-max envelope appears when
there are more samples than columns). A pixel's coverage is ``clamp(w/2 + 0.5 - d, 0, 1)``
where ``d`` is its distance to the span of its own column, or ``sqrt(1 + d'^2)`` to the span of
a neighbouring column, which gives steep segments the same apparent width as flat ones.
"""

from __future__ import annotations

import torch

from ._viridis import VIRIDIS_RGB

__all__ = ["polyline_spans", "span_coverage", "draw_polylines", "apply_viridis", "viridis_table"]


def viridis_table(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 256x3 viridis table (see ``_viridis.py`` for its provenance)."""
    return torch.tensor(VIRIDIS_RGB, dtype=dtype, device=device)


def apply_viridis(values: torch.Tensor) -> torch.Tensor:
    """Map values in [0, 1] of shape ``(N, H, W)`` to RGB ``(N, 3, H, W)`` as matplotlib does.

    Same lookup as ``matplotlib.colormaps['viridis'](v)``: index ``floor(v * 256)`` clipped to 0..255.
    """
    lut = viridis_table(values.device, torch.float32)
    idx = torch.clamp(torch.floor(values.float() * 256.0), 0, 255).long()
    return lut[idx].permute(0, 3, 1, 2).contiguous()


def polyline_spans(rows: torch.Tensor, x0: float, x1: float, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column vertical span ``(lo, hi)`` (each ``(B, width)``) of polylines with evenly spaced vertices.

    ``rows`` is ``(B, L)``: vertex ``i`` sits at column coordinate ``x0 + i (x1 - x0) / (L - 1)``
    and row coordinate ``rows[:, i]`` (pixel centres are integers). Columns outside ``[x0, x1]``
    get an empty span (``lo = +inf``, ``hi = -inf``).
    """
    B, L = rows.shape
    dev, dt = rows.device, rows.dtype
    if L < 2:
        rows = rows.expand(B, 2) if L == 1 else rows
        L = rows.shape[1]
    cols = torch.arange(width, device=dev, dtype=dt)
    scale = (L - 1) / (x1 - x0)

    def at(u: torch.Tensor) -> torch.Tensor:
        f = (u.clamp(x0, x1) - x0) * scale
        i0 = f.floor().clamp(0, L - 2).long()
        frac = f - i0.to(dt)
        return rows[:, i0] * (1 - frac) + rows[:, i0 + 1] * frac

    left, right = at(cols - 0.5), at(cols + 0.5)
    lo, hi = torch.minimum(left, right), torch.maximum(left, right)
    pos = x0 + torch.arange(L, device=dev, dtype=dt) / scale
    col = torch.floor(pos + 0.5).long().clamp(0, width - 1).unsqueeze(0).expand(B, L)
    lo = lo.scatter_reduce(1, col, rows, reduce="amin", include_self=True)
    hi = hi.scatter_reduce(1, col, rows, reduce="amax", include_self=True)
    outside = (cols < x0 - 0.5) | (cols > x1 + 0.5)
    inf = torch.tensor(float("inf"), device=dev, dtype=dt)
    lo = torch.where(outside, inf, lo)
    hi = torch.where(outside, -inf, hi)
    return lo, hi


def span_coverage(lo: torch.Tensor, hi: torch.Tensor, height: int, line_width: float) -> torch.Tensor:
    """Antialiased coverage ``(B, height, W)`` in [0, 1] of per-column spans drawn ``line_width`` px wide."""
    r = torch.arange(height, device=lo.device, dtype=lo.dtype).view(1, height, 1)

    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.maximum(a.unsqueeze(1) - r, r - b.unsqueeze(1)), min=0.0)

    inf = torch.full_like(lo[:, :1], float("inf"))
    # Neighbouring columns as one span (their hull): rows between the left and right spans lie
    # in this column's own span (adjacent spans share their edge value), where d = 0 anyway.
    lo_n = torch.minimum(torch.cat([inf, lo[:, :-1]], 1), torch.cat([lo[:, 1:], inf], 1))
    hi_n = torch.maximum(torch.cat([-inf, hi[:, :-1]], 1), torch.cat([hi[:, 1:], -inf], 1))
    d = torch.minimum(dist(lo, hi), torch.sqrt(1.0 + dist(lo_n, hi_n) ** 2))
    return torch.clamp(line_width / 2 + 0.5 - d, 0.0, 1.0)


def draw_polylines(
    values: torch.Tensor,
    colors: torch.Tensor,
    size: int = 224,
    margin: int = 4,
    line_width: float = 1.5,
) -> torch.Tensor:
    """Draw ``K`` lines per image on white: ``values`` ``(N, K, L)`` already scaled to [0, 1] (1 = top).

    ``colors`` is ``(K, 3)`` RGB in [0, 1]; lines are composited in order (later ones on top).
    Returns float32 ``(N, 3, size, size)`` in [0, 1]. The lines span columns ``margin .. size-1-margin``
    and rows ``size-1-margin`` (value 0) to ``margin`` (value 1).
    """
    N, K, L = values.shape
    v = values.float().clamp(0.0, 1.0)
    top, bottom = float(margin), float(size - 1 - margin)
    rows = bottom - v * (bottom - top)
    lo, hi = polyline_spans(rows.reshape(N * K, L), top, bottom, size)
    cov = span_coverage(lo, hi, size, line_width).reshape(N, K, 1, size, size)
    img = torch.ones(N, 3, size, size, device=values.device, dtype=torch.float32)
    col = colors.to(device=values.device, dtype=torch.float32).view(K, 3, 1, 1)
    for k in range(K):
        a = cov[:, k]
        img = img * (1 - a) + col[k] * a
    return img.clamp_(0.0, 1.0)
