"""Pretraining configs: YAML alias bombs, non-UTF-8 files, NaN/inf and out-of-range settings are ConfigErrors."""

from __future__ import annotations

import os

import pytest

from tiny_biomoe.errors import ConfigError
from tiny_biomoe.pretrain import load_config
from tiny_biomoe.pretrain.config import _safe_yaml, packaged_config


def _tiny_text() -> str:
    return packaged_config("tiny").read_text(encoding="utf-8")


def test_yaml_alias_bomb_refused_quickly(tmp_path):
    # 9 levels of 9 aliases each: 9**9 (387 million) strings if expanded; a few hundred bytes on disk
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("tasks: *i")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config(p)
    with pytest.raises(ConfigError, match="alias bomb"):
        load_config("tiny", ["tasks.0.render_params=" + "; ".join(lines).replace("; ", "\n")])


def test_a_few_aliases_still_work_and_recursion_is_refused():
    assert _safe_yaml(b"a: &x [1, 2]\nb: *x\n", "t") == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(ConfigError, match="refers to itself"):
        _safe_yaml(b"a: &x [1, *x]\n", "t")


def test_deep_structure_in_a_message_is_short(tmp_path):
    p = tmp_path / "deep.yaml"
    p.write_text(_tiny_text() + "\nloss: {weighting: " + "[" * 50 + "1" + "]" * 50 + "}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert len(str(exc.value)) < 400


def test_latin1_byte_is_a_clear_error(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes(b"# r\xe9glages\n" + _tiny_text().encode())
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 on line 1"):
        load_config(p)


@pytest.mark.parametrize("override, message", [
    ("optim.weight_decay=.nan", "finite"),
    ("optim.lr=.inf", "finite"),
    ("optim.grad_clip=.nan", "finite"),
    ("optim.grad_clip=0", "grad_clip must be > 0"),
    ("optim.weight_decay=-1", "weight_decay must be >= 0"),
    ("optim.betas=[0.9, 1.5]", "betas"),
    ("optim.head_lr_scale=0", "head_lr_scale"),
    ("sampling.temperature=.nan", "finite"),
    ("tasks.0.window.length_s=1.0e+308", "length_s must be <="),
    ("tasks.0.weight=.inf", "finite"),
    ("train.seed=-1", "train.seed must be >= 0"),
    ("train.num_threads=0", "num_threads"),
])
def test_nan_inf_and_ranges(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("tiny", [override])


def test_fifo_config_refused(tmp_path):
    p = tmp_path / "cfg.yaml"
    os.mkfifo(p)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(p)
