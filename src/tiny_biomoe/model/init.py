"""Weight initialisation of Tiny-BioMoE as in the authors' code, drawn from an explicit seed.

Used for pretraining from scratch and for from-scratch fine-tuning (PyTorch's per-layer
defaults differ). The rules (``init="original"``):

Expert 1 (``enc1``, the spectral transformer)
    ``Linear``: weight truncated normal (std 0.02, cut at +-2), bias 0. ``LayerNorm``: weight 1,
    bias 0. ``Conv2d``: weight normal with std ``sqrt(2 / fan_out)``, ``fan_out = k_h * k_w *
    out_channels / groups``, bias 0. Spectral-gating ``complex_weight``: standard normal times 0.02.
    Batch norms of the stem: weight 1, bias 0.
Expert 2 (``enc2``, the cascaded-attention network)
    Every batch norm: weight 1, bias 0, except those that close a residual branch, whose weight
    starts at 0 (the branch starts as the identity): the second pointwise convolution of every
    FFN, the attention's output projection, and the two residual depthwise convolutions of each
    attention block (``dw0``, ``dw1``). The residual depthwise convolutions beside the patch
    mergings keep weight 1, as in the original. Convolutions keep PyTorch's rule (Kaiming-uniform,
    ``a = sqrt(5)``); ``Linear`` layers (none today) truncated normal std 0.02, bias 0;
    attention-bias tables 0.
Top level (``ln_img``, ``ln_e``, ``ln_out``, gate ``fcn``)
    LayerNorms weight 1, bias 0; the gate's ``Linear`` keeps PyTorch's rule.

Batch-norm running statistics are reset (mean 0, variance 1). ``init="pytorch"`` reproduces the
models this package made before (``torch.manual_seed(seed); TinyBioMoE()``), for old records.
Nothing global changes: values come from a ``torch.Generator`` (or, for ``"pytorch"``, under
``torch.random.fork_rng``).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from .cascaded import FFN, AttentionBlock, CascadedGroupAttention
from .moe import TinyBioMoE
from .spectral import SpectralGating
from .weights import tensors_sha256

__all__ = ["INIT_SCHEMES", "init_weights", "random_model", "zero_init_batchnorms"]

INIT_SCHEMES = ("original", "pytorch")
LINEAR_STD = 0.02
SPECTRAL_SCALE = 0.02


def _pytorch_default(m: nn.Linear | nn.Conv2d, g: torch.Generator) -> None:
    """PyTorch's own ``reset_parameters`` rule for Linear/Conv2d, drawn from ``g``."""
    nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
    if m.bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(m.bias, -bound, bound, generator=g)


def _norm(m: nn.Module) -> None:
    nn.init.ones_(m.weight)
    nn.init.zeros_(m.bias)
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        m.reset_running_stats()


def zero_init_batchnorms(enc2: nn.Module) -> list[str]:
    """Names (relative to ``enc2``) of the batch norms that close a residual branch (weight starts at 0)."""
    names = []
    for name, m in enc2.named_modules():
        if isinstance(m, FFN):
            names.append(f"{name}.pw2.bn")
        elif isinstance(m, CascadedGroupAttention):
            names.append(f"{name}.proj.1.bn")
        elif isinstance(m, AttentionBlock):
            names += [f"{name}.dw0.m.bn", f"{name}.dw1.m.bn"]
    return sorted(names)


def _init_enc1(enc1: nn.Module, g: torch.Generator) -> None:
    for m in enc1.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=LINEAR_STD, generator=g)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)):
            _norm(m)
        elif isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out), generator=g)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, SpectralGating):
            with torch.no_grad():
                m.complex_weight.copy_(torch.randn(m.complex_weight.shape, generator=g) * SPECTRAL_SCALE)


def _init_enc2(enc2: nn.Module, g: torch.Generator) -> None:
    zero = set(zero_init_batchnorms(enc2))
    for name, m in enc2.named_modules():
        if isinstance(m, nn.Conv2d):
            _pytorch_default(m, g)
        elif isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=LINEAR_STD, generator=g)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            _norm(m)
            if name in zero:
                nn.init.zeros_(m.weight)
        elif isinstance(m, CascadedGroupAttention):
            nn.init.zeros_(m.attention_biases)


def init_weights(model: TinyBioMoE, *, seed: int, init: str = "original") -> TinyBioMoE:
    """Re-initialise every parameter and batch-norm statistic of ``model`` in place; return it.

    ``seed`` (an int >= 0) fixes all values; ``init`` is ``"original"`` (the authors' rules, see the
    module docstring) or ``"pytorch"`` (this package's earlier ``torch.manual_seed(seed)`` default).
    """
    from ..errors import ConfigError

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(f"seed must be an int in [0, 2**63), got {seed!r}")
    if init not in INIT_SCHEMES:
        raise ConfigError(f"unknown init {init!r}; choose one of {list(INIT_SCHEMES)}")
    if not all(hasattr(model, a) for a in ("enc1", "enc2", "fcn", "ln_img")):
        raise ConfigError(f"init_weights needs a TinyBioMoE, got {type(model).__name__}")
    with torch.no_grad():
        if init == "pytorch":
            fresh = _untouched_rng(type(model), seed)
            model.load_state_dict(fresh.state_dict(), strict=True)
            return model
        g = torch.Generator().manual_seed(seed)
        _init_enc1(model.enc1, g)
        _init_enc2(model.enc2, g)
        for m in (model.ln_img, model.ln_e, model.ln_out):
            _norm(m)
        _pytorch_default(model.fcn[1], g)
    return model


def _untouched_rng(build: Callable[[], Any], seed: int | None = None) -> Any:
    """``build()`` without changing the global torch RNG (seeded with ``seed`` inside, if given)."""
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return build()


def random_model(seed: int, *, init: str = "original", **kwargs: Any) -> TinyBioMoE:
    """A :class:`~tiny_biomoe.TinyBioMoE` with seeded random weights, labelled as such.

    ``kwargs`` go to the constructor. ``model.pretrained_cfg["origin"]`` is the structured record
    ``{"kind": "random-init", "seed": seed, "init": init}`` (see :mod:`tiny_biomoe.model.provenance`).
    The global RNG is left as it was.
    """
    model = _untouched_rng(lambda: TinyBioMoE(**kwargs))
    init_weights(model, seed=seed, init=init)
    model.pretrained_cfg = {"origin": {"kind": "random-init", "seed": int(seed), "init": init,
                                       "tensors_sha256": tensors_sha256(model.state_dict())}}
    return model
