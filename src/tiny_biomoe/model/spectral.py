"""Expert 1: a hierarchical vision transformer whose first two stages mix tokens by spectral gating.

Four stages (widths 64, 128, 320, 96) with one block each. Stages 1-2 multiply the 2-D Fourier
transform of the token map by a learned complex filter; stages 3-4 use multi-head self-attention.
A class-attention block pools the last stage's 49 tokens into 96 values. Module attribute names
follow the official checkpoint keys (``patch_embed1``, ``block1``, ``norm1``, ``post_network`` ...),
so the official state dict loads without translation. See ``spec/MODEL.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SpectralExpert"]

_BLOCK_EPS = 1e-6  # LNs of blocks, stages and the class-attention head
_EMBED_EPS = 1e-5  # LNs inside patch embeddings


class ConvStemEmbed(nn.Module):
    """Stage-1 patch embedding: three conv-BN-ReLU layers (stride 2), a stride-2 projection, LN."""

    def __init__(self, in_chans: int = 3, stem_dim: int = 32, embed_dim: int = 64) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_chans, stem_dim, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(stem_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_dim, stem_dim, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_dim, stem_dim, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(stem_dim),
            nn.ReLU(inplace=True),
        )
        self.proj = nn.Conv2d(stem_dim, embed_dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(embed_dim, eps=_EMBED_EPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(self.conv(x))
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class DownsampleEmbed(nn.Module):
    """Patch embedding of stages 2-4: stride-2 3x3 convolution, tokens, LN."""

    def __init__(self, in_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, embed_dim, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(embed_dim, eps=_EMBED_EPS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class SpectralGating(nn.Module):
    """Token mixing by a learned complex filter on the 2-D real FFT of the token map (norm='ortho')."""

    def __init__(self, dim: int, h: int, w: int) -> None:
        super().__init__()
        self.complex_weight = nn.Parameter(torch.randn(h, w // 2 + 1, dim, 2) * 0.02)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        dtype = x.dtype
        grid = x.view(b, h, w, c).float()
        spec = torch.fft.rfft2(grid, dim=(1, 2), norm="ortho")
        spec = spec * torch.view_as_complex(self.complex_weight.float())
        grid = torch.fft.irfft2(spec, s=(h, w), dim=(1, 2), norm="ortho")
        return grid.reshape(b, n, c).to(dtype)


class SelfAttention(nn.Module):
    """Multi-head self-attention over all tokens with separate ``q`` and ``kv`` projections."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv(x).reshape(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class DepthwiseConv(nn.Module):
    """3x3 depthwise convolution applied to tokens laid out as a map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, stride=1, padding=1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(b, c, h, w))
        return x.flatten(2).transpose(1, 2)


class ConvMlp(nn.Module):
    """fc1 -> depthwise 3x3 conv on the token map -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DepthwiseConv(hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x), h, w)))


class Block(nn.Module):
    """Pre-norm residual block: ``x + mixer(norm1(x))`` then ``x + mlp(norm2(x))``."""

    def __init__(self, mixer: nn.Module, dim: int, mlp_ratio: int) -> None:
        super().__init__()
        # registration order = the official state-dict order
        self.norm1 = nn.LayerNorm(dim, eps=_BLOCK_EPS)
        self.norm2 = nn.LayerNorm(dim, eps=_BLOCK_EPS)
        self.attn = mixer
        self.mlp = ConvMlp(dim, dim * mlp_ratio)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class ClassAttention(nn.Module):
    """Attention of the class token (query) over the whole sequence (keys and values)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.kv = nn.Linear(dim, 2 * dim)
        self.q = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        kv = self.kv(x).reshape(b, n, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q = self.q(x[:, :1]).reshape(b, 1, self.num_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])
        return self.proj(out.transpose(1, 2).reshape(b, 1, c))


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ClassAttentionBlock(nn.Module):
    """Pools tokens: class token = token mean; one class-attention step and an MLP on the class token."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=_BLOCK_EPS)
        self.norm2 = nn.LayerNorm(dim, eps=_BLOCK_EPS)
        self.attn = ClassAttention(dim, num_heads)
        self.mlp = Mlp(dim, dim * mlp_ratio)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        cls = tokens.mean(dim=1, keepdim=True)
        seq = torch.cat([cls, tokens], dim=1)
        cls = cls + self.attn(self.norm1(seq))
        return cls + self.mlp(self.norm2(cls))


class SpectralExpert(nn.Module):
    """Expert 1 of Tiny-BioMoE: ``(B, 3, 224, 224)`` -> ``(B, 96)``."""

    def __init__(
        self,
        img_size: int = 224,
        widths: tuple[int, int, int, int] = (64, 128, 320, 96),
        mlp_ratios: tuple[int, int, int, int] = (8, 8, 4, 4),
        heads: tuple[int, int, int, int] = (0, 0, 10, 16),
        head_mlp_ratio: int = 4,
    ) -> None:
        super().__init__()
        self.num_features = widths[-1]
        grid = img_size // 4
        prev = 3
        for i, (dim, ratio, nh) in enumerate(zip(widths, mlp_ratios, heads), start=1):
            embed = ConvStemEmbed(prev, 32, dim) if i == 1 else DownsampleEmbed(prev, dim)
            mixer = SpectralGating(dim, grid, grid) if nh == 0 else SelfAttention(dim, nh)
            setattr(self, f"patch_embed{i}", embed)
            setattr(self, f"block{i}", nn.ModuleList([Block(mixer, dim, ratio)]))
            setattr(self, f"norm{i}", nn.LayerNorm(dim, eps=_BLOCK_EPS))
            prev, grid = dim, (grid + 1) // 2
        self.post_network = nn.ModuleList([ClassAttentionBlock(widths[-1], heads[-1], head_mlp_ratio)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        for i in range(1, 5):
            tokens, h, w = getattr(self, f"patch_embed{i}")(x)
            for blk in getattr(self, f"block{i}"):
                tokens = blk(tokens, h, w)
            if i < 4:
                x = getattr(self, f"norm{i}")(tokens).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        for blk in self.post_network:
            tokens = blk(tokens)
        return self.norm4(tokens[:, 0])
