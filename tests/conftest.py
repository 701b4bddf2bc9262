"""Shared test fixtures. Reference files are read from ../shared beside the checkout, never copied."""

from __future__ import annotations

import os
from pathlib import Path

# Idle OpenMP threads must sleep, not spin: on a 2-core machine spinning workers of one process
# starve the others (observed: 10-20x slower steps). Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINY_BIOMOE_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "fixtures" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Folder with checkpoint.pt, inputs.pt, expected.pt and manifest.json (MODEL.md)."""
    if not (REFERENCE / "checkpoint.pt").exists():
        pytest.fail(f"reference fixtures not found at {REFERENCE}; put the shared/ folder beside the checkout")
    return REFERENCE


@pytest.fixture(scope="session")
def reference_checkpoint(reference_dir: Path) -> Path:
    return reference_dir / "checkpoint.pt"


@pytest.fixture(scope="session")
def reference_model(reference_checkpoint: Path):
    """The network with the fixture weights, in eval mode (shared; do not mutate)."""
    from tiny_biomoe import TinyBioMoE

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    return TinyBioMoE.from_pretrained(reference_checkpoint)


@pytest.fixture(autouse=True)
def _isolated_weights_env(monkeypatch, tmp_path_factory):
    """Never let a test see the developer's real weights or cache."""
    monkeypatch.delenv("TINY_BIOMOE_WEIGHTS", raising=False)
    monkeypatch.setenv("TINY_BIOMOE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def reference_io(reference_dir: Path):
    """``(inputs (6, 3, 224, 224), expected dict of embedding/enc1/enc2)`` from the fixtures."""
    inputs = torch.load(reference_dir / "inputs.pt", weights_only=True)
    expected = torch.load(reference_dir / "expected.pt", weights_only=True)
    return inputs, expected


@pytest.fixture
def one_torch_thread():
    """One intra-op thread for training-heavy tests (restored afterwards): on shared cores, OpenMP
    threads waiting on each other made 2 threads 5-30x slower than 1 (measured)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)
