"""Keep the memory of large tensors in the process between model calls (glibc's ``mallopt``).

glibc serves every allocation above a threshold (adjusted at run time, at most 32 MiB on 64-bit
systems) with a fresh ``mmap`` and hands it back to the OS on ``free``. The model's largest
activations (expert 1's stage-1 MLP, ``B x 512 x 56 x 56`` floats: 51 MB for 8 images, 205 MB for
32) are allocated and freed on every call, so every call touches fresh pages, and the kernel
zero-fills each 4 KiB page on its first touch. Measured on the Intel Xeon with AMX (2 vCPUs): a
depthwise 3x3 convolution + GELU over ``(8, 512, 56, 56)`` took 21-24 ms with glibc's default and
8.8 ms with the policy below; at batch 32 the eager model ran at 21 against 40 images/s, the fast
form at 36-40 against 52 (docs/performance.md).

:func:`use_heap_allocator` raises glibc's mmap and trim thresholds to 1 GiB, so large tensors come
from the heap and freed memory stays there for the next call. Trade-off: the process keeps up to
1 GiB of freed memory for reuse (its resident size does not shrink after a large batch). The
``biomoe`` command and :func:`tiny_biomoe.model.runtime.get_embedder` (on the CPU) apply it;
``TINY_BIOMOE_ALLOCATOR=system`` leaves glibc's defaults alone. Other C libraries (macOS, Windows,
musl) are left as they are. Written by hand: it is two ``mallopt`` calls, which no maintained
Python package wraps (jemalloc/tcmalloc need ``LD_PRELOAD`` before the process starts).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from typing import Any, Callable

from .errors import ConfigError

__all__ = ["allocator_policy", "use_heap_allocator", "ENV", "THRESHOLD"]

#: environment variable: ``heap`` (default) or ``system`` (leave glibc's settings alone)
ENV = "TINY_BIOMOE_ALLOCATOR"
#: glibc's mmap and trim thresholds set by :func:`use_heap_allocator` (bytes)
THRESHOLD = 1 << 30
_M_TRIM_THRESHOLD = -1  # from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3

_policy = "system"


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or ``None`` on other C libraries."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        fn: Any = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # pragma: no cover - a glibc without the usual soname
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def _env_choice() -> str:
    value = os.environ.get(ENV, "heap").strip().lower() or "heap"
    if value not in ("heap", "system"):
        raise ConfigError(f"{ENV}={os.environ.get(ENV)!r} is not a known allocator policy; use 'heap' (keep large "
                          "tensors' memory between model calls, the default) or 'system' (glibc's defaults)")
    return value


def use_heap_allocator() -> bool:
    """Serve large tensors from the heap and keep freed memory for reuse (glibc only; idempotent).

    Returns whether the policy is in force. Does nothing when ``$TINY_BIOMOE_ALLOCATOR`` is
    ``system`` or the C library is not glibc.
    """
    global _policy
    if _policy == "heap":
        return True
    if _env_choice() == "system":
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    # the mmap threshold first: a glibc that caps it refuses, and then nothing is changed (setting
    # either threshold stops glibc's own adjustment of both)
    if mallopt(_M_MMAP_THRESHOLD, THRESHOLD) != 1:
        return False
    mallopt(_M_TRIM_THRESHOLD, THRESHOLD)  # no upper bound in glibc
    _policy = "heap"
    return True


def allocator_policy() -> str:
    """``'heap'`` once :func:`use_heap_allocator` is in force, else ``'system'``."""
    return _policy
