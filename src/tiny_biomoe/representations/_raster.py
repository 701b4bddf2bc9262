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

import math
from typing import Any

import torch

from ..errors import InputError
from ._viridis import VIRIDIS_RGB
from .kind import check_image_size

__all__ = [
    "check_line_params",
    "scale_windows",
    "polyline_spans",
    "span_coverage",
    "span_coverage_dense",
    "draw_polylines",
    "apply_viridis",
    "viridis_hwc",
    "viridis_table",
    "upsample_bilinear_hwc",
]


def check_line_params(p: Any) -> None:
    """Validate the drawing fields the line kinds share (``line_width``, ``margin``, ``size``)."""
    check_image_size(p.size)
    if not 0 < p.line_width <= 20:
        raise InputError(f"line_width must be in (0, 20] px, got {p.line_width}")
    if not 0 <= p.margin < p.size // 4:
        raise InputError(f"margin must be in [0, {p.size // 4}) px, got {p.margin}")


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


def viridis_table(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 256x3 viridis table (see ``_viridis.py`` for its provenance)."""
    return torch.tensor(VIRIDIS_RGB, dtype=dtype, device=device)


def viridis_hwc(values: torch.Tensor) -> torch.Tensor:
    """Map values in [0, 1] of shape ``(N, H, W)`` to RGB ``(N, H, W, 3)`` (channels last, no copy to NCHW)."""
    lut = viridis_table(values.device, torch.float32)
    # floor(v * 256) clipped to 0..255; after the clip, truncation (.long()) is the floor
    idx = torch.clamp(values.float() * 256.0, 0, 255).long()
    return lut.index_select(0, idx.reshape(-1)).view(*values.shape, 3)


def apply_viridis(values: torch.Tensor) -> torch.Tensor:
    """Map values in [0, 1] of shape ``(N, H, W)`` to RGB ``(N, 3, H, W)`` as matplotlib does.

    Same lookup as ``matplotlib.colormaps['viridis'](v)``: index ``floor(v * 256)`` clipped to 0..255.
    """
    return viridis_hwc(values).permute(0, 3, 1, 2).contiguous()


def _linear_taps(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices ``i0, i1`` and weight of ``i1`` of a linear resize, as ``align_corners=False`` defines it."""
    src = ((torch.arange(n_out, device=device, dtype=torch.float32) + 0.5) * (n_in / n_out) - 0.5).clamp_(min=0.0)
    i0 = src.floor().long().clamp_(max=n_in - 1)
    return i0, (i0 + 1).clamp_(max=n_in - 1), src - i0


def upsample_bilinear_hwc(rgb: torch.Tensor, size: int, flip_rows: bool = False) -> torch.Tensor:
    """Bilinear enlargement of channels-last ``(N, H, W, C)`` to ``(N, C, size, size)``, contiguous.

    Same result as ``F.interpolate(x.permute(0, 3, 1, 2), (size, size), mode="bilinear",
    align_corners=False)`` (up to float rounding, ~1e-5) for ``H, W <= size``, optionally with
    the rows flipped first, at about half the cost: the rows are interpolated on the small
    image (gather + lerp) and the columns with one batched matmul against the sparse
    ``(W, size)`` weight matrix, which writes each output pixel once.
    """
    N, H, W, C = rgb.shape
    if H > size or W > size:
        raise ValueError("upsample_bilinear_hwc only enlarges; use F.interpolate(antialias=True) to shrink")
    dev = rgb.device
    r0, r1, wr = _linear_taps(H, size, dev)
    if flip_rows:
        r0, r1 = H - 1 - r0, H - 1 - r1
    x = rgb.to(torch.float32).permute(0, 3, 1, 2).contiguous()  # small (N, C, H, W)
    rows = torch.lerp(x.index_select(2, r0), x.index_select(2, r1), wr.view(1, 1, -1, 1))  # (N, C, size, W)
    c0, c1, wc = _linear_taps(W, size, dev)
    mat = torch.zeros(W, size, device=dev, dtype=torch.float32)
    cols = torch.arange(size, device=dev)
    mat.index_put_((c0, cols), 1.0 - wc, accumulate=True)
    mat.index_put_((c1, cols), wc, accumulate=True)
    # (N*C*size, W) x (W, size) GEMM written straight into the output, in column blocks: each
    # block of output columns only needs the few source columns under it (the rest of the
    # matrix is zeros), so this does ~3x less arithmetic than one full GEMM with the same result.
    out = torch.empty(N, C, size, size, device=dev, dtype=torch.float32)
    o2, a2 = out.view(-1, size), rows.view(-1, W)
    nb = 4 if size >= 64 else 1
    edges = [round(i * size / nb) for i in range(nb + 1)]
    for xa, xb in zip(edges[:-1], edges[1:]):
        ka, kb = int(c0[xa]), int(c1[xb - 1]) + 1
        torch.mm(a2[:, ka:kb], mat[ka:kb, xa:xb], out=o2[:, xa:xb])
    return out


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


def _neighbour_hull(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hull ``(lo_n, hi_n)`` of the spans of each column's left and right neighbours."""
    inf = torch.full_like(lo[:, :1], float("inf"))
    # Neighbouring columns as one span (their hull): rows between the left and right spans lie
    # in this column's own span (adjacent spans share their edge value), where d = 0 anyway.
    lo_n = torch.minimum(torch.cat([inf, lo[:, :-1]], 1), torch.cat([lo[:, 1:], inf], 1))
    hi_n = torch.maximum(torch.cat([-inf, hi[:, :-1]], 1), torch.cat([hi[:, 1:], -inf], 1))
    return lo_n, hi_n


def _coverage_at(
    r: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, lo_n: torch.Tensor, hi_n: torch.Tensor, line_width: float
) -> torch.Tensor:
    """Coverage at row coordinates ``r`` (broadcast against the per-column span tensors)."""

    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.maximum(a - r, r - b), min=0.0)

    d = torch.minimum(dist(lo, hi), torch.sqrt(1.0 + dist(lo_n, hi_n) ** 2))
    return torch.clamp(line_width / 2 + 0.5 - d, 0.0, 1.0)


def span_coverage_dense(lo: torch.Tensor, hi: torch.Tensor, height: int, line_width: float) -> torch.Tensor:
    """Reference implementation of :func:`span_coverage`: the formula evaluated at every pixel.

    Simple but slow (about 15 full-image passes); kept to check the fast version against.
    """
    r = torch.arange(height, device=lo.device, dtype=lo.dtype).view(1, height, 1)
    lo_n, hi_n = _neighbour_hull(lo, hi)
    return _coverage_at(r, lo.unsqueeze(1), hi.unsqueeze(1), lo_n.unsqueeze(1), hi_n.unsqueeze(1), line_width)


#: Safety margin (px) between a plateau filled with a constant and the rows where the exact
#: coverage starts to drop below it; rows inside the margin are evaluated exactly.
_PLATEAU_MARGIN = 1e-3


def span_coverage(
    lo: torch.Tensor,
    hi: torch.Tensor,
    height: int,
    line_width: float,
    out: torch.Tensor | None = None,
    scratch: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Antialiased coverage ``(B, height, W)`` in [0, 1] of per-column spans drawn ``line_width`` px wide.

    Same values, bit for bit, as :func:`span_coverage_dense` (the formula in the module
    docstring) at a fraction of the cost. Along a column the coverage is the larger of two
    plateau profiles: the column's own span (value ``min(R, 1)``, ``R = line_width / 2 + 0.5``,
    fading out within ``R`` px) and the hull of its neighbours (value ``clamp(R - 1)``, fading
    out within ``sqrt(R^2 - 1)`` px). A plateau over the integer rows ``s..e`` is
    ``clamp(min(r - s + 1, e + 1 - r), 0, value)`` (exact: integers in float32), four cheap
    passes per profile; only the few rows per column where a profile is fractional (at most
    ``ceil(fade) + 1`` at each end) are evaluated with the exact formula and merged with
    ``scatter_reduce(amax)`` (the plateau value there is a lower bound of the truth).

    ``out`` (``(B, height, W)``, may be a strided view with contiguous rows) receives the
    result; ``scratch`` are two more such tensors used as work space (e.g. the other colour
    planes of the output image), so that no full-size temporary is allocated.
    """
    B, W = lo.shape
    dev, dt = lo.device, lo.dtype
    R = line_width / 2 + 0.5
    lo_n, hi_n = _neighbour_hull(lo, hi)
    one = torch.ones(1, device=dev, dtype=dt)
    # plateau values exactly as the formula computes them (d = 0 for the own span, 1 for the hull)
    v_own = float(torch.clamp(R - 0 * one, 0.0, 1.0))
    v_nb = float(torch.clamp(R - torch.sqrt(1.0 + (0 * one) ** 2), 0.0, 1.0))
    profiles = [(lo, hi, v_own, R, (R - 1.0 - _PLATEAU_MARGIN) if R - 1.0 > 2 * _PLATEAU_MARGIN else 0.0)]
    if v_nb > 0:
        full = (R - 1.0) ** 2 - 1.0  # hull distance up to which the neighbour term is 1
        a_nb = math.sqrt(full) - _PLATEAU_MARGIN if v_nb >= 1.0 and full > 0 else 0.0
        profiles.append((lo_n, hi_n, v_nb, math.sqrt(R * R - 1.0), max(a_nb, 0.0)))

    if out is None:
        out = torch.empty(B, height, W, device=dev, dtype=dt)
    if scratch is None:
        scratch = (torch.empty_like(out), torch.empty_like(out))
    r_col = torch.arange(height, device=dev, dtype=dt).view(1, height, 1)
    big = 4.0 * height  # finite stand-in for the +-inf of empty spans (row indices only)
    rows: list[torch.Tensor] = []
    for i, (p, q, value, reach, a) in enumerate(profiles):
        start = torch.ceil(p.clamp(-big, big) - a)
        end = torch.floor(q.clamp(-big, big) + a)
        u, v = (out, scratch[0]) if i == 0 else scratch
        torch.sub(r_col, (start - 1.0).unsqueeze(1), out=u)
        torch.sub((end + 1.0).unsqueeze(1), r_col, out=v)
        torch.minimum(u, v, out=u).clamp_(0.0, value)
        if i:
            torch.maximum(out, u, out=out)
        k = torch.arange(1, int(math.floor(reach - a)) + 2, device=dev, dtype=dt).view(-1, 1, 1)
        rows.append(torch.cat([start.unsqueeze(0) - k, end.unsqueeze(0) + k]))
    # Fractional rows: exact formula, merged with amax. One profile at a time: the tensors stay
    # small (below torch's parallel grain for typical batches, so no thread wake-ups).
    cols = torch.arange(W, device=dev)
    flat_out = out.view(B, height * W)
    for r in rows:
        r = r.clamp_(0, height - 1)  # (E, B, W); duplicates get identical values
        vals = _coverage_at(r, lo, hi, lo_n, hi_n, line_width)
        flat = (r.long() * W + cols).permute(1, 0, 2).reshape(B, -1)
        flat_out.scatter_reduce_(1, flat, vals.permute(1, 0, 2).reshape(B, -1), "amax")
    return out


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
    col = colors.to(device=values.device, dtype=torch.float32).view(K, 3, 1, 1)
    img = torch.empty(N, 3, size, size, device=values.device, dtype=torch.float32)
    if K == 1 and not bool(col.any()):
        # one black line: 1 * (1 - a) + 0 * a == 1 - a exactly. The coverage is computed in the
        # output's first plane (the other two are work space), turned into 1 - a, and copied.
        plane = img[:, 0]
        span_coverage(lo, hi, size, line_width, out=plane, scratch=(img[:, 1], img[:, 2]))
        torch.sub(1.0, plane, out=plane)
        img[:, 1:].copy_(plane.unsqueeze(1).expand(N, 2, size, size))
        return img
    cov = span_coverage(lo, hi, size, line_width).reshape(N, K, 1, size, size)
    img.fill_(1.0)
    for k in range(K):
        a = cov[:, k]
        img = img * (1 - a) + col[k] * a
    return img.clamp_(0.0, 1.0)
