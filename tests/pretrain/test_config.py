"""Config tree: YAML loading, strict keys, clear ConfigError messages, packaged and documented configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tiny_biomoe.errors import ConfigError
from tiny_biomoe.pretrain import PretrainConfig, config_from_dict, config_to_dict, load_config, packaged_config

from ._util import tiny_config_dict

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_round_trip_through_yaml(tmp_path):
    data = tiny_config_dict(tmp_path)
    cfg = load_config(_write(tmp_path, data))
    assert isinstance(cfg, PretrainConfig)
    assert [t.name for t in cfg.tasks] == ["bvp_cls", "eda_reg"]
    assert cfg.tasks[1].target == "regression" and cfg.train.batch_size == 2
    again = config_from_dict(config_to_dict(cfg))
    assert config_to_dict(again) == config_to_dict(cfg)


def test_unknown_key_names_its_path_and_the_allowed_keys(tmp_path):
    data = tiny_config_dict(tmp_path)
    data["tasks"][1]["window"]["lenght_s"] = 3
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, data))
    msg = str(e.value)
    assert "tasks[1].window" in msg and "lenght_s" in msg and "length_s" in msg


def test_missing_required_key(tmp_path):
    data = tiny_config_dict(tmp_path)
    del data["tasks"][0]["modality"]
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.modality: required key is missing"):
        load_config(_write(tmp_path, data))
    with pytest.raises(ConfigError, match="tasks"):
        config_from_dict({"train": {}})


@pytest.mark.parametrize(
    "path, value, pattern",
    [
        (("train", "steps"), "many", r"train\.steps: expected an integer"),
        (("train", "precision"), "fp8", r"train\.precision: 'fp8' is not allowed"),
        (("sampling", "strategy"), "greedy", r"sampling\.strategy"),
        (("sampling", "temperature"), 0, r"sampling\.temperature: must be > 0"),
        (("train", "batch_size"), 0, r"train\.batch_size: must be >= 1"),
        (("schedule", "warmup_steps"), 99, r"schedule\.warmup_steps"),
    ],
)
def test_bad_values(tmp_path, path, value, pattern):
    data = tiny_config_dict(tmp_path)
    data[path[0]][path[1]] = value
    if path == ("sampling", "temperature"):
        data["sampling"]["strategy"] = "temperature"
    with pytest.raises(ConfigError, match=pattern):
        load_config(_write(tmp_path, data))


def test_task_level_checks(tmp_path):
    data = tiny_config_dict(tmp_path)
    data["tasks"][1]["name"] = "bvp_cls"
    with pytest.raises(ConfigError, match="unique"):
        config_from_dict(data)
    data = tiny_config_dict(tmp_path)
    data["tasks"][0]["source"] = {"format": "wfdb", "path": "x"}
    with pytest.raises(ConfigError, match="labels_file"):
        config_from_dict(data)


def test_unknown_modality_and_representation(tmp_path):
    data = tiny_config_dict(tmp_path)
    data["tasks"][0]["representations"] = ["waveform", "scalogram"]
    with pytest.raises(ConfigError, match=r"tasks\[0\]\.representations: unknown kind\(s\) \['scalogram'\]"):
        config_from_dict(data)
    data = tiny_config_dict(tmp_path)
    data["tasks"][1]["modality"] = "fnirs"
    with pytest.raises(ConfigError, match=r"tasks\[1\]\.modality: unknown modality 'fnirs'"):
        config_from_dict(data)


def test_overrides_and_missing_file(tmp_path):
    p = _write(tmp_path, tiny_config_dict(tmp_path))
    cfg = load_config(p, ["train.steps=7", "tasks.1.weight=2.5"])
    assert cfg.train.steps == 7 and cfg.tasks[1].weight == 2.5
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(p, ["train.steps"])
    with pytest.raises(ConfigError, match="'x' is not a valid list index"):
        load_config(p, ["tasks.x=1"])
    with pytest.raises(ConfigError, match="'9' is not a valid list index"):
        load_config(p, ["tasks.9=1"])
    with pytest.raises(ConfigError, match="below a plain value"):
        load_config(p, ["train.steps.x=1"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(tmp_path / "empty.yaml")


def test_shipped_configs_load():
    tiny = load_config("tiny")
    assert tiny.tasks and all(t.source.format == "synthetic" for t in tiny.tasks)
    assert packaged_config("tiny").read_text() == (REPO / "configs" / "pretrain_tiny.yaml").read_text()
    paper = load_config(REPO / "configs" / "pretrain_paper.yaml")
    assert {t.modality for t in paper.tasks} == {"ecg", "emg", "eeg"}
    assert {t.source.format for t in paper.tasks} <= {"wfdb", "edf", "csv"}
