"""Checkpoint formats, strict loading, round trips, safety and resolution of weights."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from tiny_biomoe import CheckpointError, TinyBioMoE, WeightsNotFoundError
from tiny_biomoe.model import provenance as W  # load_model, WeightsInfo, resolve_weights (network-verified)
from tiny_biomoe.model import weights as F  # files and locations


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
    with pytest.raises(CheckpointError, match="not a (readable )?PyTorch"):
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
    cached = cache / F.OFFICIAL_FILENAME
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
    assert str(tmp_path / F.OFFICIAL_FILENAME) in msg
    assert "TINY_BIOMOE_WEIGHTS" in msg and F.OFFICIAL_URL in msg
    assert not any(tmp_path.iterdir()), "a failed download must leave nothing behind"


def test_download_is_verified_then_cached(reference_checkpoint, tmp_path):
    cache = tmp_path / "cache"
    path = W.resolve_weights("tiny-biomoe", cache_dir=cache, url=reference_checkpoint.as_uri())
    assert path == cache / F.OFFICIAL_FILENAME
    assert path.read_bytes() == reference_checkpoint.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == [F.OFFICIAL_FILENAME, F.OFFICIAL_FILENAME + ".download.json"]


def test_download_of_wrong_file_is_not_cached(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"model_state_dict": {"w": torch.zeros(2)}}, bad)
    cache = tmp_path / "cache"
    with pytest.raises(WeightsNotFoundError, match="not a valid checkpoint"):
        W.resolve_weights("tiny-biomoe", cache_dir=cache, url=bad.as_uri())
    assert not (cache / F.OFFICIAL_FILENAME).exists()
    assert not any(cache.iterdir())


def test_load_model_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_BIOMOE_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError):
        W.load_model("tiny-biomoe", device="cpu", cache_dir=tmp_path)
    with pytest.warns(UserWarning, match="RANDOMLY INITIALISED"):
        m1, info = W.load_model("tiny-biomoe", device="cpu", fallback="random", seed=3, cache_dir=tmp_path)
    with pytest.warns(UserWarning):
        m2, _ = W.load_model("tiny-biomoe", device="cpu", fallback="random", seed=3, cache_dir=tmp_path)
    assert info.kind == "random-init" and info.seed == 3 and info.init == "original"
    assert info.source.startswith("random-init") and not info.official and info.sha256 is None
    rec = info.as_dict()
    assert {k: rec[k] for k in ("kind", "seed", "init")} == {"kind": "random-init", "seed": 3, "init": "original"}
    assert W.WeightsInfo.from_dict(json.loads(json.dumps(rec))) == info
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))


def test_load_model_reports_hash(reference_checkpoint):
    import hashlib

    model, info = W.load_model(reference_checkpoint, device="cpu")
    assert info.sha256 == hashlib.sha256(Path(reference_checkpoint).read_bytes()).hexdigest()
    assert info.source == str(reference_checkpoint) and info.kind == "explicit-path" and not info.official
    assert info.tensors_sha256 == F.tensors_sha256(torch.load(reference_checkpoint, weights_only=True)["model_state_dict"])


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


# ---------------------------------------------------------------- hardening (issue 15)
def test_random_bytes_are_not_a_checkpoint_and_never_called_code(tmp_path):
    """Random bytes under any name: one clear message, never 'would run arbitrary code'."""
    import numpy as np

    rng = np.random.default_rng(0)
    for i, name in enumerate(["w.pth", "w.pt", "model.safetensors", "weights.bin"] * 3):
        p = tmp_path / f"{i}-{name}"
        data = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        if i % 4 == 3:
            data = b"\x80\x04" + data  # looks like a pickle: torch reads it and fails
        p.write_bytes(data)
        with pytest.raises(CheckpointError) as err:
            F.load_checkpoint(p)
        msg = str(err.value)
        assert "arbitrary code" not in msg
        assert ("not a PyTorch/safetensors checkpoint" in msg) or ("not a readable PyTorch checkpoint" in msg), msg


def test_format_is_recognised_from_content_not_name(reference_checkpoint, tmp_path):
    p = tmp_path / "really-a-torch-file.safetensors"
    p.write_bytes(reference_checkpoint.read_bytes())
    assert F.checkpoint_format(p) == "torch-zip"
    state, _ = F.load_checkpoint(p)
    assert "ln_out.weight" in state


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_non_finite_weights_are_refused_and_named(reference_checkpoint, tmp_path, fmt):
    raw = dict(torch.load(reference_checkpoint, weights_only=True)["model_state_dict"])
    raw["fcn.1.weight"] = raw["fcn.1.weight"].clone()
    raw["fcn.1.weight"][3, 4] = float("nan")
    raw["ln_out.bias"] = raw["ln_out.bias"].clone()
    raw["ln_out.bias"][0] = float("inf")
    if fmt == "pth":
        p = tmp_path / "nan.pth"
        torch.save({"model_state_dict": raw}, p)
    else:  # written with the library directly (save_pretrained refuses such weights)
        from safetensors.torch import save_file

        p = tmp_path / "nan.safetensors"
        save_file({k: v.contiguous() for k, v in raw.items()}, str(p))
    with pytest.raises(CheckpointError, match="NaN or inf") as err:
        TinyBioMoE.from_pretrained(p)
    assert "fcn.1.weight" in str(err.value) and "ln_out.bias" in str(err.value) and "2 tensor(s)" in str(err.value)


def test_save_refuses_non_finite_weights(tmp_path):
    model = TinyBioMoE()
    with torch.no_grad():
        model.ln_e.weight[0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN or inf"):
        model.save_pretrained(tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_folder_without_config_is_refused_unless_asked(reference_checkpoint, tmp_path):
    model = TinyBioMoE.from_pretrained(reference_checkpoint)
    folder = model.save_pretrained(tmp_path / "m", metadata={"x": 1})
    (folder / "config.json").unlink()  # what a kill between the two files left behind
    for src in (folder, folder / "model.safetensors"):
        with pytest.raises(CheckpointError, match="no config.json"):
            TinyBioMoE.from_pretrained(src)
    again = TinyBioMoE.from_pretrained(folder, require_config=False)
    assert torch.equal(again.ln_out.weight, model.ln_out.weight)
    assert "metadata" not in again.pretrained_cfg


def test_save_pretrained_is_byte_reproducible_and_records_the_tensors_hash(reference_checkpoint, tmp_path):
    model = TinyBioMoE.from_pretrained(reference_checkpoint)
    meta = {"b": 1, "a": {"z": 2, "y": [1, 2]}, "representations": ["waveform"]}
    a = model.save_pretrained(tmp_path / "a", metadata=meta)
    b = model.save_pretrained(tmp_path / "b", metadata=dict(reversed(list(meta.items()))))
    names = sorted(p.name for p in a.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors"] == sorted(p.name for p in b.iterdir())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    # header: metadata first, keys sorted; the tensors hash equals that of the official file's tensors
    import struct

    raw = (a / "model.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    assert next(iter(header)) == "__metadata__" and list(header["__metadata__"]) == sorted(header["__metadata__"])
    official = torch.load(reference_checkpoint, weights_only=True)["model_state_dict"]
    cfg = json.loads((a / "config.json").read_text())
    assert cfg["tensors_sha256"] == header["__metadata__"]["tensors_sha256"] == F.tensors_sha256(official)
    # an independent recomputation of the hash (sorted names, dtype, shape, raw bytes)
    import hashlib

    h = hashlib.sha256()
    for k in sorted(official):
        t = official[k].contiguous()
        h.update(f"{k}\0{str(t.dtype)[6:]}\0{list(t.shape)}\0".encode())
        h.update(t.numpy().tobytes())
    assert cfg["tensors_sha256"] == h.hexdigest()
    # saving into an existing folder gives the same bytes again
    model.save_pretrained(a, metadata=meta)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


def test_tensors_that_do_not_match_their_recorded_hash_are_refused(reference_checkpoint, tmp_path):
    model = TinyBioMoE.from_pretrained(reference_checkpoint)
    folder = model.save_pretrained(tmp_path / "m")
    other = TinyBioMoE()
    other.save_pretrained(tmp_path / "o")
    # new weights beside the old config (a kill between the two files of an update)
    (folder / "model.safetensors").write_bytes((tmp_path / "o" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="do not match the hash"):
        TinyBioMoE.from_pretrained(folder)
    # a flipped byte in the data section
    data = bytearray((tmp_path / "o" / "model.safetensors").read_bytes())
    data[-5] ^= 0x01
    (tmp_path / "o" / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        TinyBioMoE.from_pretrained(tmp_path / "o")


def test_saved_folder_is_written_whole(tmp_path, monkeypatch):
    """A failure while writing a new folder leaves no folder (and no temporary) behind."""
    model = TinyBioMoE()

    def boom(cfg):
        raise OSError("disk full")

    monkeypatch.setattr(F, "model_card", boom)
    with pytest.raises(OSError):
        model.save_pretrained(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_config_that_is_not_json_or_not_utf8(reference_checkpoint, tmp_path):
    folder = TinyBioMoE.from_pretrained(reference_checkpoint).save_pretrained(tmp_path / "m")
    for content in (b"\xff\xfe not utf8", b"[1, 2]", b"{broken"):
        (folder / "config.json").write_bytes(content)
        with pytest.raises(CheckpointError, match="config.json"):
            TinyBioMoE.from_pretrained(folder)


def test_stale_temporaries_of_killed_saves_are_removed(tmp_path):
    import os
    import time

    stale, fresh = tmp_path / ".m.abc123.tmp", tmp_path / ".m.def456.tmp"
    for p in (stale, fresh):
        p.mkdir()
        (p / "model.safetensors").write_bytes(b"partial")
    old = time.time() - 2 * F.STALE_AFTER_S
    os.utime(stale, (old, old))
    TinyBioMoE().save_pretrained(tmp_path / "m")
    assert not stale.exists() and fresh.exists()  # a fresh one may belong to a save still running
    assert (tmp_path / "m" / "config.json").is_file()


def test_a_users_readme_in_an_existing_folder_is_not_replaced(tmp_path):
    (tmp_path / "README.md").write_text("# my project\n")
    model = TinyBioMoE()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "README.md").read_text() == "# my project\n"
    assert (tmp_path / "config.json").is_file() and (tmp_path / "model.safetensors").is_file()
    (tmp_path / "README.md").unlink()
    model.save_pretrained(tmp_path)  # no README there: the card is written, and replaced on the next save
    assert (tmp_path / "README.md").read_text().startswith("---\nlibrary_name: tiny-biomoe")
    model.save_pretrained(tmp_path, metadata={"finetune": {}})
    assert "Fine-tuned" in (tmp_path / "README.md").read_text()
