"""Checkpoint formats, strict loading, round trips, safety and resolution of weights."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from tiny_biomoe import CheckpointError, TinyBioMoE, WeightsNotFoundError
from tiny_biomoe.model import weights as W


def _state(model):
    return model.state_dict()


def test_state_dict_matches_manifest_in_order(reference_dir):
    manifest = json.loads((reference_dir / "manifest.json").read_text())
    state = TinyBioMoE().state_dict()
    assert list(state) == [e["key"] for e in manifest]
    for e in manifest:
        t = state[e["key"]]
        assert list(t.shape) == e["shape"], e["key"]
        assert str(t.dtype).replace("torch.", "") == e["dtype"], e["key"]
    params = {n for n, _ in TinyBioMoE().named_parameters()}
    assert {e["key"] for e in manifest if e["kind"] == "parameter"} == params


def test_official_checkpoint_loads_strictly(reference_checkpoint):
    raw = torch.load(reference_checkpoint, weights_only=True)
    assert set(raw) == {"model_state_dict"}
    model = TinyBioMoE.from_pretrained(reference_checkpoint)
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, raw["model_state_dict"][k]), k


def test_official_layout_round_trips_bit_exactly(reference_checkpoint, reference_dir, tmp_path):
    model = TinyBioMoE.from_pretrained(reference_checkpoint)
    out = model.save_official(tmp_path / "again.pth")
    raw = torch.load(reference_checkpoint, weights_only=True)["model_state_dict"]
    saved = torch.load(out, weights_only=True)
    assert set(saved) == {"model_state_dict"}
    saved = saved["model_state_dict"]
    manifest = json.loads((reference_dir / "manifest.json").read_text())
    assert list(saved) == [e["key"] for e in manifest]
    for k in raw:
        assert saved[k].dtype == raw[k].dtype and torch.equal(saved[k], raw[k]), k


def test_safetensors_round_trip_with_metadata(reference_checkpoint, tmp_path):
    model = TinyBioMoE.from_pretrained(reference_checkpoint)
    meta = {"representation": {"kind": "waveform", "version": "1"}, "preprocessing": {"modality": "eda", "lowpass_hz": 5.0}}
    folder = model.save_pretrained(tmp_path / "m", metadata=meta)
    assert (folder / "model.safetensors").exists() and (folder / "config.json").exists()
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["num_parameters"] == 7_337_278 and cfg["metadata"] == meta
    for src in (folder, folder / "model.safetensors"):
        again = TinyBioMoE.from_pretrained(src)
        assert again.pretrained_cfg["metadata"] == meta
        for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items()):
            assert k == k2 and a.dtype == b.dtype and torch.equal(a, b), k
    # safetensors -> official -> equal to the original file's tensors
    again.save_official(tmp_path / "x.pth")
    raw = torch.load(reference_checkpoint, weights_only=True)["model_state_dict"]
    back = torch.load(tmp_path / "x.pth", weights_only=True)["model_state_dict"]
    assert all(torch.equal(raw[k], back[k]) for k in raw)


def test_wrapped_and_prefixed_checkpoints_load(reference_checkpoint, tmp_path):
    raw = torch.load(reference_checkpoint, weights_only=True)["model_state_dict"]
    torch.save({"module." + k: v for k, v in raw.items()}, tmp_path / "ddp.pt")
    model = TinyBioMoE.from_pretrained(tmp_path / "ddp.pt")
    assert torch.equal(model.ln_out.weight, raw["ln_out.weight"])


def test_missing_and_unexpected_keys_are_named(reference_checkpoint, tmp_path):
    raw = dict(torch.load(reference_checkpoint, weights_only=True)["model_state_dict"])
    raw.pop("fcn.1.bias")
    raw["extra.head.weight"] = torch.zeros(3)
    torch.save({"model_state_dict": raw}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        TinyBioMoE.from_pretrained(tmp_path / "bad.pth")
    msg = str(err.value)
    assert "fcn.1.bias" in msg and "extra.head.weight" in msg and "1 missing" in msg and "1 unexpected" in msg


def test_shape_mismatch_is_named(reference_checkpoint, tmp_path):
    raw = dict(torch.load(reference_checkpoint, weights_only=True)["model_state_dict"])
    raw["ln_out.weight"] = torch.ones(10)
    torch.save({"model_state_dict": raw}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"ln_out.weight: checkpoint \(10,\) vs model \(192,\)"):
        TinyBioMoE.from_pretrained(tmp_path / "bad.pth")


@pytest.mark.parametrize("content", [b"hello, I am not a checkpoint\n", b"", b"PK\x03\x04truncated"])
def test_non_checkpoint_files_are_refused(tmp_path, content):
    p = tmp_path / "junk.pth"
    p.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        TinyBioMoE.from_pretrained(p)


def test_truncated_checkpoint_is_refused(reference_checkpoint, tmp_path):
    data = reference_checkpoint.read_bytes()
    p = tmp_path / "cut.pth"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        TinyBioMoE.from_pretrained(p)


def test_bad_safetensors_is_refused(tmp_path):
    p = tmp_path / "model.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="safetensors"):
        TinyBioMoE.from_pretrained(p)


def test_tensor_dict_that_is_not_a_state_dict(tmp_path):
    torch.save({"epoch": 3, "note": "hi"}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        TinyBioMoE.from_pretrained(tmp_path / "other.pth")


class _Evil:
    """Unpickling this would create a file (stand-in for arbitrary code execution)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pth"
    with open(p, "wb") as fh:
        pickle.dump({"model_state_dict": {"x": _Evil(str(marker))}}, fh)
    # sanity: a full unpickle *would* run the payload
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Evil(str(probe)))).close()
    assert probe.exists()
    with pytest.raises(CheckpointError, match="arbitrary code"):
        TinyBioMoE.from_pretrained(p)
    assert not marker.exists()


# ---------------------------------------------------------------- resolution of "tiny-biomoe"
def test_missing_path_is_clear(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        TinyBioMoE.from_pretrained(tmp_path / "nope.pth")


def test_resolution_order(reference_checkpoint, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / W.OFFICIAL_FILENAME
    cached.write_bytes(reference_checkpoint.read_bytes())
    assert W.resolve_weights("tiny-biomoe", cache_dir=cache, download=False) == cached
    monkeypatch.setenv("TINY_BIOMOE_WEIGHTS", str(reference_checkpoint))
    assert W.resolve_weights("tiny-biomoe", cache_dir=cache, download=False) == reference_checkpoint
    assert W.resolve_weights("tiny-biomoe", path=cached, cache_dir=cache, download=False) == cached
    monkeypatch.setenv("TINY_BIOMOE_WEIGHTS", str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsNotFoundError, match="TINY_BIOMOE_WEIGHTS"):
        W.resolve_weights("tiny-biomoe", cache_dir=cache, download=False)


def test_offline_download_failure_says_where_to_put_the_file(tmp_path):
    # port 9 (discard) on loopback refuses the connection at once: the same path as being offline
    with pytest.raises(WeightsNotFoundError) as err:
        W.resolve_weights("tiny-biomoe", cache_dir=tmp_path, url="http://127.0.0.1:9/Tiny-BioMoE.pth", timeout=5)
    msg = str(err.value)
    assert "download from http://127.0.0.1:9/Tiny-BioMoE.pth failed" in msg
    assert str(tmp_path / W.OFFICIAL_FILENAME) in msg
    assert "TINY_BIOMOE_WEIGHTS" in msg and W.OFFICIAL_URL in msg
    assert not any(tmp_path.iterdir()), "a failed download must leave nothing behind"


def test_download_is_verified_then_cached(reference_checkpoint, tmp_path):
    cache = tmp_path / "cache"
    path = W.resolve_weights("tiny-biomoe", cache_dir=cache, url=reference_checkpoint.as_uri())
    assert path == cache / W.OFFICIAL_FILENAME
    assert path.read_bytes() == reference_checkpoint.read_bytes()
    assert [p.name for p in cache.iterdir()] == [W.OFFICIAL_FILENAME]


def test_download_of_wrong_file_is_not_cached(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"model_state_dict": {"w": torch.zeros(2)}}, bad)
    cache = tmp_path / "cache"
    with pytest.raises(WeightsNotFoundError, match="not a valid checkpoint"):
        W.resolve_weights("tiny-biomoe", cache_dir=cache, url=bad.as_uri())
    assert not (cache / W.OFFICIAL_FILENAME).exists()
    assert not any(cache.iterdir())


def test_load_model_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_BIOMOE_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError):
        W.load_model("tiny-biomoe", device="cpu", cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="RANDOMLY INITIALISED"):
        m1, info = W.load_model("tiny-biomoe", device="cpu", fallback="random", seed=3, cache_dir=tmp_path)
    with pytest.warns(UserWarning):
        m2, _ = W.load_model("tiny-biomoe", device="cpu", fallback="random", seed=3, cache_dir=tmp_path)
    assert info.source == "random-init(seed=3)" and not info.official and info.sha256 is None
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))


def test_load_model_reports_hash(reference_checkpoint):
    import hashlib

    _, info = W.load_model(reference_checkpoint, device="cpu")
    assert info.sha256 == hashlib.sha256(Path(reference_checkpoint).read_bytes()).hexdigest()
    assert info.source == str(reference_checkpoint)


def test_folder_holding_one_pth_loads_and_is_hashed(reference_checkpoint, tmp_path):
    import hashlib
    import shutil

    folder = tmp_path / "w"
    folder.mkdir()
    shutil.copy(reference_checkpoint, folder / "weights.pth")
    model, info = W.load_model(folder, device="cpu")
    assert info.sha256 == hashlib.sha256(reference_checkpoint.read_bytes()).hexdigest()
    raw = torch.load(reference_checkpoint, weights_only=True)["model_state_dict"]
    assert torch.equal(model.ln_out.weight, raw["ln_out.weight"])
