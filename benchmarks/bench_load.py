"""`biomoe embed` alone and beside two CPU-bound competitor processes: the slow-down ratio under load.

Usage: python benchmarks/bench_load.py [--minutes 10] [--competitors 2] [--onnx] [--json out.json]

Runs, each a fresh process embedding the same synthetic EDA recording (100 Hz, two kinds):

- ``ours``: ``biomoe embed`` with the CLI's thread policy (``OMP_WAIT_POLICY=PASSIVE`` decided in
  ``main`` before torch loads);
- ``default``: the same :func:`tiny_biomoe.embed.embed_file` call from plain Python, with
  PyTorch's default OpenMP waiting (libgomp spins before it sleeps);
- with ``--onnx`` also ``biomoe embed --backend onnx``.

Each is run idle and beside ``--competitors`` processes that burn a core each (``while True: pass``).
Printed: wall seconds and the slow-down ratio busy / idle per policy (target for ``ours``: <= 2.5x
beside two competitors on 2 cores; an ideal share of two cores among four busy processes is 2x).
The tuning cache (micro-batch choice) and the ONNX export are warmed first and not timed.
About 1.5-2 minutes with the defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, save  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO.parent / "shared" / "fixtures" / "reference" / "checkpoint.pt"


def _env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    env["TINY_BIOMOE_CACHE"] = str(cache)
    return env


def _cmd(kind: str, signal: Path, weights: str, out: Path) -> list[str]:
    if kind == "default":
        code = ("import sys; from tiny_biomoe.embed import embed_file; "
                f"embed_file({str(signal)!r}, modality='eda', output={str(out)!r}, sampling_rate=100.0, weights={weights!r})")
        return [sys.executable, "-c", code]
    cmd = [sys.executable, "-m", "tiny_biomoe.cli", "embed", str(signal), "--modality", "eda", "--fs", "100",
           "--weights", weights, "-o", str(out), "--force", "--no-progress", "-q"]
    if kind == "onnx":
        cmd += ["--backend", "onnx"]
    return cmd


def _run(kind: str, signal: Path, weights: str, out: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(_cmd(kind, signal, weights, out), env=env, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the recording (the issue's case: 20)")
    ap.add_argument("--competitors", type=int, default=2)
    ap.add_argument("--onnx", action="store_true", help="also time --backend onnx")
    ap.add_argument("--weights", default=str(WEIGHTS) if WEIGHTS.exists() else "tiny-biomoe")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import numpy as np

    report = {"machine": machine(), "config": vars(args)}
    kinds = ["ours", "default"] + (["onnx"] if args.onnx else [])
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        tmp = Path(tmp)
        n = int(args.minutes * 60 * 100)
        rng = np.random.default_rng(0)
        t = np.arange(n) / 100.0
        x = 5 + np.sin(2 * np.pi * 0.01 * t) + 0.3 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n) + 0.05 * rng.standard_normal(n)
        signal = tmp / "eda.npy"
        np.save(signal, x.astype(np.float32))
        env = _env(tmp / "cache")
        out = tmp / "out.npz"
        for kind in kinds:  # warm: micro-batch tuning (two runs fill it), ONNX export; not timed
            for _ in range(2 if kind == "ours" else 1):
                _run(kind, signal, args.weights, out, env)
        tuning = tmp / "cache" / "runtime" / "tuning.json"
        report["tuning"] = json.loads(tuning.read_text()) if tuning.exists() else None
        times: dict[str, dict[str, float]] = {k: {} for k in kinds}
        for kind in kinds:
            times[kind]["idle"] = _run(kind, signal, args.weights, out, env)
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.competitors)]
        try:
            time.sleep(1.0)
            for kind in kinds:
                times[kind]["busy"] = _run(kind, signal, args.weights, out, env)
        finally:
            for p in burners:
                p.kill()
                p.wait()
        n_img = 2 * int(args.minutes * 60 // 10)
    for kind in kinds:
        times[kind]["slowdown"] = times[kind]["busy"] / times[kind]["idle"]
    report["images"] = n_img
    report["seconds"] = times
    print(f"machine: {report['machine'].get('cpu_model')}, {os.cpu_count()} CPUs, load at start "
          f"{report['machine']['load_average_at_start'][0]:.2f}")
    print(f"biomoe embed, {args.minutes:g} min of EDA at 100 Hz, {n_img} images; wall s (process start to exit):")
    for kind in kinds:
        r = times[kind]
        print(f"  {kind:8s} idle {r['idle']:6.1f} s ({n_img / r['idle']:5.1f} img/s)   beside {args.competitors} "
              f"competitors {r['busy']:6.1f} s ({n_img / r['busy']:5.1f} img/s)   slow-down {r['slowdown']:.2f}x")
    print(f"  target: ours <= 2.5x -> {'met' if times['ours']['slowdown'] <= 2.5 else 'MISSED'}; "
          f"ours vs default beside competitors: {times['default']['busy'] / times['ours']['busy']:.2f}x faster")
    save("bench_load", report, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
