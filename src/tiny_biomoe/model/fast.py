"""An inference form of Tiny-BioMoE: same numbers, less work per image.

:func:`optimize_for_inference` turns an eval-mode :class:`~tiny_biomoe.model.TinyBioMoE` into a
*new* module (the given model is never changed) that computes the same embeddings with:

- every batch norm folded into the convolution before it (``torch.nn.utils.fusion``);
- expert 2's attention biases gathered once into ``(heads, n, n)`` float32 buffers, added to the
  scores inside the score product (``torch.baddbmm``);
- channels-last activations, which make expert 1's token <-> map round trips free views instead of
  copies (the original transposes the ``(B, N, C)`` tokens into a contiguous ``(B, C, H, W)`` map
  and back around every depthwise convolution);
- large batches run in micro-batches (default 2 images) so that the stage-1 activations of expert 1
  (``B x 3136 x 512`` floats for the MLP) stay closer to the caches;
- on the CPU, each convolution or linear layer and the ReLU / GELU after it as one oneDNN kernel
  (:class:`FusedConv2d`, :class:`FusedLinear`: the fusions ``torch.compile`` would make, without
  compiling; exported and compiled graphs get the standard operators), and expert 1's MLP residual
  added inside the last linear layer's kernel;
- optionally ``torch.compile``, and bf16 weights (CPUs with AVX-512 BF16 / AMX, or CUDA).

The spectral gating of expert 1 is computed by an equivalent real-valued DFT written as matrix
products (``spectral="dft"``, the default), which exports to ONNX without complex tensors, runs in
bf16 in the bf16 form and is a little faster and more accurate than FFTs in float32; or by FFT
(``spectral="fft"``, as the original).

The fast form is a **snapshot**: weights are copied (and folded) at conversion time. Changing the
original model's weights afterwards does not affect it; convert again to pick them up.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import InputError
from .cascaded import FFN, CascadedGroupAttention, ConvBN, LocalWindowAttention, PatchMerging, windowed
from .moe import MoEOutput, TinyBioMoE, check_images, mix_experts
from .spectral import SelfAttention, SpectralExpert

__all__ = ["FastTinyBioMoE", "optimize_for_inference", "DFTSpectralGating", "ShiftedImageLayerNorm", "bf16_supported",
           "FusedConv2d", "FusedLinear"]


# ----------------------------------------------------------------------------- helpers
def bf16_supported(device: torch.device | str = "cpu") -> bool:
    """Whether bf16 matrix kernels are fast here (CUDA with bf16, or a CPU with AVX-512 BF16 / AMX)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if dev.type != "cpu":
        return False
    mkldnn = getattr(torch.ops, "mkldnn", None)
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) if mkldnn is not None else False
    except (AttributeError, RuntimeError):  # pragma: no cover - older builds
        return False


def _fuse(cbn: nn.Module) -> nn.Conv2d:
    """A ConvBN (``c`` + ``bn``) or ``nn.Sequential(conv, bn)`` as one convolution with bias."""
    conv, bn = (cbn.c, cbn.bn) if hasattr(cbn, "c") else (cbn[0], cbn[1])
    return fuse_conv_bn_eval(conv.eval(), bn.eval())


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` map -> ``(B, H*W, C)`` tokens (a free view when ``x`` is channels-last)."""
    b, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, h * w, c)


def _map(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``(B, H*W, C)`` tokens -> ``(B, C, H, W)`` map with channels-last strides (a free view)."""
    b, _, c = t.shape
    return t.reshape(b, h, w, c).permute(0, 3, 1, 2)


def _onednn_fusion_available() -> bool:
    mkldnn = getattr(torch.ops, "mkldnn", None)
    try:
        return bool(torch.backends.mkldnn.is_available() and hasattr(mkldnn, "_convolution_pointwise")
                    and hasattr(mkldnn, "_linear_pointwise"))
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return False


_ONEDNN = _onednn_fusion_available()

#: bumped when the fast form's kernels change, so that cached tunings of an older form are re-measured
FORM_VERSION = 5  # 2: oneDNN conv/linear + activation fusion, bf16 weights; 3: bf16 DFT gating; 4: DFT gating in every
# form; 5: one qkv projection in expert 1's self-attention, the complex product written in place


def _tracing() -> bool:
    """Whether a graph is being captured (TorchScript, torch.compile, torch.export / ONNX export)."""
    compiler = getattr(torch, "compiler", None)
    return bool(
        torch.jit.is_tracing()
        or (compiler is not None and compiler.is_compiling())
        or (compiler is not None and getattr(compiler, "is_exporting", lambda: False)())
        or torch.onnx.is_in_onnx_export()
    )


def _use_onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (_ONEDNN and x.device.type == "cpu" and x.dtype == weight.dtype
            and x.dtype in (torch.float32, torch.bfloat16) and not _tracing())


_ACTS = {None: (None, "none", ""), "relu": (F.relu, "relu", ""), "gelu": (F.gelu, "gelu", "none")}


class FusedConv2d(nn.Module):
    """A convolution and the activation after it (ReLU or exact GELU) as one oneDNN kernel on the CPU.

    Eager PyTorch runs ``conv -> activation`` as two passes over the output; oneDNN applies the
    activation as a post-op while the output is still in cache (the same fusion ``torch.compile``
    makes, here without compiling). Falls back to ``F.conv2d`` + activation on other devices, for
    other dtypes and while a graph is captured (ONNX export, ``torch.compile``), so exported and
    compiled graphs contain only standard operators.
    """

    def __init__(self, conv: nn.Conv2d, act: str | None = None) -> None:
        super().__init__()
        if act not in _ACTS:
            raise ValueError(f"unsupported activation {act!r}")
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("FusedConv2d needs a zero-padded convolution with explicit padding")
        self.weight = nn.Parameter(conv.weight.detach().clone(), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)
        self.stride, self.padding, self.dilation = list(conv.stride), list(conv.padding), list(conv.dilation)
        self.groups = conv.groups
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn, attr, algorithm = _ACTS[self.act]
        if _use_onednn(x, self.weight):
            return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, self.padding, self.stride,
                                                            self.dilation, self.groups, attr, [], algorithm)
        y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return fn(y) if fn is not None else y

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, kernel={tuple(self.weight.shape[2:])}, " \
               f"stride={tuple(self.stride)}, groups={self.groups}, act={self.act}"


class FusedLinear(nn.Module):
    """A linear layer (optionally with exact GELU) by oneDNN on the CPU, like :class:`FusedConv2d`.

    oneDNN's matmul is also faster than the default CPU GEMM on the token shapes of expert 1
    (measured on Intel AMX: 4.7 against 6.3 ms for ``(25088, 512) x (512, 64)`` in float32).
    """

    def __init__(self, linear: nn.Linear, act: str | None = None) -> None:
        super().__init__()
        if act not in _ACTS:
            raise ValueError(f"unsupported activation {act!r}")
        self.weight = nn.Parameter(linear.weight.detach().clone(), requires_grad=False)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        self.act = act

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """``act(x W^T + b)``, or ``residual + x W^T + b`` (the add as oneDNN's binary post-op)."""
        fn, attr, algorithm = _ACTS[self.act]
        onednn = _use_onednn(x, self.weight) and x.is_contiguous()
        if residual is not None:
            if self.act is not None:
                raise ValueError("FusedLinear adds a residual only without an activation")
            if onednn and residual.is_contiguous() and residual.dtype == x.dtype:
                return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")
            return residual + F.linear(x, self.weight, self.bias)
        if onednn:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, attr, [], algorithm)
        y = F.linear(x, self.weight, self.bias)
        return fn(y) if fn is not None else y

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, act={self.act}"


def _fuse_relus(seq: nn.Sequential) -> nn.Sequential:
    """``Sequential(conv, ReLU, conv, ...)`` with every ``conv, ReLU`` pair as one :class:`FusedConv2d`."""
    mods = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, nn.Conv2d):
            relu = i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU)
            out.append(FusedConv2d(m, "relu" if relu else None))
            i += 2 if relu else 1
            continue
        out.append(m)
        i += 1
    return nn.Sequential(*out)


class ShiftedImageLayerNorm(nn.Module):
    """LayerNorm over a whole ``(C, H, W)`` image, written to stay accurate in exported graphs.

    onnxruntime reduces the 150,528 values of an image sequentially in float32; its
    ``LayerNormalization`` then errs by up to 4e-4 on the fixtures, and by far more on a constant
    image, whose variance is 0 so that ``1/sqrt(eps)`` = 316 amplifies any error of the mean.
    This form subtracts each image's first pixel first (the "shifted data" variance algorithm,
    exact for constant images) and averages in two levels (rows, then the rest), which keeps the
    error near 1e-6. Hand-written because no library offers an exportable, accurate variant.
    """

    def __init__(self, ln: nn.LayerNorm) -> None:
        super().__init__()
        self.eps = ln.eps
        self.row = int(ln.normalized_shape[-1])
        self.weight = nn.Parameter(ln.weight.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(ln.bias.detach().clone(), requires_grad=False)

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        return x.reshape(b, -1, self.row).mean(-1).mean(-1).reshape(b, 1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shifted = x - x[:, :1, :1, :1]
        xc = shifted - self._mean(shifted)
        var = self._mean(xc * xc)
        return xc / torch.sqrt(var + self.eps) * self.weight + self.bias


# ----------------------------------------------------------------------------- expert 1
class DFTSpectralGating(nn.Module):
    """Spectral gating as real matrix products (no complex tensors; exports to ONNX; bf16-ready).

    Computes exactly ``irfft2(rfft2(x, norm="ortho") * W, s=(H, W), norm="ortho")`` over the grid
    axes in four matrix products: a real DFT along the width (cos/sin matrix), a complex DFT along
    the height, the complex product with the filter, the inverse complex DFT along the height and
    the inverse real DFT along the width, which counts the interior bins twice and ignores the
    imaginary part of the DC and (even width) Nyquist bins, as ``irfft`` does. The height DFTs act
    on the real and imaginary parts together: the width DFT leaves them interleaved with the rows,
    ``(B, H, 2, K, C)``, which is a ``(B, 2H, K*C)`` matrix for one ``(2H, 2H)`` real matrix (no
    stacking or concatenation between the steps). The matrices are built in float64 and stored in
    float32 (bf16 in the bf16 form, where AMX runs them: the whole bf16 model at batch 32 ran at
    136 img/s with them against 123 with float32 FFTs on an Intel Xeon with 2 threads).
    Hand-written because the ONNX exporters do not handle complex multiplication, and because no
    library offers an FFT in bf16 on the CPU.
    """

    def __init__(self, complex_weight: torch.Tensor, h: int, w: int) -> None:
        super().__init__()
        k = w // 2 + 1
        if tuple(complex_weight.shape[:2]) != (h, k):
            raise ValueError(f"complex_weight of shape {tuple(complex_weight.shape)} does not fit a {h}x{w} grid")
        self.h, self.w, self.k = h, w, k
        wgt = complex_weight.detach().to(torch.float64)
        self.register_buffer("w_re", wgt[..., 0].float().clone())  # (H, K, C)
        self.register_buffer("w_im", wgt[..., 1].float().clone())
        n_w = torch.arange(w, dtype=torch.float64)
        kk = torch.arange(k, dtype=torch.float64)
        ang_w = 2 * math.pi * torch.outer(kk, n_w) / w  # (K, W)
        s_w = 1.0 / math.sqrt(w)
        # forward real DFT along W: rows [Re; Im] = [cos; -sin] @ x
        self.register_buffer("fw", (torch.cat([torch.cos(ang_w), -torch.sin(ang_w)]) * s_w).float())  # (2K, W)
        # inverse real DFT along W: x = sum_k a_k (Re cos - Im sin)
        a = torch.full((k,), 2.0, dtype=torch.float64)
        a[0] = 1.0
        if w % 2 == 0:
            a[-1] = 1.0
        inv = torch.cat([torch.cos(ang_w) * a[:, None], -torch.sin(ang_w) * a[:, None]]).T * s_w  # (W, 2K)
        if w % 2 == 0:
            inv[:, 2 * k - 1] = 0.0  # imaginary part of the Nyquist bin is ignored by irfft
        inv[:, k] = 0.0  # imaginary part of the DC bin is ignored
        self.register_buffer("iw", inv.float())
        n_h = torch.arange(h, dtype=torch.float64)
        ang_h = 2 * math.pi * torch.outer(n_h, n_h) / h
        cos, sin = torch.cos(ang_h) / math.sqrt(h), torch.sin(ang_h) / math.sqrt(h)
        # complex DFTs along H on rows ordered (row, re/im): e^{-i t} forward, e^{+i t} inverse
        self.register_buffer("fh", self._complex(cos, sin).float())  # (2H, 2H)
        self.register_buffer("ih", self._complex(cos, -sin).float())

    @staticmethod
    def _complex(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """The real (2H, 2H) matrix of ``(cos - i sin) @ (re + i im)`` with rows/columns (index, re/im)."""
        h = cos.shape[0]
        m = torch.empty(h, 2, h, 2, dtype=cos.dtype)
        m[:, 0, :, 0], m[:, 0, :, 1] = cos, sin  # re = cos re + sin im
        m[:, 1, :, 0], m[:, 1, :, 1] = -sin, cos  # im = cos im - sin re
        return m.reshape(2 * h, 2 * h)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        dtype = x.dtype
        k = self.k
        grid = x.reshape(b, h, w, c).to(self.fw.dtype)
        y = torch.matmul(self.fw, grid).reshape(b, 2 * h, k * c)  # along W: (B, H, [re, im], K, C)
        z = torch.matmul(self.fh, y).reshape(b, h, 2, k, c)  # along H
        p = torch.empty_like(z)  # the complex product, written into its halves (half the time of a stack)
        zr, zi, pr, pi = z[:, :, 0], z[:, :, 1], p[:, :, 0], p[:, :, 1]
        torch.mul(zr, self.w_re, out=pr).addcmul_(zi, self.w_im, value=-1)
        torch.mul(zr, self.w_im, out=pi).addcmul_(zi, self.w_re)
        q = torch.matmul(self.ih, p.reshape(b, 2 * h, k * c)).reshape(b, h, 2 * k, c)  # inverse along H
        return torch.matmul(self.iw, q).reshape(b, n, c).to(dtype)  # inverse along W: (B, H, W, C)


class _FFTSpectralGating(nn.Module):
    """Spectral gating by FFT with the complex filter stored once as a complex buffer."""

    def __init__(self, complex_weight: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", torch.view_as_complex(complex_weight.detach().float().contiguous()).clone())

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        dtype = x.dtype
        grid = x.reshape(b, h, w, c).float()
        spec = torch.fft.rfft2(grid, dim=(1, 2), norm="ortho") * self.weight
        return torch.fft.irfft2(spec, s=(h, w), dim=(1, 2), norm="ortho").reshape(b, n, c).to(dtype)


class _FastConvMlp(nn.Module):
    """fc1 -> depthwise conv on the token map (free views in channels-last) -> GELU -> fc2."""

    def __init__(self, mlp: nn.Module, channels_last: bool, fuse: bool = False) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.fused = fuse
        if fuse:  # fc1, dwconv + GELU, fc2 by oneDNN (the GELU as the convolution's post-op)
            self.fc1, self.fc2 = FusedLinear(mlp.fc1), FusedLinear(mlp.fc2)
            self.dw: nn.Module = FusedConv2d(mlp.dwconv.dwconv, "gelu")
        else:
            self.fc1, self.fc2 = copy.deepcopy(mlp.fc1), copy.deepcopy(mlp.fc2)
            self.dw = copy.deepcopy(mlp.dwconv.dwconv)

    def forward(self, x: torch.Tensor, h: int, w: int, residual: torch.Tensor) -> torch.Tensor:
        """``residual + mlp(x)`` (fused: the add happens inside fc2's kernel, saving a pass)."""
        y = self.fc1(x)
        if self.channels_last:
            y = _tokens(self.dw(_map(y, h, w)))
        else:
            b, n, c = y.shape
            y = self.dw(y.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)
        if self.fused:
            return self.fc2(y, residual)
        return residual + self.fc2(F.gelu(y))


class _FastSelfAttention(nn.Module):
    """:class:`SelfAttention` with ``q`` and ``kv`` as one projection and the block's residual added
    inside the output projection's kernel.

    One ``(C, 3C)`` matrix product instead of two, by oneDNN when ``fuse`` (stage 3 of expert 1,
    batch 32, float32 on an AMD EPYC Zen 4: 21.5 ms against 32 ms for ``q`` and ``kv`` apart by
    ``F.linear``; the whole fp32 form about 1 % faster, bf16 unchanged).
    """

    def __init__(self, attn: SelfAttention, fuse: bool = False) -> None:
        super().__init__()
        self.num_heads, self.head_dim = attn.num_heads, attn.head_dim
        qkv = nn.Linear(attn.q.in_features, 3 * attn.q.out_features)
        with torch.no_grad():
            qkv.weight.copy_(torch.cat([attn.q.weight, attn.kv.weight]))
            qkv.bias.copy_(torch.cat([attn.q.bias, attn.kv.bias]))
        self.qkv = FusedLinear(qkv) if fuse else qkv
        self.proj = FusedLinear(attn.proj) if fuse else copy.deepcopy(attn.proj)

    def forward(self, x: torch.Tensor, h: int, w: int, residual: torch.Tensor) -> torch.Tensor:
        """``residual + attention(x)``."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        if isinstance(self.proj, FusedLinear):
            return self.proj(out, residual)
        return residual + self.proj(out)


class _FastBlock(nn.Module):
    def __init__(self, blk: nn.Module, channels_last: bool, spectral: str, fuse: bool = False) -> None:
        super().__init__()
        self.norm1, self.norm2 = copy.deepcopy(blk.norm1), copy.deepcopy(blk.norm2)
        mixer = blk.attn
        if hasattr(mixer, "complex_weight"):
            cw = mixer.complex_weight
            hh = cw.shape[0]
            ww = 2 * (cw.shape[1] - 1)  # the grids of Tiny-BioMoE are even (56, 28)
            self.attn: nn.Module = DFTSpectralGating(cw, hh, ww) if spectral == "dft" else _FFTSpectralGating(cw)
        else:
            self.attn = _FastSelfAttention(mixer, fuse)
        self.mlp = _FastConvMlp(blk.mlp, channels_last, fuse)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        if isinstance(self.attn, _FastSelfAttention):
            x = self.attn(self.norm1(x), h, w, residual=x)
        else:
            x = x + self.attn(self.norm1(x), h, w)
        return self.mlp(self.norm2(x), h, w, residual=x)


class _FastSpectralExpert(nn.Module):
    def __init__(self, enc: SpectralExpert, channels_last: bool, spectral: str, fuse: bool = False) -> None:
        super().__init__()
        self.channels_last = channels_last
        pe1 = enc.patch_embed1
        c = pe1.conv
        stem = nn.Sequential(
            fuse_conv_bn_eval(c[0], c[1]), nn.ReLU(), fuse_conv_bn_eval(c[3], c[4]), nn.ReLU(),
            fuse_conv_bn_eval(c[6], c[7]), nn.ReLU(), copy.deepcopy(pe1.proj),
        )
        if fuse:
            stem = _fuse_relus(stem)
        # projs[0] is the whole stage-1 stem (three folded conv+ReLU, then the projection)
        self.projs = nn.ModuleList([stem] + [copy.deepcopy(getattr(enc, f"patch_embed{i}").proj) for i in (2, 3, 4)])
        self.embed_norms = nn.ModuleList([copy.deepcopy(getattr(enc, f"patch_embed{i}").norm) for i in range(1, 5)])
        self.blocks = nn.ModuleList(
            [nn.ModuleList([_FastBlock(b, channels_last, spectral, fuse) for b in getattr(enc, f"block{i}")]) for i in range(1, 5)]
        )
        self.stage_norms = nn.ModuleList([copy.deepcopy(getattr(enc, f"norm{i}")) for i in (1, 2, 3)])
        self.post_network = copy.deepcopy(enc.post_network)
        self.norm4 = copy.deepcopy(enc.norm4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x
        for i in range(4):
            x = self.projs[i](x)
            h, w = x.shape[-2:]
            tokens = self.embed_norms[i](_tokens(x) if self.channels_last else x.flatten(2).transpose(1, 2))
            for blk in self.blocks[i]:
                tokens = blk(tokens, h, w)
            if i < 3:
                x = _map(self.stage_norms[i](tokens), h, w)  # a view in either layout
        for blk in self.post_network:
            tokens = blk(tokens)
        return self.norm4(tokens[:, 0])


# ----------------------------------------------------------------------------- expert 2
class _FastCascadedAttention(nn.Module):
    """Cascaded group attention with folded ConvBNs and a pre-gathered bias per head."""

    def __init__(self, attn: CascadedGroupAttention) -> None:
        super().__init__()
        self.num_heads, self.key_dim, self.value_dim = attn.num_heads, attn.key_dim, attn.value_dim
        self.scale = self.key_dim ** -0.5  # the original's
        self.qkvs = nn.ModuleList([_fuse(m) for m in attn.qkvs])
        self.dws = nn.ModuleList([_fuse(m) for m in attn.dws])
        self.proj = _fuse(attn.proj[1])
        biases = attn.attention_biases.detach()
        if attn.zero_biases:
            biases = torch.zeros_like(biases)
        # gathered once here (snapshot): (heads, n, n), used as the additive attention mask
        self.register_buffer("bias", biases[:, attn.attention_bias_idxs].float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        chunks = x.chunk(self.num_heads, dim=1)
        outs = []
        feat = chunks[0]
        for i in range(self.num_heads):
            if i > 0:
                feat = feat + chunks[i]
            feat = self.qkvs[i](feat)
            q, k, v = feat.split([self.key_dim, self.key_dim, self.value_dim], dim=1)
            q = self.dws[i](q)
            # written out rather than F.scaled_dot_product_attention: value and key widths differ
            # (24-96 against 16), so SDPA takes its math path, which checks every row for -inf and upcasts
            # bf16 anyway (expert 2 at batch 32 in bf16: ~20 % of its time in that path)
            dtype = q.dtype
            q, k, v = (t.flatten(2).float() for t in (q, k, v))  # (B, dim, n); float32 scores and softmax
            attn = torch.baddbmm(self.bias[i], q.transpose(1, 2), k, alpha=self.scale).softmax(-1)
            o = torch.bmm(attn, v.transpose(1, 2)).to(dtype)  # (B, n, dim): its transpose is a channels-last map
            feat = o.transpose(1, 2).reshape(b, self.value_dim, h, w)
            outs.append(feat)
        return self.proj(F.relu(torch.cat(outs, dim=1)))


class _FastWindowAttention(nn.Module):
    def __init__(self, lwa: nn.Module) -> None:
        super().__init__()
        self.attn = _FastCascadedAttention(lwa.attn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return windowed(x, self.attn)  # the same window size as LocalWindowAttention


def _convert_cascaded(m: nn.Module, fuse: bool = False) -> nn.Module:
    """Rebuild (in place, on a private deep copy) expert-2 modules with every ConvBN folded.

    With ``fuse``, each convolution followed by a ReLU (stem, FFN, patch merging) becomes one
    :class:`FusedConv2d` and the ReLU module an identity.
    """
    if isinstance(m, ConvBN):
        return _fuse(m)
    if isinstance(m, LocalWindowAttention):
        return _FastWindowAttention(m)
    for name, child in list(m.named_children()):
        setattr(m, name, _convert_cascaded(child, fuse))
    if fuse:
        if isinstance(m, FFN):  # pw2(act(pw1(x)))
            m.pw1, m.act = FusedConv2d(m.pw1, "relu"), nn.Identity()
        elif isinstance(m, PatchMerging):  # act(conv2(act(conv1(x)))), then se and conv3
            m.conv1, m.conv2, m.act = FusedConv2d(m.conv1, "relu"), FusedConv2d(m.conv2, "relu"), nn.Identity()
        elif isinstance(m, nn.Sequential) and any(isinstance(c, nn.ReLU) for c in m):  # the stem
            return _fuse_relus(m)
    return m


def _to_bf16(module: nn.Module) -> None:
    """Cast an expert's weights to bf16 in place, except an FFT spectral gating's filter (FFTs run in
    float32; the DFT form's matrices become bf16 too) and expert 2's attention biases.

    Storing the weights in bf16 (rather than autocasting) saves the per-call weight casts and the
    float32 <-> bf16 copies around every layer norm: on Intel AMX 84 against 70 images/s at batch 32.
    """
    for m in module.modules():
        for name, p in m.named_parameters(recurse=False):
            if p.is_floating_point():
                setattr(m, name, nn.Parameter(p.detach().to(torch.bfloat16), requires_grad=False))
        if isinstance(m, (_FFTSpectralGating, _FastCascadedAttention)):  # FFT filter; attention biases
            continue  # (added to float32 scores)
        for name, b in m.named_buffers(recurse=False):
            if b.is_floating_point():
                setattr(m, name, b.to(torch.bfloat16))


# ----------------------------------------------------------------------------- the whole network
class FastTinyBioMoE(nn.Module):
    """Inference-only Tiny-BioMoE built from a converted model (a weight snapshot; see module doc).

    Same call API as :class:`TinyBioMoE`: ``model(images) -> (B, 192)``, :meth:`forward_experts`,
    :meth:`forward_all`. Build it with :func:`optimize_for_inference`.

    Args:
        model: the :class:`TinyBioMoE` to convert; a deep copy is converted, ``model`` itself is never changed.
        channels_last: keep activations channels-last (makes token/map round trips free).
        spectral: ``"dft"`` (real matrix products, the default) or ``"fft"`` (as the original); else an
            :class:`InputError`.
        micro_batch: split larger batches into chunks of this many images (>= 1; ``None``: never).
        bf16: store the experts' weights in bf16 and run them in bf16 (not checked against
            :func:`bf16_supported` here, unlike :func:`optimize_for_inference`).
        export_norm: compute the image LayerNorm as :class:`ShiftedImageLayerNorm`, which stays accurate in
            onnxruntime (used by ONNX export).
        fuse: run convolution/linear + activation pairs as one oneDNN kernel on the CPU.
    """

    embed_dim = TinyBioMoE.embed_dim
    img_size = TinyBioMoE.img_size

    def __init__(
        self,
        model: TinyBioMoE,
        *,
        channels_last: bool = True,
        spectral: str = "dft",
        micro_batch: int | None = 2,
        bf16: bool = False,
        export_norm: bool = False,
        fuse: bool = True,
    ) -> None:
        super().__init__()
        if spectral not in ("fft", "dft"):
            raise InputError(f"spectral must be 'fft' or 'dft', got {spectral!r}")
        if micro_batch is not None and micro_batch < 1:
            raise InputError(f"micro_batch must be a positive integer or None, got {micro_batch}")
        self.channels_last = channels_last
        self.spectral = spectral
        self.micro_batch = micro_batch
        self.bf16 = bf16
        self.fuse = fuse
        #: dtype of the experts' weights and activations (bf16 weights when ``bf16``)
        self.compute_dtype = torch.bfloat16 if bf16 else torch.float32
        #: autocast dtype, ``None`` by default (the runtime sets float16 for CUDA fp16)
        self.amp_dtype: torch.dtype | None = None
        self.check_inputs = bool(getattr(model, "check_inputs", True))
        model = copy.deepcopy(model).eval()  # private copy: the caller's model is never touched
        self.pretrained_cfg: dict[str, Any] = dict(getattr(model, "pretrained_cfg", {}) or {})
        # export_norm: the image LayerNorm in a form that onnxruntime computes accurately
        self.ln_img = ShiftedImageLayerNorm(model.ln_img) if export_norm else copy.deepcopy(model.ln_img)
        self.enc1 = _FastSpectralExpert(model.enc1, channels_last, spectral, fuse)
        self.enc2 = _convert_cascaded(model.enc2, fuse)
        self.ln_e = copy.deepcopy(model.ln_e)
        self.fcn = copy.deepcopy(model.fcn)
        self.ln_out = copy.deepcopy(model.ln_out)
        for p in self.parameters():
            p.requires_grad_(False)
        if bf16:
            _to_bf16(self.enc1)
            _to_bf16(self.enc2)
        self.eval()

    def train(self, mode: bool = True) -> "FastTinyBioMoE":
        """The fast form is for inference only; ``train(True)`` is refused."""
        if mode:
            raise InputError("FastTinyBioMoE is an inference-only snapshot; fine-tune the TinyBioMoE model instead")
        return super().train(False)

    def _experts(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.ln_img(images)  # in float32: one norm over 150,528 values per image
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        if self.amp_dtype is None:  # layout first, then dtype: 1.9 ms at batch 32, against 6.4 ms in one .to()
            x = x.to(self.compute_dtype)
        return self.enc1(x), self.enc2(x)

    def forward_experts(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two experts' raw ``(B, 96)`` outputs (float32)."""
        if self.check_inputs:
            check_images(images)  # same validation as the model
        mb = self.micro_batch
        parts = [images] if mb is None or images.shape[0] <= mb else list(images.split(mb))
        outs = []
        for part in parts:
            if self.amp_dtype is not None:
                with torch.autocast(device_type=part.device.type, dtype=self.amp_dtype):
                    z1, z2 = self._experts(part)
            else:
                z1, z2 = self._experts(part)
            outs.append((z1.float(), z2.float()))  # the gate and mixing run in float32
        if len(outs) == 1:
            return outs[0]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    def forward_all(self, images: torch.Tensor) -> MoEOutput:
        """Embedding plus expert outputs and gate values."""
        return mix_experts(self, *self.forward_experts(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` images in ``[0, 1]`` -> ``(B, 192)`` embeddings."""
        return self.forward_all(images).embedding


def optimize_for_inference(
    model: TinyBioMoE,
    *,
    channels_last: bool = True,
    compile: bool = False,
    bf16: bool = False,
    spectral: str = "dft",
    micro_batch: int | None = 2,
    fuse: bool = True,
) -> nn.Module:
    """Return a new, faster inference module computing the same embeddings as ``model``.

    The result is a **snapshot** of the current weights: change ``model`` afterwards and the fast
    form keeps the old numbers; call this function again to pick up new weights. ``model`` itself
    is not modified (its mode, weights and devices stay as they are).

    Args:
        model: a :class:`TinyBioMoE` (any mode; its batch-norm statistics are used as in ``eval()``).
        channels_last: keep activations channels-last (makes token/map round trips free).
        compile: wrap the experts in ``torch.compile`` (first calls are slow while it compiles).
        bf16: store the experts' weights in bf16 and run them in bf16 (the image norm and the
            mixing head stay float32; so does the spectral gating with ``spectral="fft"``). Only
            where :func:`bf16_supported`; otherwise an :class:`InputError`. The error against
            float32 is larger (about 1e-2); measure it.
        spectral: ``"dft"`` (real matrix products, the default: ONNX-exportable, compilable --
            inductor does not generate code for complex tensors --, run in bf16 on AMX in the bf16
            form: 136 against 123 img/s at batch 32 on an Intel Xeon; in float32 2-3 % faster at
            batch 32 than FFTs and closer to the fixtures) or ``"fft"`` (as the original).
        micro_batch: split larger batches into chunks of this many images (``None``: never).
        fuse: run convolution/linear + activation pairs as one oneDNN kernel on the CPU.
    """
    if not isinstance(model, (TinyBioMoE, FastTinyBioMoE)) and not hasattr(model, "enc1"):
        raise InputError(f"expected a TinyBioMoE model, got {type(model).__name__}")
    if isinstance(model, FastTinyBioMoE):
        raise InputError("this model is already optimized; pass the original TinyBioMoE")
    if bf16:
        dev = next(model.parameters()).device
        if not bf16_supported(dev):
            raise InputError(f"bf16 was asked for but {dev} has no fast bf16 support; use the float32 form")
    fast = FastTinyBioMoE(model, channels_last=channels_last, spectral=spectral, micro_batch=micro_batch, bf16=bf16,
                          fuse=fuse)
    if compile:
        fast._experts = torch.compile(fast._experts, dynamic=False)  # type: ignore[method-assign]
    return fast
