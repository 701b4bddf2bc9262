"""The example configs ship inside the package (load_config("tiny"/"paper") works outside a checkout),
and the copies in configs/ of the checkout are the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny_biomoe.pretrain.config import load_config, packaged_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["tiny", "paper"])
def test_packaged_config_loads_by_name_and_matches_checkout_copy(name, tmp_path, monkeypatch):
    packaged = packaged_config(name)
    assert packaged.is_file()
    copy = REPO / "configs" / f"pretrain_{name}.yaml"
    assert copy.read_bytes() == packaged.read_bytes(), f"configs/{copy.name} differs from the packaged {name}.yaml"
    monkeypatch.chdir(tmp_path)  # not a checkout: no configs/ folder here
    cfg = load_config(name)
    assert cfg.tasks and cfg == load_config(packaged)


def test_packaged_configs_are_package_data():
    text = (REPO / "pyproject.toml").read_text()
    assert '"**/*.yaml"' in text  # [tool.setuptools.package-data] ships every YAML of the package
