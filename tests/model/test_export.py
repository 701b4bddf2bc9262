"""ONNX export: onnxruntime reproduces the fixtures at any batch size; writes are atomic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the export extra is part of the test environment")  # see pyproject [all]

from tiny_biomoe import InputError  # noqa: E402
from tiny_biomoe.model.export import OnnxEmbedder, export_onnx  # noqa: E402

EMB_TOL, EXPERT_TOL = 1e-4, 2e-5



_EXPORT_LOG: list = []


@pytest.fixture(scope="module")
def onnx_path(reference_model, tmp_path_factory):
    import logging

    class Keep(logging.Handler):
        def emit(self, record):
            _EXPORT_LOG.append(record.getMessage())

    # the exporter's registry warns "torchvision is not installed" once per torchvision op, on every export
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    handler = Keep(level=logging.DEBUG)
    registry.addHandler(handler)
    try:
        path = tmp_path_factory.mktemp("onnx") / "model.onnx"
        assert export_onnx(reference_model, path, dynamic_batch=True) == path
    finally:
        registry.removeHandler(handler)
    return path


def test_export_does_not_log_the_exporters_warnings(onnx_path):
    import logging

    assert not [m for m in _EXPORT_LOG if "torchvision" in m], _EXPORT_LOG
    assert logging.getLogger("torch.onnx").level == logging.NOTSET  # restored after the export


@pytest.mark.parametrize("sl", [slice(0, 1), slice(3, 6)], ids=["batch1", "batch3"])
def test_onnxruntime_matches_fixtures_with_dynamic_batch(onnx_path, reference_io, sl):
    x, exp = reference_io
    out = OnnxEmbedder(onnx_path, threads=2).run(x[sl])
    assert out["embedding"].shape == (sl.stop - sl.start, 192)
    assert np.abs(out["embedding"] - exp["embedding"][sl].numpy()).max() < EMB_TOL
    assert np.abs(out["z1"] - exp["enc1"][sl].numpy()).max() < EXPERT_TOL
    assert np.abs(out["z2"] - exp["enc2"][sl].numpy()).max() < EXPERT_TOL


def test_onnx_file_has_no_complex_ops_and_carries_metadata(onnx_path):
    import onnx

    proto = onnx.load(str(onnx_path))
    ops = {n.op_type for n in proto.graph.node}
    assert "DFT" not in ops and "BatchNormalization" not in ops
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["producer"] == "tiny-biomoe"
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch axis


def test_embedder_rejects_bad_input(onnx_path, tmp_path):
    emb = OnnxEmbedder(onnx_path)
    with pytest.raises(InputError, match="224"):
        emb.embed(np.zeros((1, 3, 64, 64), np.float32))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        emb.embed(np.full((1, 3, 224, 224), 255.0, np.float32))
    with pytest.raises(InputError, match="floating-point"):
        emb.embed(np.zeros((1, 3, 224, 224), np.uint8))
    with pytest.raises(InputError, match="numeric"):
        emb.embed(np.full((1, 3, 224, 224), "a"))
    with pytest.raises(InputError, match="not found"):
        OnnxEmbedder(tmp_path / "missing.onnx")


def test_failed_export_leaves_no_file(reference_model, tmp_path, monkeypatch):
    target = tmp_path / "model.onnx"
    with pytest.raises(InputError, match="opset"):
        export_onnx(reference_model, target, opset=11)

    def boom(*a, **k):
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(torch.onnx, "export", boom)
    with pytest.raises(RuntimeError, match="exporter failed"):
        export_onnx(reference_model, target)
    assert list(tmp_path.iterdir()) == []


def test_cli_export_with_int8(reference_checkpoint, reference_io, tmp_path, capsys):
    from tiny_biomoe.cli import main

    x, exp = reference_io
    out = tmp_path / "m.onnx"
    assert main(["export", "--weights", str(reference_checkpoint), "-o", str(out), "--quantize", "int8"]) == 0
    printed = capsys.readouterr().out
    q = tmp_path / "m.int8.onnx"
    assert out.exists() and q.exists() and str(q) in printed
    assert q.stat().st_size < 0.9 * out.stat().st_size  # the linear layers hold int8 weights now
    full = OnnxEmbedder(out).run(x[:2])
    assert np.abs(full["embedding"] - exp["embedding"][:2].numpy()).max() < EMB_TOL
    emb8 = OnnxEmbedder(q).embed(x[:2])
    err = float(np.abs(emb8 - exp["embedding"][:2].numpy()).max())
    print(f"\nint8 dynamic quantisation: max abs embedding error {err:.3g} (reported, not a tolerance)")
    assert emb8.shape == (2, 192) and np.isfinite(emb8).all() and err > 0
