"""export_onnx refuses an opset it cannot write before any work (``--opset 999`` wrote opset 18 and exited 0)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

from tiny_biomoe import TinyBioMoE  # noqa: E402
from tiny_biomoe.cli import main  # noqa: E402
from tiny_biomoe.errors import InputError  # noqa: E402
from tiny_biomoe.model.export import export_onnx  # noqa: E402


@pytest.mark.parametrize("opset, message", [(999, "opset must be <="), (16, "opset must be >= 17"), (True, "bool"),
                                            (18.5, "whole number")])
def test_bad_opset_refused_before_export(tmp_path, opset, message):
    with pytest.raises(InputError, match=message):
        export_onnx(TinyBioMoE(), tmp_path / "m.onnx", opset=opset)
    assert list(tmp_path.iterdir()) == []


def test_cli_opset_999_exit_2(tmp_path, capsys, reference_checkpoint):
    assert main(["export", "--weights", str(reference_checkpoint), "--opset", "999", "-o", str(tmp_path / "m.onnx")]) == 2
    assert "opset must be <=" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
