"""The README's Python examples run as written (with the fixture checkpoint for the weights)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_three_line_usage(reference_checkpoint):
    block = next(b for b in _python_blocks() if "TinyBioMoE.from_pretrained" in b)
    assert len([ln for ln in block.strip().splitlines() if ln.strip()]) == 3
    ns = {"images": torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))}
    exec(block.replace('"Tiny-BioMoE.pth"', repr(str(reference_checkpoint))), ns)  # noqa: S102
    assert ns["embeddings"].shape == (2, 192)
    assert not ns["model"].training


def test_signal_to_embeddings_example(reference_checkpoint, tmp_path, monkeypatch):
    block = next(b for b in _python_blocks() if "embed_signal" in b)
    monkeypatch.chdir(tmp_path)
    t = np.arange(0, 25, 0.01)
    eda = 2 + 0.3 * np.sin(2 * np.pi * 0.05 * t) + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    ns = {"eda": eda}
    exec(block.replace('"Tiny-BioMoE.pth"', repr(str(reference_checkpoint))), ns)  # noqa: S102
    res = ns["res"]
    assert res.embeddings["waveform"].shape == (2, 192)
    assert list(res.starts) == [0.0, 10.0]
    assert (tmp_path / "rec.npz").exists()
