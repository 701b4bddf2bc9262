"""ONNX export of Tiny-BioMoE and an onnxruntime embedder.

The exported graph is the fast inference form (:mod:`tiny_biomoe.model.fast`) with batch norms
folded, attention biases gathered, and expert 1's spectral gating computed as real DFT matrix
products (``spectral="dft"``), and the image LayerNorm in a shifted two-level form that onnxruntime
computes accurately (:class:`~tiny_biomoe.model.fast.ShiftedImageLayerNorm`): ONNX has no complex tensors, so ``rfft2 * complex weight ->
irfft2`` is written as the equivalent real linear maps (proved against the fixtures in
``tests/model/test_export.py``). The graph has three outputs, ``embedding`` ``(B, 192)`` and the
raw expert outputs ``z1``, ``z2`` ``(B, 96)``; the batch axis is dynamic by default.

Exporter: ``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter, the default and
maintained one in torch 2.13).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from .._io import atomic_path
from ..errors import InputError, require
from .moe import check_images

__all__ = ["export_onnx", "quantize_onnx", "OnnxEmbedder", "DEFAULT_OPSET"]

DEFAULT_OPSET = 18
_OUTPUTS = ["embedding", "z1", "z2"]


class _ExportWrapper(nn.Module):
    """``images -> (embedding, z1, z2)`` without Python-side input checks (done by OnnxEmbedder)."""

    def __init__(self, fast: nn.Module) -> None:
        super().__init__()
        self.net = fast

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.net.forward_all(images)
        return out.embedding, out.z1, out.z2


@contextlib.contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Only errors from these loggers inside (the exporter logs e.g. "torchvision is not installed" as a
    warning for every torchvision op it registers, which says nothing about our model)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    *,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Export ``model`` (a :class:`~tiny_biomoe.model.TinyBioMoE`) to an ONNX file, atomically.

    Args:
        model: the network; it is not modified (a snapshot is converted and exported).
        path: output ``.onnx`` file (written whole, or not at all).
        opset: ONNX opset version (>= 17).
        dynamic_batch: make the batch axis dynamic (otherwise fixed to 1).
        metadata: extra string key/values stored in the model's metadata_props.
    Returns:
        ``path``.
    """
    require("onnx", "export", "ONNX export")
    require("onnxscript", "export", "ONNX export")
    from .fast import FastTinyBioMoE

    import onnx

    from .._validate import check_int

    opset = check_int(opset, "opset", min=17, max=onnx.defs.onnx_opset_version(),
                      hint=f"use 17..{onnx.defs.onnx_opset_version()} (the installed onnx's newest), e.g. {DEFAULT_OPSET}")
    fast = FastTinyBioMoE(model, channels_last=False, spectral="dft", micro_batch=None, export_norm=True, fuse=False)  # type: ignore[arg-type]
    fast.check_inputs = False
    wrapper = _ExportWrapper(fast.cpu()).eval()  # exported on the CPU whatever the model's device
    batch = 2 if dynamic_batch else 1
    example = (torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0)),)
    dynamic_shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if dynamic_batch else None
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings(), _quiet_loggers("torch.onnx", "onnxscript"):
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(
            wrapper,
            example,
            dynamo=True,
            opset_version=opset,
            input_names=["images"],
            output_names=_OUTPUTS,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            optimize=True,
            verbose=False,
        )
        import onnx

        proto = prog.model_proto
        wrote = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
        if wrote != opset:  # the exporter may fall back to another version without failing
            raise InputError(f"opset {opset} was asked for but torch's exporter wrote opset {wrote}; use --opset {wrote}")
        meta = {"producer": "tiny-biomoe", "inputs": "images (B,3,224,224) float32 in [0,1]", **(metadata or {})}
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = str(k), str(v)
        onnx.save_model(proto, str(tmp))
    return path


def quantize_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Dynamic int8 quantisation (onnxruntime ``quantize_dynamic``), written atomically.

    Only the weights of the linear layers (``MatMul``) are quantised, per output channel; the
    convolutions and the DFT matrices of the spectral gating stay float32. On the fixtures this
    recipe had the smallest error of those tried (max abs embedding error 0.23, cosine >= 0.9993,
    against 0.51 when convolutions are quantised too). It is a size/accuracy trade-off, not covered
    by the float32 tolerances: measure it on your data (``biomoe bench`` reports the error).
    """
    require("onnxruntime", "export", "ONNX quantisation")
    onnx = require("onnx", "export", "ONNX quantisation")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = onnx.load(str(src), load_external_data=False)
    dft = [n.name for n in proto.graph.node if any(i.rsplit(".", 1)[-1] in ("fw", "fh", "ih", "iw") for i in n.input)]
    dst = Path(dst)
    with atomic_path(dst) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=["MatMul"], nodes_to_exclude=dft,
        )
    return dst


class OnnxEmbedder:
    """Embeddings from an exported ONNX file with onnxruntime (CPU by default).

    >>> emb = OnnxEmbedder("model.onnx").embed(images)  # doctest: +SKIP  (B, 192) float32 array
    """

    def __init__(
        self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None, spin: bool = True
    ) -> None:
        """Open ``path``; ``threads`` intra-op threads (default: onnxruntime's choice).

        ``spin=False`` stops idle worker threads from busy-waiting after each run (onnxruntime
        spins by default), which matters when other work shares the CPUs.

        Args:
            path: the ``.onnx`` file (from :func:`export_onnx`); missing or not loadable: an :class:`InputError`.
            threads: intra-op threads (inter-op then 1); ``None``: onnxruntime's choice.
            providers: onnxruntime execution providers, in order of preference; ``None`` or empty:
                ``["CPUExecutionProvider"]``.
            spin: let idle worker threads busy-wait between runs (onnxruntime's default).
        """
        ort = require("onnxruntime", "export", "ONNX inference")
        path = Path(path)
        if not path.is_file():
            raise InputError(f"ONNX model {path} not found; create it with `biomoe export -o {path}`")
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spin:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise InputError(f"{path} is not a loadable ONNX model ({exc}); re-export it") from exc
        self.path = path
        self.input_name = self.session.get_inputs()[0].name

    def _prepare(self, images: Any) -> np.ndarray:
        if isinstance(images, torch.Tensor):
            x = images.detach().cpu()
        else:
            try:  # a zero-copy view of a C-contiguous array
                x = torch.as_tensor(np.ascontiguousarray(images))
            except (TypeError, ValueError, RuntimeError) as exc:
                raise InputError(f"expected a numeric (B, 3, 224, 224) array of images, got {type(images).__name__} ({exc})") from None
        check_images(x)  # the model's own validation: shape, dtype, finiteness, [0, 1]
        return np.ascontiguousarray(x.float().numpy())

    def run(self, images: Any) -> dict[str, np.ndarray]:
        """All outputs: ``{"embedding": (B, 192), "z1": (B, 96), "z2": (B, 96)}`` as float32 arrays."""
        outs = self.session.run(None, {self.input_name: self._prepare(images)})
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, outs))

    def embed(self, images: Any) -> np.ndarray:
        """``(B, 3, 224, 224)`` images in ``[0, 1]`` -> ``(B, 192)`` float32 embeddings."""
        return self.run(images)["embedding"]

    __call__ = embed
