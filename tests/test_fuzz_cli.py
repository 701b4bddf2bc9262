"""A bounded, seeded part of the CLI fuzz sweep (benchmarks/fuzz_cli.py runs all of it and prints the table):
every hostile argument or file gives exit code 0 or 2 with one message, no traceback, no hang, no output left
behind on error and no user file changed."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

from tiny_biomoe.cli import build_parser

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_cli.py"


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_cli", _SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_cli"] = mod  # dataclasses look their module up
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("fuzz_cli", None)


def test_sweep_covers_every_command(fuzz, tmp_path, reference_checkpoint):
    files = fuzz.make_files(tmp_path, reference_checkpoint)
    victims = fuzz.make_victims(tmp_path)
    cases = fuzz.build_cases(tmp_path, files, victims)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    swept = {c.command for c in cases}
    assert set(sub.choices) == swept  # every command, the new ones too
    assert len(cases) > 300
    # the draw is seeded: the same seed gives the same cases
    assert [c.argv for c in fuzz.select(cases, 20, 3)] == [c.argv for c in fuzz.select(cases, 20, 3)]


@pytest.mark.parametrize("commands, n, seed", [
    (["render", "info", "pretrain", "prepare-shards", "bench", "inspect", "completion"], 50, 0),
    (["embed", "predict", "export"], 40, 1),
    (["evaluate", "train", "demo"], 25, 2),
])
def test_no_traceback_hang_or_lost_file(fuzz, reference_checkpoint, commands, n, seed, tmp_path):
    results = fuzz.sweep(reference_checkpoint, n=n, seed=seed, timeout=60, commands=commands, workdir=tmp_path)
    assert len(results) == n
    bad = [(r.outcome, r.case.command, r.case.option, r.case.value[:60], r.detail[:200])
           for r in results if r.outcome in fuzz.BAD]
    assert not bad, fuzz.table(results)
    assert sum(r.outcome == "clean" for r in results) >= n // 2  # the sweep really is hostile


def test_classifier_sees_tracebacks_hangs_lost_files_and_leftovers(fuzz, tmp_path, monkeypatch):
    """The sweep's own check: each kind of defect is reported as such (so a 0 in the table means something)."""
    import time

    import tiny_biomoe.info

    victims = fuzz.make_victims(tmp_path)
    out = tmp_path / "out" / "0000"
    case = fuzz.Case("info", "--device", "cpu", ["info", "--device", "cpu"], out, timeout=0.5)

    def run(fn):
        monkeypatch.setattr(tiny_biomoe.info, "info_text", fn)
        return fuzz.run_case(case, victims, tmp_path)

    assert run(lambda **k: "fine").outcome == "success"
    assert run(lambda **k: 1 / 0).outcome == "traceback"
    assert run(lambda **k: time.sleep(5)).outcome == "hang"

    def leave(**k):
        out.mkdir(parents=True, exist_ok=True)
        (out / "half.npz").write_bytes(b"x")
        raise tiny_biomoe.errors.InputError("bad")

    assert run(leave).outcome == "leftover"

    def destroy(**k):
        Path(victims["file"]).write_text("overwritten")
        return "ok"

    assert run(destroy).outcome == "lost"
