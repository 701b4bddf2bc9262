"""Long recordings: wall time and peak memory of `embed_dataset` for 1 min .. 6 h of 100 Hz EDA.

Each length runs in a fresh process (peak RSS = ``ru_maxrss`` of that process: Python, torch, the
model, the recording and one chunk of windows). The model is a seeded random init (the speed and
memory do not depend on the weights' values). ``--whole`` adds a run that conditions and embeds
a recording as one chunk, to show what chunking saves.

    python benchmarks/bench_long_recording.py                      # 1 min, 10 min, 1 h, 6 h
    python benchmarks/bench_long_recording.py --lengths 60 600 --whole 3600 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RATE = 100.0


def _eda(seconds: float, seed: int = 0):
    """A plausible EDA trace: slow tonic drift plus skin-conductance responses (NumPy only, seeded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    tonic = 5 + np.cumsum(rng.normal(0, 0.002, n))
    scr = np.zeros(n)
    onsets = rng.integers(0, n, size=max(1, n // 2000))
    k = np.arange(int(20 * RATE)) / RATE
    shape = (1 - np.exp(-k / 0.75)) * np.exp(-k / 2.0)
    for o in onsets:
        seg = scr[o : o + shape.size]
        seg += rng.uniform(0.05, 0.5) * shape[: seg.size]
    return tonic + scr + rng.normal(0, 0.005, n)


def _child(seconds: float, chunk: int, weights: str, kinds: list[str], batch_size: int) -> dict:
    import numpy as np
    import torch

    from tiny_biomoe.dataset_embed import embed_dataset

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "eda.npy"
        np.save(rec, _eda(seconds))
        t0 = time.perf_counter()
        res = embed_dataset([rec], Path(tmp) / "out.parquet", modality="eda", sampling_rate=RATE, kinds=kinds,
                            weights=weights, chunk_windows=chunk, batch_size=batch_size, device="cpu")
        wall = time.perf_counter() - t0
    assert res.n_failed == 0, res.failures
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds_of_signal": seconds, "chunk_windows": chunk, "batch_size": batch_size, "windows": res.n_windows, "kinds": kinds,
            "wall_s": round(wall, 2), "windows_per_s": round(res.n_windows / wall, 2), "peak_rss_mb": round(rss_mb, 1)}


def _machine() -> dict:
    info = {"python": platform.python_version(), "logical_cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    from tiny_biomoe.model.runtime import cpu_model

    info["cpu_model"] = cpu_model()
    info["threads"] = int(os.environ.get("BENCH_THREADS", "2"))
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", nargs="+", type=float, default=[60, 600, 3600, 21600], help="seconds of signal")
    ap.add_argument("--chunk-windows", type=int, default=512)
    ap.add_argument("--kinds", nargs="+", default=["waveform", "spectrogram_psd"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--whole", type=float, default=None, metavar="SECONDS",
                    help="also run this length as one chunk (everything in memory at once)")
    ap.add_argument("--json", default=None, help="write the results here (default: benchmarks/results/long_recording.json)")
    ap.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--weights", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        print(json.dumps(_child(args.child, args.chunk_windows, args.weights, args.kinds, args.batch_size)))
        return 0
    from tiny_biomoe.model.init import random_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "random-init.pth"
        random_model(seed=0).save_official(weights)
        runs = [(s, args.chunk_windows) for s in args.lengths]
        if args.whole:
            runs.append((args.whole, 10**9))
        for seconds, chunk in runs:
            cmd = [sys.executable, __file__, "--child", str(seconds), "--chunk-windows", str(chunk),
                   "--weights", str(weights), "--batch-size", str(args.batch_size), "--kinds", *args.kinds]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            row = json.loads(out)
            rows.append(row)
            print(f"{seconds / 60:8.1f} min  chunk {chunk if chunk < 10**9 else 'whole':>6}  {row['windows']:6d} windows  "
                  f"{row['wall_s']:8.1f} s  {row['windows_per_s']:6.1f} windows/s  peak RSS {row['peak_rss_mb']:7.1f} MB",
                  flush=True)
    report = {"machine": _machine(), "rate_hz": RATE, "results": rows}
    report["machine"]["load_average_at_end"] = os.getloadavg()
    path = Path(args.json) if args.json else Path(__file__).resolve().parent / "results" / "long_recording.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_name(f".{path.name}.tmp")
    tmp_path.write_text(json.dumps(report, indent=2) + "\n")
    tmp_path.replace(path)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
