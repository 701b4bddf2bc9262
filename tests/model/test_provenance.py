"""Weights provenance: the record of where weights came from, the one rule for "official",
one resolution per load, the Hugging Face Hub through a cache the test lays out, the layering."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from tiny_biomoe import CheckpointError, TinyBioMoE, WeightsNotFoundError
from tiny_biomoe.model import provenance as P
from tiny_biomoe.model import weights as F

MODEL_DIR = Path(P.__file__).parent


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_named_like_the_release_is_not_official(reference_checkpoint, tmp_path):
    p = tmp_path / F.OFFICIAL_FILENAME
    shutil.copy(reference_checkpoint, p)
    _, info = P.load_model(p, device="cpu")
    assert not info.official and info.kind == "explicit-path" and info.sha256 == _sha(p)


def test_official_only_by_known_hash(reference_checkpoint, tmp_path, monkeypatch):
    sha = _sha(reference_checkpoint)
    monkeypatch.setattr(P, "OFFICIAL_SHA256", frozenset({sha}))
    _, info = P.load_model(reference_checkpoint, device="cpu")
    assert info.official
    # its safetensors copy has other bytes but the same tensors: official through the tensors table
    folder = TinyBioMoE.from_pretrained(reference_checkpoint).save_pretrained(tmp_path / "copy")
    _, copy_info = P.load_model(folder, device="cpu")
    assert not copy_info.official and copy_info.tensors_sha256 == info.tensors_sha256
    monkeypatch.setattr(P, "OFFICIAL_TENSORS_SHA256", frozenset({info.tensors_sha256}))
    assert P.load_model(folder, device="cpu")[1].official


def test_official_release_download_and_its_cached_copy(reference_checkpoint, tmp_path, monkeypatch):
    """Stand-in for the release URL: a file URL patched in as OFFICIAL_URL (no network)."""
    monkeypatch.setenv("TINY_BIOMOE_OFFLINE", "0")
    monkeypatch.delenv("TINY_BIOMOE_WEIGHTS", raising=False)
    monkeypatch.setattr(F, "OFFICIAL_URL", reference_checkpoint.as_uri())
    cache = tmp_path / "cache"
    _, info = P.load_model("tiny-biomoe", device="cpu", cache_dir=cache)
    assert info.kind == "download" and info.official and info.details["url"] == reference_checkpoint.as_uri()
    rec = json.loads((cache / (F.OFFICIAL_FILENAME + ".download.json")).read_text())
    assert rec == {"url": reference_checkpoint.as_uri(), "sha256": _sha(reference_checkpoint)}
    _, again = P.load_model("tiny-biomoe", device="cpu", cache_dir=cache)
    assert again.kind == "cache" and again.official and again.sha256 == info.sha256
    # the cached file replaced by other weights: the download record no longer vouches for it
    other = tmp_path / "other.pth"
    TinyBioMoE().save_official(other)
    shutil.copy(other, cache / F.OFFICIAL_FILENAME)
    _, swapped = P.load_model("tiny-biomoe", device="cpu", cache_dir=cache)
    assert swapped.kind == "cache" and not swapped.official


def test_download_from_another_url_is_not_official(reference_checkpoint, tmp_path):
    path = P.resolve_weights("tiny-biomoe", cache_dir=tmp_path, url=reference_checkpoint.as_uri())
    assert path == tmp_path / F.OFFICIAL_FILENAME
    _, info = P.load_model("tiny-biomoe", device="cpu", cache_dir=tmp_path, download=False)
    assert info.kind == "cache" and not info.official


def test_weights_are_located_once_per_load(reference_checkpoint, monkeypatch):
    calls = []
    real = F.locate_weights

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "locate_weights", counting)
    P.load_model(reference_checkpoint, device="cpu")
    assert len(calls) == 1


def test_weights_changed_after_loading_are_no_longer_official(reference_checkpoint, monkeypatch):
    monkeypatch.setattr(P, "OFFICIAL_SHA256", frozenset({_sha(reference_checkpoint)}))
    model, info = P.load_model(reference_checkpoint, device="cpu")
    assert info.official and P.describe_model(model).official
    with torch.no_grad():
        model.ln_out.bias.add_(1.0)
    now = P.describe_model(model)
    assert not now.official and now.details.get("modified_after_loading") and now.tensors_sha256 != info.tensors_sha256


def test_random_init_is_a_structured_record(tmp_path):
    from tiny_biomoe.model.init import random_model

    model = random_model(7)
    info = P.describe_model(model)
    assert (info.kind, info.seed, info.init, info.official, info.sha256) == ("random-init", 7, "original", False, None)
    assert P.WeightsInfo.from_dict(info.as_dict()) == info
    # the model card of a saved random init says so
    card = (model.save_pretrained(tmp_path / "r") / "README.md").read_text()
    assert "RANDOMLY INITIALISED" in card and "seed 7" in card
    assert json.loads((tmp_path / "r" / "config.json").read_text())["weights_origin"]["kind"] == "random-init"


def test_legacy_records_are_read():
    """Records written before records had a kind (heads and embeddings already on disk)."""
    old = P.WeightsInfo.from_dict({"source": "random-init(seed=12)", "official": False, "sha256": None})
    assert (old.kind, old.seed, old.init) == ("random-init", 12, "pytorch")
    assert P.WeightsInfo.from_dict({"source": "/nowhere/x.pth", "official": True, "sha256": "ab"}).kind == "in-memory"
    assert P.WeightsInfo.from_dict(None).kind == "in-memory"
    # broken or hostile records never raise: unusable fields read as unknown
    odd = P.WeightsInfo.from_dict({"kind": "random-init", "seed": "abc", "official": "yes", "sha256": 5, "details": 3})
    assert (odd.seed, odd.official, odd.sha256, odd.details) == (None, False, None, {})
    assert P.WeightsInfo.from_dict({"kind": "random-init", "seed": True}).seed is None


def test_in_memory_model_is_described_as_such():
    info = P.describe_model(TinyBioMoE())
    assert info.kind == "in-memory" and not info.official and info.sha256 is None and info.tensors_sha256


# ---------------------------------------------------------------- the Hugging Face Hub
def _fake_hub_cache(root: Path, repo: str, files: dict[str, bytes], commit: str = "a" * 40) -> Path:
    """The layout huggingface_hub reads: models--owner--name/{refs/main, snapshots/<commit>/<file>}."""
    base = root / ("models--" + repo.replace("/", "--"))
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    for name, data in files.items():
        (snap / name).write_bytes(data)
    return snap


def test_hf_hub_offline_from_the_cache(reference_checkpoint, tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    saved = TinyBioMoE.from_pretrained(reference_checkpoint).save_pretrained(tmp_path / "m", metadata={"k": 1})
    files = {n: (saved / n).read_bytes() for n in ("model.safetensors", "config.json")}
    hub = tmp_path / "hub"
    snap = _fake_hub_cache(hub, "someone/TinyBioMoE", files, commit="c" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    model = TinyBioMoE.from_pretrained("hf-hub:someone/TinyBioMoE")
    assert model.pretrained_cfg["metadata"] == {"k": 1}
    assert torch.equal(model.ln_out.weight, TinyBioMoE.from_pretrained(reference_checkpoint).ln_out.weight)
    _, info = P.load_model("hf-hub:someone/TinyBioMoE@" + "c" * 40, device="cpu")
    assert info.kind == "hf-hub" and info.source == "hf-hub:someone/TinyBioMoE@" + "c" * 40
    assert info.details["commit"] == "c" * 40 and not info.official
    assert info.sha256 == _sha(snap / "model.safetensors")
    # an official .pth in a Hub repo is found too
    _fake_hub_cache(hub, "other/repo", {F.OFFICIAL_FILENAME: reference_checkpoint.read_bytes()})
    assert P.load_model("hf-hub:other/repo", device="cpu")[1].details["filename"] == F.OFFICIAL_FILENAME


def test_hf_hub_offline_without_cache_is_clear(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(WeightsNotFoundError, match="offline") as err:
        TinyBioMoE.from_pretrained("hf-hub:stefanosgikas/TinyBioMoE")
    assert "HF_HUB_CACHE" in str(err.value) and "stefanosgikas/TinyBioMoE" in str(err.value)
    with pytest.raises(WeightsNotFoundError, match="not a Hub reference"):
        TinyBioMoE.from_pretrained("hf-hub:no-slash")
    with pytest.raises(WeightsNotFoundError, match="not a Hub reference"):
        TinyBioMoE.from_pretrained("hf-hub:a/b@")


# ---------------------------------------------------------------- layering
def _relative_imports(path: Path) -> set[str]:
    """Every ``from .x import`` / ``from . import x`` in a module, at any depth (lazy ones too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out |= {node.module} if node.module else {a.name for a in node.names}
    return out


def test_no_import_circle_between_network_files_and_provenance():
    assert not _relative_imports(MODEL_DIR / "weights.py") & {"moe", "provenance", "init"}
    assert not _relative_imports(MODEL_DIR / "moe.py") & {"provenance", "init"}
    assert not _relative_imports(MODEL_DIR / "init.py") & {"provenance"}
    assert {"moe", "weights"} <= _relative_imports(MODEL_DIR / "provenance.py")


def test_check_model_refuses_other_modules():
    from tiny_biomoe import InputError
    from tiny_biomoe.model.moe import check_model

    m = TinyBioMoE()
    assert check_model(m) is m
    with pytest.raises(InputError, match="must be a TinyBioMoE"):
        check_model(torch.nn.Linear(3, 3))


def test_provenance_command_prints_both_hashes(reference_checkpoint, capsys):
    assert P._main([str(reference_checkpoint)]) == 0
    out = capsys.readouterr().out
    raw = torch.load(reference_checkpoint, weights_only=True)["model_state_dict"]
    assert _sha(reference_checkpoint) in out and F.tensors_sha256(raw) in out
    with pytest.raises(CheckpointError):
        P._main([__file__])


def test_finetune_refuses_a_module_that_is_not_tinybiomoe():
    from tiny_biomoe import InputError
    from tiny_biomoe.pain.heads import FineTuneConfig, finetune

    with pytest.raises(InputError, match="must be a TinyBioMoE"):
        finetune(torch.rand(2, 3, 224, 224), [0, 1], 2, torch.nn.Linear(3, 3), FineTuneConfig(steps=1), device="cpu")
