"""The small public API re-exported from tiny_biomoe resolves to the real objects."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import tiny_biomoe


@pytest.mark.parametrize("name", [n for n in tiny_biomoe.__all__ if n != "__version__"])
def test_every_public_name_resolves(name):
    obj = getattr(tiny_biomoe, name)
    module_name, _, attr = tiny_biomoe._EXPORTS[name].partition(":")
    assert obj is getattr(importlib.import_module(module_name, "tiny_biomoe"), attr or name)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tiny_biomoe.nope  # noqa: B018


def test_import_does_not_load_torch():
    code = "import sys, tiny_biomoe, tiny_biomoe.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
