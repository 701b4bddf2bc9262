"""The CLI's error and output conventions: exit code 2 with one line (traceback only with --debug), outputs
checked before any work, no replacement without --force, defaults in --help, -q/-v logging, --json."""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import warnings

import numpy as np
import pytest

from tiny_biomoe import cli
from tiny_biomoe.cli import build_parser, main
from tiny_biomoe.errors import SignalError


@pytest.fixture()
def csv_file(tmp_path):
    t = np.arange(2500) / 100.0
    p = tmp_path / "rec.csv"
    np.savetxt(p, np.c_[t, 2 + 0.1 * np.sin(t)], delimiter=",", header="time,eda", comments="")
    return p


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.read_bytes() if p.is_file() else b"") for p in folder.rglob("*"))


@pytest.fixture()
def no_work(monkeypatch):
    """Fail the test if a command starts its work (reading, rendering, embedding, evaluating)."""
    def boom(*a, **k):
        raise AssertionError("work started before the arguments/outputs were checked")

    import tiny_biomoe.embed
    import tiny_biomoe.pain.demo
    import tiny_biomoe.pain.run
    import tiny_biomoe.previews

    for mod, name in [(tiny_biomoe.previews, "render_file"), (tiny_biomoe.embed, "embed_file"),
                      (tiny_biomoe.pain.demo, "run_demo"), (tiny_biomoe.pain.run, "run_evaluation"),
                      (tiny_biomoe.pain.run, "run_training")]:
        monkeypatch.setattr(mod, name, boom)


@pytest.mark.parametrize("opt, value, message", [
    ("--window", "nan", "--window must be a finite number"),
    ("--stride", "inf", "--stride must be a finite number"),
    ("--window", "1e308", "--window must be <="),
    ("--stride", "-1", "--stride must be > 0"),
    ("--fs", "1e9", "not plausible"),
    ("--max-windows", "0", "--max-windows must be >= 1"),
])
def test_bad_numbers_refused_before_work(opt, value, message, csv_file, tmp_path, capsys, no_work):
    before = _tree(tmp_path)
    assert main(["render", str(csv_file), "--modality", "eda", opt, value, "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("argv, message", [
    (["demo", "--seed", "-1"], "--seed must be >= 0"),
    (["demo", "--seed", str(2**40)], "--seed must be <="),
    (["evaluate", "--dataset", "synthetic", "--lr", "nan"], "--lr must be a finite number"),
    (["evaluate", "--dataset", "synthetic", "--lr=-1e-3"], "--lr must be > 0"),
    (["evaluate", "--dataset", "synthetic", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["evaluate", "--dataset", "synthetic", "--folds", "1"], "--folds must be >= 2"),
])
def test_bad_settings_of_pain_commands(argv, message, tmp_path, capsys, no_work):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_output_checks_before_any_work(csv_file, tmp_path, capsys, no_work):
    victim = tmp_path / "victim.csv"
    victim.write_text("a user's data\n")
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    before = _tree(tmp_path)
    cases = [
        (["render", str(csv_file), "--modality", "eda", "-o", ""], "output name is empty"),
        (["render", str(csv_file), "--modality", "eda", "-o", str(victim)], "not a folder"),
        (["render", str(csv_file), "--modality", "eda", "-o", str(folder)], "--force"),
        (["embed", str(csv_file), "--modality", "eda", "-o", str(victim / "x.npz")], "is a file, not a folder"),
        (["embed", str(csv_file), "--modality", "eda", "-o", str(folder)], "must end in .npz"),
        (["embed", str(csv_file), "--modality", "eda", "-o", str(tmp_path / "d.npz")], None),  # made below
        (["embed", str(csv_file), "--modality", "eda", "-o", "/proc/emb.npz"], "cannot create files"),
        (["evaluate", "--dataset", "synthetic", "--out", str(victim)], "not a folder"),
        (["evaluate", "--dataset", "synthetic", "--out", str(folder)], "already exists"),
        (["demo", "--out", str(folder), "--force", "--out", str(victim)], "not a folder"),
        (["demo", "--out", str(folder)], "pass --force"),
        (["train", "--dataset", "synthetic", "--out", str(folder)], "already exists"),
        (["predict", "--head", str(folder), str(csv_file), "-o", str(victim)], "already exists"),
        (["export", "-o", str(tmp_path / ("x" * 300 + ".onnx"))], "too long"),
    ]
    (tmp_path / "d.npz").mkdir()
    cases[5] = (cases[5][0], "existing folder")
    before = _tree(tmp_path)
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    assert _tree(tmp_path) == before  # nothing written, nothing replaced


def test_force_allows_replacing_our_previous_output(csv_file, tmp_path, capsys):
    out = tmp_path / "prev"
    assert main(["render", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
                 "-o", str(out)]) == 0
    first = _tree(out)
    assert main(["render", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
                 "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and _tree(out) == first
    assert main(["render", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
                 "-o", str(out), "--force"]) == 0
    assert _tree(out) == first  # same command, same bytes


def test_errors_of_ours_debug_and_internal_errors(monkeypatch, capsys):
    import tiny_biomoe.info

    def ours(**k):
        raise SignalError("the signal is bad; use a good one")

    monkeypatch.setattr(tiny_biomoe.info, "info_text", ours)
    assert main(["info"]) == 2
    assert capsys.readouterr().err == "biomoe info: error: the signal is bad; use a good one\n"
    with pytest.raises(SignalError):
        main(["info", "--debug"])
    with pytest.raises(SignalError):
        main(["--debug", "info"])

    def bug(**k):
        return 1 / 0

    monkeypatch.setattr(tiny_biomoe.info, "info_text", bug)
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "--debug" in err and "Traceback" not in err

    def disk(**k):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(tiny_biomoe.info, "info_text", disk)
    assert main(["info"]) == 2
    assert "system error" in capsys.readouterr().err


def test_full_disk_during_embed_clear_error_no_partial_file(csv_file, tmp_path, reference_checkpoint, monkeypatch,
                                                            capsys):
    real = np.savez

    def full(fh, *a, **k):
        real(fh, *a, **k)  # bytes went out, then the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    out = tmp_path / "out" / "e.npz"
    rc = main(["embed", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
               "--weights", str(reference_checkpoint), "--device", "cpu", "--no-progress", "-o", str(out)])
    assert rc == 2
    assert "disk is full" in capsys.readouterr().err
    assert not out.exists() and os.listdir(out.parent) == []


def test_help_shows_every_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        text = p.format_help()
        for a in p._actions:
            if not a.option_strings or a.default in (None, False, argparse.SUPPRESS) or a.help is None:
                continue
            if isinstance(a, argparse._HelpAction):
                continue
            shown = p._get_formatter()._get_help_string(a)
            assert "default" in shown.lower(), (name, a.option_strings)
        assert "--force" in text or name not in cli._OUTPUTS
    assert "(default: auto)" in " ".join(sub.choices["embed"].format_help().split())


def test_evaluate_uses_the_python_default_protocol(monkeypatch, tmp_path):
    import tiny_biomoe.pain.run
    from tiny_biomoe.pain import PipelineConfig

    seen = {}

    def fake(ds, cfg, out, **k):
        seen["protocol"] = cfg.protocol
        raise SignalError("stop here")

    monkeypatch.setattr(tiny_biomoe.pain.run, "run_evaluation", fake)
    assert main(["evaluate", "--dataset", "synthetic", "--out", str(tmp_path / "e")]) == 2
    assert seen["protocol"] == PipelineConfig().protocol
    assert main(["evaluate", "--dataset", "synthetic", "--protocol", "loso", "--out", str(tmp_path / "e")]) == 2
    assert seen["protocol"] == "loso"


def test_quiet_verbose_logging_and_one_line_warnings(monkeypatch, capsys):
    import tiny_biomoe.info

    def chatty(**k):
        logging.getLogger("tiny_biomoe.test").info("an info line")
        logging.getLogger("tiny_biomoe.test").debug("a debug line")
        logging.getLogger("tiny_biomoe.test").warning("a warning")
        return warnings.formatwarning("careful", UserWarning, "/x/y.py", 3, "warnings.warn('careful')")

    monkeypatch.setattr(tiny_biomoe.info, "info_text", chatty)
    assert main(["info"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "warning: careful (UserWarning)\n\n"  # one line, no source line, no file name
    assert "an info line" in cap.err and "a debug line" not in cap.err and "a warning" in cap.err
    assert main(["info", "-q"]) == 0
    err = capsys.readouterr().err
    assert "an info line" not in err and "a warning" in err
    assert main(["-v", "info"]) == 0
    assert "a debug line" in capsys.readouterr().err
    assert not logging.getLogger("tiny_biomoe").handlers  # main leaves logging as it found it


def test_embed_json_summary(csv_file, tmp_path, reference_checkpoint, capsys):
    out = tmp_path / "e.npz"
    assert main(["embed", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--window", "10",
                 "--max-windows", "2", "--weights", str(reference_checkpoint), "--device", "cpu", "--no-progress",
                 "-o", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["output"] == str(out) and doc["windows"] == 2 and doc["kinds"] == ["waveform"]
    assert doc["embed_dim"] == 192 and doc["starts_s"] == [0.0, 10.0]


@pytest.mark.parametrize("device", ["xla", "meta", "cpu:3", "cuda:7", "mps"])
def test_unsupported_devices_are_clear_errors(device, capsys):
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    if device == "mps" and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    assert main(["info", "--device", device]) == 2
    err = capsys.readouterr().err
    assert f"device {device!r}" in err and "Traceback" not in err


def test_empty_kinds_and_sub_sample_stride(csv_file, tmp_path, capsys):
    assert main(["render", str(csv_file), "--modality", "eda", "--kinds", ",", "-o", str(tmp_path / "r")]) == 2
    assert "names no representation kind" in capsys.readouterr().err
    assert main(["render", str(csv_file), "--modality", "eda", "--stride", "1e-9", "-o", str(tmp_path / "r")]) == 2
    assert "shorter than one sample" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_killed_run_temporaries_removed_by_next_run_and_umask_modes(csv_file, tmp_path):
    import stat
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)
    stale = tmp_path / f".prev.p{dead}.k1ll3d.tmp"  # what a render killed mid-way leaves beside its output
    (stale / "waveform").mkdir(parents=True)
    (stale / "waveform" / "window_0000.png").write_bytes(b"half")
    old = os.umask(0o027)
    try:
        assert main(["render", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
                     "-o", str(tmp_path / "prev")]) == 0
    finally:
        os.umask(old)
    assert not stale.exists()
    assert stat.S_IMODE(os.stat(tmp_path / "prev").st_mode) == 0o750
    png = next((tmp_path / "prev" / "waveform").iterdir())
    assert stat.S_IMODE(os.stat(png).st_mode) == 0o640  # as any new file under this umask, not 0600


@pytest.mark.parametrize("magic", [b"", b"\x80\x02", b"PK\x03\x04"], ids=["random", "pickle-header", "zip-header"])
@pytest.mark.parametrize("command", ["embed", "export"])
def test_random_bytes_as_weights_exit_2_with_clear_message(magic, command, csv_file, tmp_path, capsys):
    """Random bytes (seeded), also behind a pickle or zip magic, are a corrupt file, not 'arbitrary code'."""
    weights = tmp_path / "random.pth"
    weights.write_bytes(magic + np.random.default_rng(0).bytes(4096))
    if command == "embed":
        out = tmp_path / "e.npz"
        argv = ["embed", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
                "--weights", str(weights), "--device", "cpu", "--no-progress", "-o", str(out)]
    else:
        out = tmp_path / "m.onnx"
        argv = ["export", "--weights", str(weights), "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "arbitrary code" not in err
    assert str(weights) in err and ("not a PyTorch/safetensors checkpoint" in err or "truncated or corrupt" in err)
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("value", ["", ",,", " , "])
def test_bench_sections_naming_nothing_refused(value, capsys, monkeypatch):
    """An empty --sections is a refusal (like an empty --kinds), not a full benchmark run."""
    import tiny_biomoe._bench

    monkeypatch.setattr(tiny_biomoe._bench, "run_benchmarks", lambda *a, **k: pytest.fail("benchmark started"))
    assert main(["bench", "--quick", "--sections", value]) == 2
    err = capsys.readouterr().err
    assert "names no section" in err and "Traceback" not in err


def test_rate_and_window_options_take_both_spellings_in_every_command():
    """--fs and --sampling-rate, --window and --window-s: each command takes both, with one meaning."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    pairs = (("--fs", "--sampling-rate"), ("--window", "--window-s"))
    for name, p in sub.choices.items():
        opts = {o: a.dest for a in p._actions for o in a.option_strings}
        for a, b in pairs:
            assert (a in opts) == (b in opts), (name, a, b)
            if a in opts:
                assert opts[a] == opts[b], (name, a, b)
    assert {"--fs", "--window"} <= set(sub.choices["embed"]._option_string_actions)
    assert {"--fs", "--window"} <= set(sub.choices["evaluate"]._option_string_actions)
    assert parser.parse_args(["inspect", "x.csv", "--sampling-rate", "64"]).fs == 64
    assert parser.parse_args(["predict", "--head", "h", "--dataset", "ai4pain", "--fs", "100"]).fs == 100
    args = parser.parse_args(["evaluate", "--dataset", "synthetic", "--fs", "100", "--window", "8"])
    assert (args.sampling_rate, args.window_s) == (100, 8)
