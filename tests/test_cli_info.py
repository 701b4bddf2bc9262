"""`biomoe info` and the CLI's error convention."""

from __future__ import annotations

import subprocess
import sys

from tiny_biomoe import __version__
from tiny_biomoe.cli import main


def test_info_prints_version_params_device_and_locations(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TINY_BIOMOE_WEIGHTS", str(tmp_path / "w.pth"))
    assert main(["info", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"tiny-biomoe {__version__}" in out
    assert "7,337,278" in out
    assert "device: cpu" in out
    assert str(tmp_path / "w.pth") in out and "[missing]" in out
    assert "releases/latest/download/Tiny-BioMoE.pth" in out


def test_bad_device_exits_2(capsys):
    assert main(["info", "--device", "cuda:7"]) == 2 or __import__("torch").cuda.is_available()
    assert "error" in capsys.readouterr().err


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "tiny_biomoe.cli", "--version"], capture_output=True, text=True, check=True)
    assert __version__ in out.stdout


def test_entry_point_freezes_the_imports_for_the_garbage_collector_and_in_process_calls_do_not():
    # As the process's entry point (main() reads sys.argv) the CLI moves its imports out of the collector's
    # view (gc.freeze: no walk over ~300 000 long-lived objects per full collection and at exit) ...
    code = ("import gc, sys; from tiny_biomoe.cli import main; sys.argv = ['biomoe', 'info', '--device', 'cpu']; "
            "rc = main(); print(rc, gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[-2] == "0" and int(out[-1]) > 10_000
    # ... but never when called from Python (a notebook, these tests): frozen objects are never collected
    import gc

    before = gc.get_freeze_count()
    assert main(["info", "--device", "cpu"]) == 0
    assert gc.get_freeze_count() == before
