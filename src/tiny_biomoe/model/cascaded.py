"""Expert 2: a convolutional network with cascaded group attention in local 7x7 windows.

Widths 192, 288, 96; every convolution is a bias-free ``Conv2d`` followed by batch norm
(``ConvBN``, keys ``c`` and ``bn``). Attention heads see disjoint channel groups, and each head
adds the previous head's output to its input ("cascade"). Module attribute names follow the
official checkpoint keys. See ``spec/MODEL.md``.

Unlike the original network, the gathered attention-bias table is never cached: it is indexed
from ``attention_biases`` on every forward, so loading or changing weights can never leave a stale
table behind (the cost is one small gather per head).
"""

from __future__ import annotations

import itertools
from typing import Callable

import torch
from torch import nn

__all__ = ["CascadedExpert", "attention_bias_index", "windowed"]

_WINDOW = 7
_KEY_DIM = 16


class ConvBN(nn.Sequential):
    """Bias-free convolution followed by batch norm."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, pad: int = 0, groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))


class Residual(nn.Module):
    """``x + m(x)``."""

    def __init__(self, m: nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.m(x)


class FFN(nn.Module):
    """Pointwise ConvBN -> ReLU -> pointwise ConvBN."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.pw1 = ConvBN(dim, hidden)
        self.act = nn.ReLU()
        self.pw2 = ConvBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw2(self.act(self.pw1(x)))


def attention_bias_index(side: int) -> tuple[torch.Tensor, int]:
    """Index ``(n, n)`` of the offset ``(|dy|, |dx|)`` between points of a ``side x side`` grid.

    Points are in row-major order; offsets are numbered in order of first appearance.
    Returns the index and the number of distinct offsets.
    """
    points = list(itertools.product(range(side), range(side)))
    offsets: dict[tuple[int, int], int] = {}
    idxs = []
    for p1 in points:
        for p2 in points:
            off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
            idxs.append(offsets.setdefault(off, len(offsets)))
    n = len(points)
    return torch.tensor(idxs, dtype=torch.int64).view(n, n), len(offsets)


class CascadedGroupAttention(nn.Module):
    """Cascaded group attention on a ``side x side`` map (one window)."""

    def __init__(self, dim: int, num_heads: int, value_dim: int, side: int, kernels: tuple[int, ...]) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = _KEY_DIM
        self.value_dim = value_dim
        self.scale = _KEY_DIM**-0.5
        chunk = dim // num_heads
        self.qkvs = nn.ModuleList([ConvBN(chunk, 2 * _KEY_DIM + value_dim) for _ in range(num_heads)])
        self.dws = nn.ModuleList(
            [ConvBN(_KEY_DIM, _KEY_DIM, k, 1, k // 2, groups=_KEY_DIM) for k in kernels[:num_heads]]
        )
        self.proj = nn.Sequential(nn.ReLU(), ConvBN(value_dim * num_heads, dim))
        idx, n_offsets = attention_bias_index(side)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, n_offsets))
        self.register_buffer("attention_bias_idxs", idx, persistent=True)
        #: When True the attention biases are treated as zero (reproduces the published snippet's bug).
        self.zero_biases = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        chunks = x.chunk(self.num_heads, dim=1)
        outs = []
        feat = chunks[0]
        for i, (qkv, dw) in enumerate(zip(self.qkvs, self.dws)):
            if i > 0:
                feat = feat + chunks[i]
            feat = qkv(feat)
            q, k, v = feat.split([self.key_dim, self.key_dim, self.value_dim], dim=1)
            q = dw(q)
            q, k, v = q.flatten(2), k.flatten(2), v.flatten(2)
            scores = (q.transpose(-2, -1) @ k) * self.scale
            if not self.zero_biases:
                scores = scores + self.attention_biases[i][self.attention_bias_idxs]
            attn = scores.softmax(dim=-1)
            feat = (v @ attn.transpose(-2, -1)).view(b, self.value_dim, h, w)
            outs.append(feat)
        return self.proj(torch.cat(outs, dim=1))


def windowed(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], window: int = _WINDOW) -> torch.Tensor:
    """Apply ``fn`` to ``window x window`` tiles of the map ``x`` (B, C, H, W).

    A map no larger than one window is passed whole; otherwise it is padded bottom/right to a
    multiple of ``window``, split into tiles that ``fn`` sees as one batch, stitched and cropped.
    """
    b, c, h, w = x.shape
    if h <= window and w <= window:
        return fn(x)
    wr = window
    pad_b, pad_r = (wr - h % wr) % wr, (wr - w % wr) % wr
    x = x.permute(0, 2, 3, 1)
    if pad_b or pad_r:
        x = nn.functional.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    ph, pw = h + pad_b, w + pad_r
    nh, nw = ph // wr, pw // wr
    x = x.reshape(b, nh, wr, nw, wr, c).transpose(2, 3).reshape(b * nh * nw, wr, wr, c).permute(0, 3, 1, 2)
    x = fn(x)
    x = x.permute(0, 2, 3, 1).reshape(b, nh, nw, wr, wr, c).transpose(2, 3).reshape(b, ph, pw, c)
    if pad_b or pad_r:
        x = x[:, :h, :w]
    return x.permute(0, 3, 1, 2)


class LocalWindowAttention(nn.Module):
    """Runs :class:`CascadedGroupAttention` in 7x7 windows (pad bottom/right, split, stitch, crop)."""

    def __init__(self, dim: int, num_heads: int, value_dim: int, resolution: int, kernels: tuple[int, ...]) -> None:
        super().__init__()
        self.resolution = resolution
        side = min(_WINDOW, resolution)
        self.attn = CascadedGroupAttention(dim, num_heads, value_dim, side, kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return windowed(x, self.attn, _WINDOW)


class AttentionBlock(nn.Module):
    """dw0 -> ffn0 -> windowed cascaded attention -> dw1 -> ffn1, each residual."""

    def __init__(self, dim: int, num_heads: int, resolution: int, kernels: tuple[int, ...]) -> None:
        super().__init__()
        value_dim = int(dim / (_KEY_DIM * num_heads) * _KEY_DIM)
        self.dw0 = Residual(ConvBN(dim, dim, 3, 1, 1, groups=dim))
        self.ffn0 = Residual(FFN(dim, 2 * dim))
        self.mixer = Residual(LocalWindowAttention(dim, num_heads, value_dim, resolution, kernels))
        self.dw1 = Residual(ConvBN(dim, dim, 3, 1, 1, groups=dim))
        self.ffn1 = Residual(FFN(dim, 2 * dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn1(self.dw1(self.mixer(self.ffn0(self.dw0(x)))))


class SqueezeExcite(nn.Module):
    """Channel gate: mean -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid, times the input."""

    def __init__(self, dim: int, reduced: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, reduced, 1)
        self.act = nn.ReLU()
        self.fc2 = nn.Conv2d(reduced, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * self.fc2(self.act(self.fc1(s))).sigmoid()


class PatchMerging(nn.Module):
    """Stride-2 downsampling: expand 4x, depthwise stride-2 conv, squeeze-excite, project."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        hidden = 4 * dim
        self.conv1 = ConvBN(dim, hidden)
        self.act = nn.ReLU()
        self.conv2 = ConvBN(hidden, hidden, 3, 2, 1, groups=hidden)
        self.se = SqueezeExcite(hidden, hidden // 4)
        self.conv3 = ConvBN(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv2(self.act(self.conv1(x))))
        return self.conv3(self.se(x))


def _dw_ffn(dim: int) -> nn.Sequential:
    return nn.Sequential(Residual(ConvBN(dim, dim, 3, 1, 1, groups=dim)), Residual(FFN(dim, 2 * dim)))


class CascadedExpert(nn.Module):
    """Expert 2 of Tiny-BioMoE: ``(B, 3, 224, 224)`` -> ``(B, 96)``."""

    def __init__(
        self,
        img_size: int = 224,
        widths: tuple[int, int, int] = (192, 288, 96),
        heads: tuple[int, int, int] = (3, 3, 4),
        kernels: tuple[int, ...] = (7, 5, 3, 3),
    ) -> None:
        super().__init__()
        self.num_features = widths[-1]
        self.patch_embed = nn.Sequential(
            ConvBN(3, widths[0] // 8, 3, 2, 1),
            nn.ReLU(),
            ConvBN(widths[0] // 8, widths[0] // 4, 3, 2, 1),
            nn.ReLU(),
            ConvBN(widths[0] // 4, widths[0] // 2, 3, 2, 1),
            nn.ReLU(),
            ConvBN(widths[0] // 2, widths[0], 3, 2, 1),
        )
        res = img_size // 16
        self.blocks1 = nn.Sequential(AttentionBlock(widths[0], heads[0], res, kernels))
        stages = []
        for i in (1, 2):
            res = (res - 1) // 2 + 1
            stages.append(
                nn.Sequential(
                    _dw_ffn(widths[i - 1]),
                    PatchMerging(widths[i - 1], widths[i]),
                    _dw_ffn(widths[i]),
                    AttentionBlock(widths[i], heads[i], res, kernels),
                )
            )
        self.blocks2, self.blocks3 = stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks3(self.blocks2(self.blocks1(self.patch_embed(x))))
        return x.mean(dim=(2, 3))
