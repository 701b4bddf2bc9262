"""Head loading and training refuse bad input with CheckpointError/ConfigError/DatasetError, never a raw error."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tiny_biomoe.errors import CheckpointError, ConfigError, DatasetError, InputError
from tiny_biomoe.pain.heads import FineTuneConfig, Head, HeadConfig, load_head, save_head, train_head


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    head = Head(8, 3, hidden=4)
    meta = {"classes": ["a", "b", "c"], "windows": {"EDA": {"sampling_rate": 100.0, "window_s": 10.0}}}
    return save_head(head, tmp_path / "h", meta), head


def _edit_json(folder, fn):
    p = folder / "head.json"
    doc = json.loads(p.read_text())
    fn(doc)
    p.write_text(json.dumps(doc))


def test_round_trip_and_weights_hash(saved):
    folder, head = saved
    loaded, meta = load_head(folder)
    for k, v in head.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert meta["classes"] == ["a", "b", "c"]
    doc = json.loads((folder / "head.json").read_text())
    import hashlib

    assert doc["weights_sha256"] == hashlib.sha256((folder / "head.safetensors").read_bytes()).hexdigest()


def test_mixed_pair_from_interrupted_save_is_refused(saved, tmp_path):
    folder, _ = saved
    other = save_head(Head(8, 3, hidden=4), tmp_path / "other", {})
    (folder / "head.safetensors").write_bytes((other / "head.safetensors").read_bytes())  # new weights, old json
    with pytest.raises(CheckpointError, match="not the file head.json was saved with"):
        load_head(folder)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["arch"].update(in_dim=12_000_000), "in_dim must be <="),
    (lambda d: d["arch"].update(in_dim=-3), "in_dim must be >= 1"),
    (lambda d: d["arch"].update(in_dim=8.5), "whole number"),
    (lambda d: d["arch"].update(hidden="big"), "hidden must be a number"),
    (lambda d: d["arch"].update(dropout=float("nan")), "finite"),
    (lambda d: d["arch"].pop("n_classes"), "lacks 'n_classes'"),
    (lambda d: d.update(arch=[1, 2]), "must be a mapping"),
    (lambda d: d["metadata"]["windows"]["EDA"].update(window_s=float("nan")), "window_s must be a finite"),
    (lambda d: d["metadata"]["windows"]["EDA"].update(sampling_rate="100"), "sampling_rate must be a number"),
    (lambda d: d["metadata"].update(classes=["a"]), "has 3 outputs"),
])
def test_bad_head_json(saved, edit, message):
    folder, _ = saved
    _edit_json(folder, edit)
    with pytest.raises(CheckpointError, match=message):
        load_head(folder)


@pytest.mark.parametrize("content, message", [
    (b"", "not valid JSON"),
    (b"\xff\xfe garbage \x00", "not UTF-8"),
    (b"[1, 2]", "not a head description"),
])
def test_garbage_head_json(saved, content, message):
    folder, _ = saved
    (folder / "head.json").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_head(folder)


@pytest.mark.parametrize("content", [b"", b"random bytes " * 50, b"\x08\x00\x00\x00\x00\x00\x00\x00{}"])
def test_garbage_safetensors(saved, content):
    folder, _ = saved
    _edit_json(folder, lambda d: d.pop("weights_sha256"))  # as an old head.json without the hash
    (folder / "head.safetensors").write_bytes(content)
    with pytest.raises(CheckpointError, match="safetensors|do not match"):
        load_head(folder)


def test_missing_or_fifo_files(saved, tmp_path):
    import os

    folder, _ = saved
    (folder / "head.safetensors").unlink()
    with pytest.raises(CheckpointError, match="does not exist"):
        load_head(folder)
    os.mkfifo(folder / "head.safetensors")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_head(folder)  # returns at once instead of blocking on the FIFO


def test_nan_weights_refused_on_save_and_load(saved, tmp_path):
    folder, head = saved
    with torch.no_grad():
        head.net[0].weight[0, 0] = math.nan
    with pytest.raises(ConfigError, match="NaN"):
        save_head(head, tmp_path / "nan")
    assert not (tmp_path / "nan").exists() or not any((tmp_path / "nan").iterdir())
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(folder / "head.safetensors"))
    _edit_json(folder, lambda d: d.pop("weights_sha256"))
    with pytest.raises(CheckpointError, match="NaN or inf"):
        load_head(folder)


def _data(n=24, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    return rng.normal(size=(n, d)).astype(np.float32) + y[:, None], y


def test_training_refuses_data_it_cannot_learn_from():
    x, y = _data()
    with pytest.raises(DatasetError, match="same label"):
        train_head(x, np.zeros_like(y), 3, HeadConfig(kind="logreg"))
    with pytest.raises(DatasetError, match="same label"):
        train_head(x, np.ones_like(y), 3, HeadConfig(max_epochs=2))
    with pytest.raises(ConfigError, match="labels must be in 0..2"):
        train_head(x, y + 1, 3, HeadConfig(kind="logreg"))
    with pytest.raises(ConfigError, match="n_classes"):
        train_head(x, y, 1)
    x[3, 2] = np.nan
    with pytest.raises(InputError, match="NaN or inf"):
        train_head(x, y, 3, HeadConfig(kind="logreg"))


@pytest.mark.parametrize("field, value", [
    ("lr", float("nan")), ("lr", -1.0), ("lr", True), ("weight_decay", float("inf")), ("dropout", 1.0),
    ("C", 0.0), ("seed", -1), ("seed", 2**40), ("batch_size", 0), ("val_fraction", 1.0), ("hidden", 2.5),
])
def test_head_config_settings(field, value):
    x, y = _data()
    with pytest.raises(ConfigError, match=field):
        train_head(x, y, 3, HeadConfig(**{field: value}))


@pytest.mark.parametrize("field, value", [
    ("lr", float("nan")), ("head_lr", -1e-3), ("steps", -1), ("batch_size", 0), ("pretrained", 1), ("seed", -5),
    ("weight_decay", float("nan")), ("precision", "fp16"), ("channels_last", "yes"),
])
def test_finetune_config_settings(field, value):
    with pytest.raises(ConfigError, match=field):
        FineTuneConfig(**{field: value})


@pytest.mark.parametrize("labels", [[0, 1, 3], [-1, 0, 1], [[0], [1], [2]]])
def test_finetune_refuses_labels_outside_the_classes(labels):
    from tiny_biomoe.pain import finetune

    with pytest.raises(ConfigError, match="class indices 0..2"):
        finetune(np.zeros((3, 3, 224, 224), np.float32), labels, 3, FineTuneConfig(steps=1, pretrained=False))
