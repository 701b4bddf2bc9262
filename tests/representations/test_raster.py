"""The fast span rasteriser against the per-pixel reference formula."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_biomoe.representations import draw_polylines
from tiny_biomoe.representations._raster import polyline_spans, span_coverage, span_coverage_dense


def _spans(n: int, length: int, seed: int):
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    f = rng.uniform(0.002, 0.08, size=(n, 1))
    x = np.sin(2 * np.pi * f * t) + 0.2 * rng.standard_normal((n, length))
    x[0] = 0.0  # a flat line
    x[1, length // 2] = 9.0  # a one-sample spike
    v = torch.from_numpy((x - x.min(1, keepdims=True)) / np.ptp(x, 1, keepdims=True).clip(1e-12)).float()
    return polyline_spans(219.0 - v * 215.0, 4.0, 219.0, 224)


@pytest.mark.parametrize("line_width", [0.5, 1.0, 1.5, 2.0, 3.7, 20.0])
@pytest.mark.parametrize("length", [40, 2500])
def test_fast_coverage_equals_dense_formula(length, line_width):
    lo, hi = _spans(6, length, length)
    fast = span_coverage(lo, hi, 224, line_width)
    dense = span_coverage_dense(lo, hi, 224, line_width)
    assert fast.shape == dense.shape == (6, 224, 224)
    assert torch.equal(fast, dense)


def test_black_line_and_coloured_lines_composite():
    v = torch.from_numpy(np.random.default_rng(0).uniform(size=(2, 2, 300))).float()
    colors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    img = draw_polylines(v, colors)
    lo, hi = polyline_spans((219.0 - v * 215.0).reshape(4, 300), 4.0, 219.0, 224)
    a = span_coverage_dense(lo, hi, 224, 1.5).reshape(2, 2, 1, 224, 224)
    ref = torch.ones(2, 3, 224, 224)
    for k in range(2):
        ref = ref * (1 - a[:, k]) + colors[k].view(3, 1, 1) * a[:, k]
    torch.testing.assert_close(img, ref.clamp(0, 1), rtol=0, atol=1e-6)
    black = draw_polylines(v[:, :1], torch.zeros(1, 3))
    torch.testing.assert_close(black, (1 - a[:, 0]).expand(2, 3, 224, 224), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(129, 18), (101, 7), (224, 224), (3, 40)])
def test_fast_resize_equals_interpolate(shape):
    import torch.nn.functional as F

    from tiny_biomoe.representations._raster import upsample_bilinear_hwc

    rgb = torch.rand(2, *shape, 3, generator=torch.Generator().manual_seed(0))
    ref = F.interpolate(rgb.permute(0, 3, 1, 2), size=(224, 224), mode="bilinear", align_corners=False)
    ours = upsample_bilinear_hwc(rgb, 224)
    assert ours.shape == (2, 3, 224, 224) and ours.is_contiguous()
    torch.testing.assert_close(ours, ref, rtol=0, atol=2e-5)
    flipped = upsample_bilinear_hwc(rgb, 224, flip_rows=True)
    torch.testing.assert_close(flipped, torch.flip(ref, dims=[2]), rtol=0, atol=2e-5)
