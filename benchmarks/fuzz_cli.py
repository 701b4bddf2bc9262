"""A seeded sweep of bad arguments and hostile files over every ``biomoe`` command; prints the outcome table.

Each case is a valid base command with ONE argument replaced by a hostile value (non-finite, negative,
absurdly large, not a number, an empty name; a hostile file: empty, truncated, complex, a zip bomb, a
YAML alias bomb, a FIFO, a folder, Latin-1 bytes, a head with a giant size...; a hostile output: an
existing user file or folder, ``/proc``, a parent that is a file, a name too long). Every case is run in
this process with ``tiny_biomoe.cli.main`` and classified:

* ``clean`` - exit code 2, one message, no traceback (what a bad input must give);
* ``success`` - exit code 0 (the value was acceptable, e.g. a tiny but valid stride);
* ``traceback`` - an exception escaped ``main``, or exit code 1 (an internal error: a bug);
* ``system`` - exit code 2 through the OSError fallback ("system error"), i.e. a check is missing;
* ``hang`` - still running after the timeout;
* ``lost`` - a user file or folder was changed or removed;
* ``leftover`` - a failed case left an output or a temporary file behind.

Done means 0 in the last five columns. Run::

    python benchmarks/fuzz_cli.py                # the full sweep (a few minutes on 2 cores)
    python benchmarks/fuzz_cli.py --cases 80 --seed 1 --show bad

``tests/test_fuzz_cli.py`` runs a bounded subset of the same sweep.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import signal
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

OUTCOMES = ("clean", "success", "traceback", "system", "hang", "lost", "leftover")
BAD = OUTCOMES[2:]

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e308", "-1e308", "abc", "", "1e-9", "99999999999999999999"]
INTS = ["nan", "-1", "0", "1.5", "abc", "", "99999999999999999999", str(2**63)]


@dataclass
class Case:
    command: str
    option: str
    value: str
    argv: list[str]
    out_dir: Path
    #: commands whose success is slow (a full run) are given this many seconds before counting as a hang
    timeout: float = 60.0


@dataclass
class Result:
    case: Case
    outcome: str
    rc: int | None
    detail: str = ""
    flags: list[str] = field(default_factory=list)


class _Timeout(BaseException):
    pass


# ----------------------------------------------------------------------------- hostile files
def make_files(root: Path, reference_checkpoint: Path) -> dict[str, str]:
    """Write the inputs of the sweep under ``root``; return name -> path."""
    inp = root / "in"
    inp.mkdir(parents=True)
    f: dict[str, str] = {}

    def put(name: str, data: bytes | str) -> str:
        p = inp / name
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        f[name] = str(p)
        return str(p)

    t = np.arange(1200) / 20.0
    good = "time_s,eda\n" + "".join(f"{a:.3f},{2 + 0.1 * np.sin(a):.5f}\n" for a in t)
    put("good.csv", good)
    put("nofs.csv", "eda\n" + "".join(f"{2 + 0.1 * np.sin(a):.5f}\n" for a in t))
    put("empty.csv", b"")
    put("header_only.csv", "time,eda\n")
    put("nan.csv", "time,eda\n" + "".join(f"{a:.3f},nan\n" for a in t))
    put("const.csv", "time,eda\n" + "".join(f"{a:.3f},1.0\n" for a in t))
    put("latin1.csv", b"time,\xe9da\n" + "".join(f"{a:.3f},{2 + np.sin(a):.4f}\n" for a in t).encode())
    put("binary.csv", bytes(range(256)) * 20)
    put("backwards_time.csv", "time,eda\n" + "".join(f"{-a:.3f},{np.sin(a):.4f}\n" for a in t))
    put("empty.npy", b"")
    put("empty.npz", b"")
    buf = io.BytesIO()
    np.save(buf, np.sin(np.arange(6000) / 9.0))
    put("npy_as.npz", buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, np.arange(6000) * (1 + 1j))
    put("complex.npy", buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, np.array(["a", "b", "c"]))
    put("strings.npy", buf.getvalue())
    from numpy.lib import format as npf

    buf = io.BytesIO()
    npf.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (200_000_000_000,)})
    put("huge_header.npy", buf.getvalue() + bytes(64))
    bomb = inp / "zipbomb.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("eda.npy", "w", force_zip64=True) as fh:
            npf.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (12_500_000,)})
            for _ in range(100):
                fh.write(bytes(2**20))
    f["zipbomb.npz"] = str(bomb)
    put("garbage.edf", b"0       garbage edf header" + bytes(300))
    put("labchart_header_only.txt", "Interval=\t0.01 s\nChannelTitle=\tEDA\n")
    put("labchart_bad_interval.txt", "Interval=\t-1 s\nChannelTitle=\tEDA\n0\t1\n0.01\t2\n")
    put("labchart_huge_pause.txt", "Interval=\t0.001 s\nExcelDateTime=\t1\nChannelTitle=\tEDA\n0\t1\n"
        "Interval=\t0.001 s\nExcelDateTime=\t90000\nChannelTitle=\tEDA\n0\t1\n")
    put("garbage.avro", b"Obj\x01" + bytes(300))
    put("utf16_odd.csv", "time,eda\n0,1\n".encode("utf-16-le")[:-1])
    put("sep_only.csv", '"sep=,"\n')
    put("orphan.vhdr", "Brain Vision Data Exchange Header File Version 1.0\n[Common Infos]\nDataFile=missing.eeg\n"
        "NumberOfChannels=1\nSamplingInterval=2000\n[Channel Infos]\nCh1=GSR,,1,µS\n")
    put("fake.xlsx", b"PK\x03\x04" + bytes(200))
    put("bad.hea", "bad 1 -100 1000\nbad.dat 16 200/mV 16 0 0 0 0 ecg\n")
    put("bad.dat", bytes(2000))
    os.mkfifo(inp / "fifo.csv")
    f["fifo.csv"] = str(inp / "fifo.csv")
    (inp / "unisens_broken").mkdir()
    (inp / "unisens_broken" / "unisens.xml").write_text('<unisens><signalEntry id="eda.bin" dataType="int16" '
                                                         'sampleRate="0"><channel name="eda"/></signalEntry></unisens>')
    (inp / "unisens_broken" / "eda.bin").write_bytes(bytes(3))
    f["unisens_broken"] = str(inp / "unisens_broken")
    (inp / "folder.csv").mkdir()
    f["folder.csv"] = str(inp / "folder.csv")
    f["missing.csv"] = str(inp / "missing.csv")
    f["dev_zero.npy"] = "/dev/zero"
    # weights
    put("garbage.pth", os.urandom(4096))
    put("empty.safetensors", b"")
    f["reference"] = str(reference_checkpoint)
    # heads
    from tiny_biomoe.pain.heads import Head, save_head

    for name, edit in {
        "head_giant": lambda d: d["arch"].update(in_dim=12_000_000),
        "head_negative": lambda d: d["arch"].update(in_dim=-5),
        "head_nan_window": lambda d: d["metadata"].update(windows={"EDA": {"sampling_rate": 100.0, "window_s": float("nan")}}),
        "head_string_rate": lambda d: d["metadata"].update(windows={"EDA": {"sampling_rate": "fast", "window_s": 10}}),
        "head_no_meta": lambda d: d.update(metadata={}),
    }.items():
        folder = save_head(Head(192, 3, hidden=8), inp / name, {"classes": ["a", "b", "c"]})
        doc = json.loads((folder / "head.json").read_text())
        edit(doc)
        (folder / "head.json").write_text(json.dumps(doc))
        f[name] = str(folder)
    g = inp / "head_garbage"
    g.mkdir()
    (g / "head.json").write_bytes(b"\xff\xfe{not json")
    (g / "head.safetensors").write_bytes(os.urandom(512))
    f["head_garbage"] = str(g)
    # manifests
    for name, rows in {
        "manifest_one_class.csv": [("s1", "pain", "good.csv"), ("s2", "pain", "good.csv")],
        "manifest_missing_file.csv": [("s1", "a", "nothere.csv"), ("s2", "b", "nothere.csv")],
        "manifest_escape.csv": [("s1", "a", "/etc/passwd"), ("s2", "b", "../../../../etc/hostname")],
        "manifest_fifo.csv": [("s1", "a", "fifo.csv"), ("s2", "b", "fifo.csv")],
    }.items():
        put(name, "subject,label,file,modality,column,fs\n" + "".join(f"{s},{lab},{fn},EDA,eda,20\n" for s, lab, fn in rows))
    put("manifest_huge_fs.csv", "subject,label,file,modality,column,fs\ns1,a,nofs.csv,EDA,eda,1e9\ns2,b,nofs.csv,EDA,eda,1e9\n")
    put("manifest_nan_fs.csv", "subject,label,file,modality,column,fs\ns1,a,nofs.csv,EDA,eda,nan\ns2,b,nofs.csv,EDA,eda,nan\n")
    put("manifest_empty.csv", b"")
    # pretraining configs
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    put("bomb.yaml", "\n".join(lines) + "\ntasks: *i\n")
    from tiny_biomoe.pretrain.config import packaged_config

    tiny = packaged_config("tiny").read_bytes()
    put("latin1.yaml", b"# r\xe9glages\n" + tiny)
    put("empty.yaml", b"")
    put("list.yaml", "- 1\n- 2\n")
    return f


def make_victims(root: Path) -> dict[str, str]:
    """User files the sweep must never change."""
    v = root / "user"
    v.mkdir()
    (v / "victim.csv").write_text("my thesis data\n")
    (v / "victim_dir").mkdir()
    (v / "victim_dir" / "notes.txt").write_text("keep me\n")
    os.mkfifo(v / "fifo_out.npz")
    return {"file": str(v / "victim.csv"), "dir": str(v / "victim_dir"), "fifo": str(v / "fifo_out.npz"),
            "root": str(v)}


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_file() and not p.is_symlink():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir" if p.is_dir() else "other"
    return out


# ----------------------------------------------------------------------------- cases
def build_cases(root: Path, files: dict[str, str], victims: dict[str, str]) -> list[Case]:
    """Every (command, option, hostile value) case, in a fixed order."""
    cases: list[Case] = []
    ref = files["reference"]
    out_files = ["", victims["file"], victims["dir"], victims["fifo"], f"{victims['file']}/x.out", "/proc/biomoe.out",
                 str(root / "out" / ("n" * 300 + ".out"))]
    out_dirs = ["", victims["file"], victims["dir"], victims["fifo"], f"{victims['file']}/sub", "/proc/biomoe",
                str(root / "out" / ("n" * 300))]
    signal_inputs = [files[k] for k in ("empty.csv", "header_only.csv", "nan.csv", "const.csv", "latin1.csv",
                                        "binary.csv", "backwards_time.csv", "empty.npy", "empty.npz", "npy_as.npz",
                                        "complex.npy", "strings.npy", "huge_header.npy", "zipbomb.npz", "garbage.edf",
                                        "bad.hea", "fifo.csv", "folder.csv", "missing.csv", "dev_zero.npy",
                                        "nofs.csv", "labchart_header_only.txt", "labchart_bad_interval.txt",
                                        "labchart_huge_pause.txt", "garbage.avro", "utf16_odd.csv", "sep_only.csv",
                                        "orphan.vhdr", "fake.xlsx", "unisens_broken")]
    weights = [files["garbage.pth"], files["empty.safetensors"], files["folder.csv"], files["fifo.csv"],
               files["missing.csv"], ""]
    heads = [files[k] for k in ("head_giant", "head_negative", "head_nan_window", "head_string_rate", "head_no_meta",
                                "head_garbage")] + [files["missing.csv"], files["good.csv"]]
    manifests = [files[k] for k in ("manifest_one_class.csv", "manifest_missing_file.csv", "manifest_escape.csv",
                                    "manifest_fifo.csv", "manifest_huge_fs.csv", "manifest_nan_fs.csv",
                                    "manifest_empty.csv", "fifo.csv", "missing.csv")]
    configs = [files[k] for k in ("bomb.yaml", "latin1.yaml", "empty.yaml", "list.yaml", "fifo.csv", "missing.csv",
                                  "folder.csv")]
    devices = ["mps", "xla", "meta", "cuda:7", "", "gpu", "cpu:-1"]

    def add(command: str, base: Callable[[Path], list[str]], mutations: dict[str, list[str]], timeout: float = 60.0):
        for opt, values in mutations.items():
            for val in values:
                i = len(cases)
                od = root / "out" / f"{i:04d}"
                argv = base(od)
                if opt.startswith("@"):  # a positional: replace the element after the command name
                    argv[int(opt[1:])] = val
                elif opt in argv:
                    argv[argv.index(opt) + 1] = val
                else:
                    argv += [opt, val]
                cases.append(Case(command, opt, val, argv, od, timeout))

    good = files["good.csv"]
    add("render", lambda od: ["render", good, "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
                              "-o", str(od / "r")],
        {"@1": signal_inputs, "--window": NUMBERS, "--stride": NUMBERS, "--fs": NUMBERS, "--max-windows": INTS,
         "--modality": ["", "multi", "eeda", "\x00"], "--kinds": ["", "wave", "multi,,"], "--column": ["9", "-9", "zz"],
         "-o": out_dirs})
    add("embed", lambda od: ["embed", good, "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
                             "--weights", ref, "--device", "cpu", "--no-progress", "-o", str(od / "e.npz")],
        {"@1": signal_inputs, "--window": NUMBERS, "--stride": NUMBERS, "--fs": NUMBERS, "--resample": NUMBERS,
         "--batch-size": INTS, "--max-windows": INTS, "--weights": weights, "--device": devices,
         "-o": out_files + [str(root / "out" / "x.txt")]})
    add("predict", lambda od: ["predict", "--head", files["head_giant"], good, "--device", "cpu",
                               "-o", str(od / "p.csv")],
        {"--head": heads, "--stride": NUMBERS, "--batch-size": INTS})
    pain = ["--modalities", "EDA", "--kinds", "waveform", "--head", "logreg", "--weights", ref, "--device", "cpu",
            "--no-cache"]
    add("evaluate", lambda od: ["evaluate", "--dataset", "manifest", "--manifest", files["manifest_one_class.csv"],
                                *pain, "--out", str(od / "ev")],
        {"--manifest": manifests, "--seed": INTS, "--window-s": NUMBERS, "--folds": INTS, "--lr": NUMBERS,
         "--batch-size": INTS, "--finetune-steps": INTS, "--out": out_dirs})
    add("train", lambda od: ["train", "--dataset", "manifest", "--manifest", files["manifest_one_class.csv"], *pain,
                             "--out", str(od / "h")],
        {"--manifest": manifests, "--seed": INTS, "--window-s": NUMBERS, "--lr": NUMBERS, "--out": out_dirs})
    add("demo", lambda od: ["demo", "--quick", "--weights", files["garbage.pth"], "--device", "cpu", "--no-cache",
                            "--out", str(od / "d")],
        {"--seed": INTS, "--out": out_dirs, "--weights": weights, "--device": devices})
    add("export", lambda od: ["export", "--weights", files["garbage.pth"], "-o", str(od / "m.onnx")],
        {"--weights": weights, "--opset": INTS + ["999", "16"], "-o": out_files})
    add("pretrain", lambda od: ["pretrain", "--config", files["bomb.yaml"], "--output", str(od / "run")],
        {"--config": configs, "--set": ["optim.weight_decay=.nan", "optim.lr=.inf", "optim.grad_clip=.nan",
                                        "train.steps=0", "train.seed=-1", "nokey", "tasks.9.weight=1",
                                        "train.batch_size=abc"]})
    add("prepare-shards", lambda od: ["prepare-shards", "--config", files["bomb.yaml"], "--workers", "1"],
        {"--config": configs, "--workers": INTS})
    add("info", lambda od: ["info", "--device", "cpu"], {"--device": devices})
    add("inspect", lambda od: ["inspect", good], {"@1": signal_inputs})
    add("completion", lambda od: ["completion", "bash"], {"@1": ["fish", "", "BASH", "bash zsh", "-"]})
    add("bench", lambda od: ["bench", "--quick", "--threads", "1", "--sections", "nothing"],
        {"--threads": INTS, "--sections": ["", "nothing", ",,"], "--json": out_files})
    # cases whose base would run a full pipeline are never run unmutated; the one mutation is the hostile value
    for c in cases:
        if c.command == "pretrain" and c.option == "--set":
            c.argv[c.argv.index("--config") + 1] = "tiny"
            c.argv += ["--set", "train.steps=1"] if c.value != "train.steps=0" else []
    return cases


def select(cases: list[Case], n: int | None, seed: int) -> list[Case]:
    """``n`` cases drawn with ``seed`` (all when ``n`` is None), in their original order."""
    if n is None or n >= len(cases):
        return list(cases)
    idx = sorted(random.Random(seed).sample(range(len(cases)), n))
    return [cases[i] for i in idx]


# ----------------------------------------------------------------------------- running
def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise _Timeout()


def run_case(case: Case, victims: dict[str, str], root: Path, timeout: float | None = None) -> Result:
    """Run one case with ``tiny_biomoe.cli.main``; classify it."""
    from tiny_biomoe.cli import main

    before = _snapshot(Path(victims["root"]))
    temps_before = {p for p in root.rglob("*.tmp*")}
    out, err = io.StringIO(), io.StringIO()
    rc: int | None = None
    outcome = ""
    detail = ""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout or case.timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(case.argv)
    except SystemExit as exc:  # argparse: usage errors are exit code 2 with a usage line
        rc = exc.code if isinstance(exc.code, int) else 2
    except _Timeout:
        outcome, detail = "hang", f"still running after {timeout or case.timeout:g} s"
    except BaseException as exc:  # noqa: BLE001 - this is what the sweep looks for
        outcome, detail = "traceback", f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    text = err.getvalue()
    if not outcome:
        if rc == 0:
            outcome = "success"
        elif rc == 2 and "system error" in text:
            outcome, detail = "system", text.strip()[-300:]
        elif rc == 2 and "Traceback" not in text:
            outcome, detail = "clean", text.strip().splitlines()[-1][:300] if text.strip() else ""
        else:
            outcome, detail = "traceback", f"exit {rc}: {text.strip()[-300:]}"
    flags = []
    if _snapshot(Path(victims["root"])) != before:
        flags.append("lost")
    if outcome != "success":
        left = [p for p in case.out_dir.rglob("*")] if case.out_dir.exists() else []
        new_temps = {p for p in root.rglob("*.tmp*")} - temps_before
        if left or new_temps:
            flags.append("leftover")
            detail += f" [left: {[str(p) for p in (left or list(new_temps))[:3]]}]"
    if flags:
        outcome = flags[0]
    return Result(case, outcome, rc, detail, flags)


def table(results: list[Result]) -> str:
    """The count table: one row per command, one column per outcome, and a total."""
    cmds = sorted({r.case.command for r in results}, key=[r.case.command for r in results].index)
    head = f"{'command':<16}" + "".join(f"{o:>10}" for o in OUTCOMES) + f"{'total':>8}"
    rows = [head, "-" * len(head)]
    for c in [*cmds, "ALL"]:
        rs = [r for r in results if c == "ALL" or r.case.command == c]
        rows.append(f"{c:<16}" + "".join(f"{sum(r.outcome == o for r in rs):>10}" for o in OUTCOMES) + f"{len(rs):>8}")
    return "\n".join(rows)


def sweep(reference_checkpoint: Path, n: int | None = None, seed: int = 0, timeout: float | None = None,
          commands: list[str] | None = None, workdir: Path | None = None) -> list[Result]:
    """Build the files and cases in a temporary folder (or ``workdir``), run ``n`` of them, return the results."""
    ctx = tempfile.TemporaryDirectory(prefix="biomoe-fuzz-") if workdir is None else contextlib.nullcontext(workdir)
    env = {"TINY_BIOMOE_OFFLINE": "1", "TINY_BIOMOE_WEIGHTS": str(Path("/nonexistent/Tiny-BioMoE.pth"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with ctx as d:
            root = Path(d)
            files = make_files(root, reference_checkpoint)
            victims = make_victims(root)
            cases = build_cases(root, files, victims)
            if commands:
                cases = [c for c in cases if c.command in commands]
            old_cache = os.environ.get("TINY_BIOMOE_CACHE")
            os.environ["TINY_BIOMOE_CACHE"] = str(root / "cache")
            try:
                return [run_case(c, victims, root, timeout) for c in select(cases, n, seed)]
            finally:
                if old_cache is None:
                    os.environ.pop("TINY_BIOMOE_CACHE", None)
                else:
                    os.environ["TINY_BIOMOE_CACHE"] = old_cache
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _default_checkpoint() -> Path:
    here = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("TINY_BIOMOE_SHARED", here.parent / "shared"))
    return shared / "fixtures" / "reference" / "checkpoint.pt"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=None, help="run this many cases drawn with --seed (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per case before it counts as a hang")
    ap.add_argument("--commands", nargs="+", default=None, help="only these commands")
    ap.add_argument("--checkpoint", type=Path, default=None, help="weights for the cases that embed "
                    "(default: shared/fixtures/reference/checkpoint.pt)")
    ap.add_argument("--show", choices=["none", "bad", "all"], default="bad", help="list cases: the bad ones or all")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = sweep(a.checkpoint or _default_checkpoint(), a.cases, a.seed, a.timeout, a.commands)
    print(table(results))
    if a.show != "none":
        for r in results:
            if a.show == "all" or r.outcome in BAD:
                print(f"{r.outcome:>9} {r.case.command} {r.case.option}={r.case.value[:40]!r}: {r.detail[:200]}")
    return 1 if any(r.outcome in BAD for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
