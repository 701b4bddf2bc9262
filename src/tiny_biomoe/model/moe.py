"""TinyBioMoE: image layer norm, two experts, a shared gate and an output norm -> 192-D embedding."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

from ..errors import InputError
from . import weights as _weights
from .cascaded import CascadedExpert, CascadedGroupAttention
from .spectral import SpectralExpert

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TinyBioMoE", "MoEOutput", "check_images", "check_model", "IMG_SIZE", "EMBED_DIM", "EXPERT_DIM"]

IMG_SIZE = 224
EXPERT_DIM = 96
EMBED_DIM = 2 * EXPERT_DIM


class MoEOutput(NamedTuple):
    """Everything the network computes for a batch (see :meth:`TinyBioMoE.forward_all`)."""

    embedding: torch.Tensor  # (B, 192)
    z1: torch.Tensor  # (B, 96) expert 1 raw output
    z2: torch.Tensor  # (B, 96) expert 2 raw output
    gate1: torch.Tensor  # (B, 96) gate values in [0, 1] applied to expert 1
    gate2: torch.Tensor  # (B, 96) gate values in [0, 1] applied to expert 2


def _checking_disabled() -> bool:
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return True
    if hasattr(torch, "compiler") and torch.compiler.is_compiling():
        return True
    return bool(torch.onnx.is_in_onnx_export())


def check_images(x: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``x`` is a finite float ``(B, 3, 224, 224)`` batch in ``[0, 1]``.

    Value checks are skipped while tracing, compiling or exporting (they need data-dependent control flow).
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"expected a torch.Tensor of images, got {type(x).__name__}; use torch.as_tensor(images)")
    if x.ndim != 4 or tuple(x.shape[1:]) != (3, IMG_SIZE, IMG_SIZE):
        hint = ""
        if x.ndim == 4 and x.shape[-1] == 3:
            hint = " (looks channels-last: use images.permute(0, 3, 1, 2))"
        elif x.ndim == 3:
            hint = " (a single image? use images.unsqueeze(0))"
        raise InputError(
            f"expected images of shape (B, 3, {IMG_SIZE}, {IMG_SIZE}), got {tuple(x.shape)}{hint}; "
            "render signals with tiny_biomoe.render, which produces this layout"
        )
    if not x.is_floating_point():
        raise InputError(
            f"expected floating-point images in [0, 1], got dtype {x.dtype}; use images.float() / 255"
        )
    if _checking_disabled() or x.numel() == 0:
        return
    # one pass: min and max propagate NaN, and an inf is an extreme (10x cheaper than isfinite().all())
    lo_t, hi_t = torch.aminmax(x.detach())
    lo, hi = float(lo_t), float(hi_t)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("images contain NaN or inf values; clean or drop those windows before embedding")
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        hint = " (looks like 0-255 pixel values: divide by 255)" if hi > 2.0 else ""
        raise InputError(f"images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]{hint}")


def check_model(model: Any, what: str = "model") -> nn.Module:
    """Return ``model`` if it computes Tiny-BioMoE embeddings, else raise :class:`InputError`.

    Accepted: a :class:`TinyBioMoE` or a module that declares the same interface
    (``embed_dim == 192`` and ``img_size == 224``, as the fast inference form does).
    """
    if isinstance(model, TinyBioMoE):
        return model
    if isinstance(model, nn.Module) and getattr(model, "embed_dim", None) == EMBED_DIM and getattr(model, "img_size", None) == IMG_SIZE:
        return model
    raise InputError(
        f"{what} must be a TinyBioMoE (or its fast form), got {type(model).__module__}.{type(model).__qualname__}; "
        "load one with TinyBioMoE.from_pretrained(...) or pass a weights path/name instead"
    )


def mix_experts(net: nn.Module, z1: torch.Tensor, z2: torch.Tensor) -> MoEOutput:
    """The mixture head: ``ln_out(concat(ln_e(z1) * fcn(z1), ln_e(z2) * fcn(z2)))``.

    The gate ``fcn`` reads the un-normalised expert outputs; ``net`` provides ``ln_e``, ``fcn``, ``ln_out``.
    """
    g1, g2 = net.fcn(z1), net.fcn(z2)
    emb = net.ln_out(torch.cat([net.ln_e(z1) * g1, net.ln_e(z2) * g2], dim=1))
    return MoEOutput(emb, z1, z2, g1, g2)


class TinyBioMoE(nn.Module):
    """The Tiny-BioMoE embedding network (7,337,278 parameters).

    Input: ``(B, 3, 224, 224)`` float images in ``[0, 1]``. Output: ``(B, 192)`` embeddings,
    expert 1's gated half first. The state dict uses the official key names, so the authors'
    ``Tiny-BioMoE.pth`` loads strictly.

    Args:
        legacy_zero_attention_biases: reproduce embeddings made with the authors' published
            usage snippet, which (by calling ``eval()`` before loading) left expert 2's attention
            biases at zero. Off by default; see ``spec/MODEL.md``.
        check_inputs: validate shape, dtype, finiteness and range of inputs on every call.

    Example:
        >>> model = TinyBioMoE.from_pretrained("Tiny-BioMoE.pth")  # doctest: +SKIP
        >>> emb = model(torch.rand(2, 3, 224, 224))                 # doctest: +SKIP
    """

    embed_dim = EMBED_DIM
    img_size = IMG_SIZE

    def __init__(self, *, legacy_zero_attention_biases: bool = False, check_inputs: bool = True) -> None:
        super().__init__()
        self.enc1 = SpectralExpert(IMG_SIZE)
        self.enc2 = CascadedExpert(IMG_SIZE)
        self.ln_img = nn.LayerNorm((3, IMG_SIZE, IMG_SIZE), eps=1e-5)
        self.ln_e = nn.LayerNorm(EXPERT_DIM, eps=1e-5)
        self.ln_out = nn.LayerNorm(EMBED_DIM, eps=1e-5)
        self.fcn = nn.Sequential(nn.ELU(), nn.Linear(EXPERT_DIM, EXPERT_DIM), nn.Hardtanh(0.0, 1.0))
        self.check_inputs = check_inputs
        #: Settings saved with the weights (representation, preprocessing, provenance), if any.
        self.pretrained_cfg: dict[str, Any] = {}
        self.legacy_zero_attention_biases = legacy_zero_attention_biases

    # ------------------------------------------------------------------ options
    @property
    def legacy_zero_attention_biases(self) -> bool:
        """Whether expert 2's attention biases are ignored (the published snippet's behaviour)."""
        return self._legacy_zero

    @legacy_zero_attention_biases.setter
    def legacy_zero_attention_biases(self, value: bool) -> None:
        self._legacy_zero = bool(value)
        for m in self.enc2.modules():
            if isinstance(m, CascadedGroupAttention):
                m.zero_biases = self._legacy_zero

    # ------------------------------------------------------------------ forward
    def forward_experts(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two experts' raw ``(B, 96)`` outputs before gating."""
        if self.check_inputs:
            check_images(images)
        x = self.ln_img(images)
        return self.enc1(x), self.enc2(x)

    def forward_all(self, images: torch.Tensor) -> MoEOutput:
        """Embedding plus expert outputs and gate values, in one pass."""
        return mix_experts(self, *self.forward_experts(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` images in ``[0, 1]`` -> ``(B, 192)`` embeddings."""
        return self.forward_all(images).embedding

    def gates(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gate values ``(B, 96)`` per expert: how much of each expert's features passes."""
        out = self.forward_all(images)
        return out.gate1, out.gate2

    # ------------------------------------------------------------------ fine-tuning helpers
    def freeze(self, part: str = "backbone") -> "TinyBioMoE":
        """Freeze ``'backbone'`` (everything), ``'enc1'``, ``'enc2'`` or ``'experts'`` (both experts).

        Frozen parameters get ``requires_grad=False``; batch-norm statistics still update in
        ``train()`` mode unless you also call ``.eval()`` on those modules.
        """
        for p in self._part(part).parameters():
            p.requires_grad_(False)
        return self

    def unfreeze(self, part: str = "backbone") -> "TinyBioMoE":
        """Undo :meth:`freeze` for the same part."""
        for p in self._part(part).parameters():
            p.requires_grad_(True)
        return self

    def _part(self, part: str) -> nn.Module:
        parts: dict[str, nn.Module] = {
            "backbone": self,
            "enc1": self.enc1,
            "enc2": self.enc2,
            "experts": nn.ModuleList([self.enc1, self.enc2]),
        }
        if part not in parts:
            raise InputError(f"unknown part {part!r}; choose one of {sorted(parts)}")
        return parts[part]

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters an optimiser should not decay: expert 2's attention-bias tables,
        every LayerNorm and BatchNorm parameter, and every bias."""
        names = set()
        for mod_name, mod in self.named_modules():
            for p_name, _ in mod.named_parameters(recurse=False):
                full = f"{mod_name}.{p_name}" if mod_name else p_name
                if (p_name == "bias" or p_name == "attention_biases"
                        or isinstance(mod, (nn.LayerNorm, nn.modules.batchnorm._BatchNorm))):
                    names.add(full)
        return names

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameters (7,337,278 in total)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ------------------------------------------------------------------ weights
    @classmethod
    def from_pretrained(
        cls,
        source: "str | os.PathLike | _weights.WeightsLocation" = "tiny-biomoe",
        *,
        map_location: str | torch.device = "cpu",
        legacy_zero_attention_biases: bool = False,
        require_config: bool = True,
        **resolve_kwargs: Any,
    ) -> "TinyBioMoE":
        """Build the network and load weights strictly; returns the model in ``eval()`` mode.

        ``source`` is an official ``.pth`` checkpoint (``{"model_state_dict": ...}``), a
        ``.safetensors`` file or a folder written by :meth:`save_pretrained`, ``"hf-hub:<owner>/<name>[@rev]"``
        (the Hugging Face Hub, through ``huggingface_hub``; honours ``HF_HUB_OFFLINE`` and the Hub cache),
        or the name ``"tiny-biomoe"`` (explicit ``path=``, ``$TINY_BIOMOE_WEIGHTS``, the cache, then a
        verified download; see :func:`tiny_biomoe.model.weights.locate_weights`). A saved folder without
        its ``config.json`` is refused unless ``require_config=False``. Where the weights came from is
        kept in ``model.pretrained_cfg["origin"]`` (see :mod:`tiny_biomoe.model.provenance`).
        """
        if isinstance(source, _weights.WeightsLocation):  # already located (load_model): not again
            loc = source
        else:
            loc = _weights.locate_weights(source, verify=cls._verify_state, **resolve_kwargs)
        state, cfg = _weights.load_checkpoint(loc.path, require_config=require_config)
        model = cls(legacy_zero_attention_biases=legacy_zero_attention_biases)
        model.load_state_dict(state, strict=True)
        model.pretrained_cfg = dict(cfg)
        model.pretrained_cfg["source"] = str(loc.path)
        model.pretrained_cfg["origin"] = {**loc.as_dict(), "tensors_sha256": _weights.tensors_sha256(model.state_dict())}
        return model.to(map_location).eval()

    @classmethod
    def _verify_state(cls, state: dict[str, torch.Tensor]) -> None:
        """Raise :class:`CheckpointError` unless ``state`` loads strictly into the network (downloads)."""
        cls(check_inputs=False).load_state_dict(state, strict=True)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False):  # type: ignore[override]
        """Like :meth:`torch.nn.Module.load_state_dict`, with a clear error on key or shape mismatch."""
        if strict:
            _weights.check_state_dict(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def save_pretrained(self, folder: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors``, ``config.json`` (with ``metadata``) and a model card ``README.md``
        into ``folder`` (byte-reproducible; see :func:`tiny_biomoe.model.weights.save_safetensors`)."""
        return _weights.save_safetensors(self, folder, metadata=metadata)

    def save_official(self, path: str | os.PathLike) -> Path:
        """Write the official ``.pth`` layout: ``torch.save({"model_state_dict": state_dict})``."""
        return _weights.save_official(self, path)

    def embed(self, images: Any, *, batch_size: int = 64) -> "np.ndarray":
        """Embeddings ``(N, 192)`` float32 NumPy array of ``images`` ``(N, 3, 224, 224)`` (or one
        ``(3, 224, 224)`` image), without gradients, in eval mode, ``batch_size`` images at a time on
        the model's device (the training/eval state is restored afterwards)."""
        import numpy as np

        x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images, dtype=np.float32))
        if x.ndim == 3:
            x = x.unsqueeze(0)
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        dev = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                out = [self(x[i: i + int(batch_size)].to(dev)).float().cpu() for i in range(0, x.shape[0], int(batch_size))]
        finally:
            self.train(was_training)
        return torch.cat(out).numpy() if out else np.zeros((0, EMBED_DIM), np.float32)
