"""Shared helpers of the benchmark scripts: the machine, timing, results files (not a library module)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"

# the same thread policy as the `biomoe` CLI (decided before torch loads); export OMP_WAIT_POLICY to override
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# and the same allocator policy (large tensors stay in the heap; TINY_BIOMOE_ALLOCATOR=system to compare)
from tiny_biomoe._allocator import allocator_policy, use_heap_allocator  # noqa: E402

use_heap_allocator()


def machine() -> dict[str, Any]:
    """CPU model and flags that matter (lscpu / /proc/cpuinfo), CPUs, load, library versions."""
    info: dict[str, Any] = {"python": platform.python_version(), "logical_cpus": os.cpu_count()}
    from tiny_biomoe.model.runtime import cpu_model

    info["cpu_model"] = cpu_model()  # name with family and model numbers: VMs share names across generations
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                info["bf16_units"] = sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile"))
                break
    except OSError:
        pass
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in lscpu.splitlines():
            key = line.split(":", 1)[0].strip()
            if key in ("Model name", "Vendor ID", "Hypervisor vendor", "L2 cache", "L3 cache", "Core(s) per socket"):
                info[f"lscpu {key}"] = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    info["load_average_at_start"] = os.getloadavg()
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "(unset)")
    info["allocator"] = allocator_policy()
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        pass
    info["note"] = ("shared machine: other processes (about 8 engineers' jobs) may run at the same time; "
                    "the load average says how busy it was")
    return info


def interleaved(fns: dict[str, Callable[[], Any]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function, round-robin so that load hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return out


def med(ts: list[float]) -> float:
    return statistics.median(ts)


def save(name: str, report: dict[str, Any], path: str | None) -> Path:
    """Write the report as JSON (to ``path`` or ``benchmarks/results/<name>.json``) and return the path."""
    report["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(path) if path else RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(out)
    print(f"wrote {out}", file=sys.stderr)
    return out
