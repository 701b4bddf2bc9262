"""Per-stage wall time (read, condition, render, model, write) of the embedding paths.

The stages add their seconds to a process-wide table; ``biomoe ... --verbose`` prints it and the
benchmarks read it. Timing costs two ``perf_counter`` calls per stage entry, so it is always on.

>>> from tiny_biomoe._timing import stage, stage_times, reset_stage_times
>>> reset_stage_times()
>>> with stage("render"):
...     pass
>>> sorted(stage_times())
['render']
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Iterator

__all__ = ["stage", "stage_times", "reset_stage_times", "format_stage_times", "STAGES"]

#: the stages in data-flow order (others may be added by callers)
STAGES = ("read", "condition", "render", "model", "write")

_times: dict[str, float] = {}
_counts: dict[str, int] = {}
_lock = threading.Lock()


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Add the wall time of the block to stage ``name``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        dt = time.perf_counter() - t0
        with _lock:
            _times[name] = _times.get(name, 0.0) + dt
            _counts[name] = _counts.get(name, 0) + 1


def stage_times() -> dict[str, float]:
    """Seconds per stage since the last :func:`reset_stage_times` (a copy)."""
    with _lock:
        return dict(_times)


def reset_stage_times() -> None:
    """Start counting from zero."""
    with _lock:
        _times.clear()
        _counts.clear()


def format_stage_times(total_s: float | None = None) -> str:
    """One line: ``read 0.10 s, render 0.20 s (3 %), model 5.1 s (90 %) ...``; shares of ``total_s`` if given."""
    times = stage_times()
    order = [s for s in STAGES if s in times] + sorted(s for s in times if s not in STAGES)
    parts = []
    for s in order:
        txt = f"{s} {times[s]:.2f} s"
        if total_s:
            txt += f" ({100 * times[s] / total_s:.0f} %)"
        parts.append(txt)
    if total_s:
        other = total_s - sum(times.values())
        parts.append(f"other {max(other, 0.0):.2f} s; total {total_s:.2f} s")
    return "time per stage: " + (", ".join(parts) if parts else "nothing timed")
