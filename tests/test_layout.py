"""Package layout: every module imports on its own (no circles), the renamed alias still works."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import warnings

import pytest

import tiny_biomoe

MODULES = sorted(m.name for m in pkgutil.walk_packages(tiny_biomoe.__path__, "tiny_biomoe.")
                 if not m.name.endswith("__main__"))


def test_every_module_imports_alone_in_a_fresh_interpreter():
    """Importing any single module first (as a user or a plug-in would) must not hit an import circle."""
    code = ("import importlib, sys, warnings\nwarnings.simplefilter('ignore')\nbad = []\n"
            "for name in sys.argv[1:]:\n"
            "    for m in [k for k in sys.modules if k.startswith('tiny_biomoe')]:\n"
            "        del sys.modules[m]\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except Exception as exc:\n        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
            "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code, *MODULES], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version_comes_from_the_leaf_module():
    from tiny_biomoe._version import __version__
    assert tiny_biomoe.__version__ == __version__
    from importlib.metadata import version
    assert version("tiny-biomoe") == __version__


def test_tasks_alias_warns_and_resolves_to_pain():
    sys.modules.pop("tiny_biomoe.tasks", None)
    with pytest.warns(DeprecationWarning, match="tiny_biomoe.pain"):
        tasks = importlib.import_module("tiny_biomoe.tasks")
    from tiny_biomoe import pain
    from tiny_biomoe.tasks.pipeline import PipelineConfig as Old
    assert tasks.evaluate is pain.evaluate and Old is pain.PipelineConfig
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.import_module("tiny_biomoe.pain")  # the new name is silent
