"""On-disk cache of embeddings, so that heads, fusions and protocols can be re-run without the network.

One entry = the ``(N, 192)`` embeddings of one block of windows under one representation. The key
is a SHA-256 of: the dataset id, the content hash of the windows (their float32 bytes, shape and
sampling rate, after preprocessing), the modality, the representation kind with its parameters and
version, and the weights hash. Entries are ``<key>.npy`` plus a ``<key>.json`` sidecar saying what
they hold, with the SHA-256 of the array; both are written atomically (temporary file + rename), so two
processes sharing a cache never see a half-written entry, and an entry whose bytes do not match its
sidecar, that is not a finite 2-D float32 array, or cannot be read is a miss (then recomputed and
rewritten), never an error. A failed write (full disk) only warns: the cache is an optimisation. Location: ``cache_dir`` if given, else
``$TINY_BIOMOE_CACHE/embeddings`` (default ``~/.cache/tiny-biomoe/embeddings``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._io import atomic_path, atomic_write_text
from ..errors import OutputError

__all__ = ["EmbeddingCache", "default_cache_dir", "windows_hash"]


def default_cache_dir() -> Path:
    """``$TINY_BIOMOE_CACHE/embeddings`` (or ``~/.cache/tiny-biomoe/embeddings``)."""
    env = os.environ.get("TINY_BIOMOE_CACHE")
    base = Path(env).expanduser() if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tiny-biomoe"
    return base / "embeddings"


def windows_hash(windows: np.ndarray, sampling_rate: float) -> str:
    """Content hash of a block of windows (float32 bytes, shape, rate)."""
    a = np.ascontiguousarray(np.asarray(windows, dtype=np.float32))
    h = hashlib.sha256(f"{a.shape}|{float(sampling_rate)!r}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """Embedding cache in a folder; ``enabled=False`` makes every lookup a miss and stores nothing.

    ``hits`` and ``misses`` count lookups since creation.

    Args:
        directory: the cache folder; ``None``: :func:`default_cache_dir` (``$TINY_BIOMOE_CACHE/embeddings``).
        enabled: look up and store entries (``False``: every lookup a miss, nothing stored).
    """

    def __init__(self, directory: str | os.PathLike | None = None, enabled: bool = True) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.corrupt = 0  # entries found but refused (unreadable, wrong checksum or content)
        self._warned = False

    @staticmethod
    def key(
        *,
        dataset_id: str,
        windows: np.ndarray,
        sampling_rate: float,
        modality: str,
        kind: str,
        params: Mapping[str, Any] | None,
        version: str,
        weights_hash: str,
    ) -> str:
        """The cache key (hex) of one block; any change in any part gives a new key."""
        parts = {
            "dataset": dataset_id,
            "windows": windows_hash(windows, sampling_rate),
            "modality": modality,
            "kind": kind,
            "params": params or {},
            "version": version,
            "weights": weights_hash,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached array or ``None`` (a miss); unreadable entries count as misses."""
        if not self.enabled:
            self.misses += 1
            return None
        p = self._path(key)
        if p.is_file():
            arr = self._read(p)
            if arr is not None:
                self.hits += 1
                return arr
            self.corrupt += 1
        self.misses += 1
        return None

    @staticmethod
    def _read(p: Path) -> np.ndarray | None:
        """The entry's array if it is complete and intact, else None."""
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or arr.ndim != 2 or not np.isfinite(arr).all():
            return None
        try:
            meta = json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}  # sidecar not written yet (another process), or from an older version: the .npy is whole
        want = meta.get("sha256") if isinstance(meta, dict) else None
        if want is not None and want != _array_sha256(arr):
            return None
        return arr

    def put(self, key: str, array: np.ndarray, meta: Mapping[str, Any] | None = None) -> None:
        """Store ``array`` under ``key`` (atomically), with ``meta`` in a JSON sidecar."""
        if not self.enabled:
            return
        arr = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        doc = {**dict(meta or {}), "sha256": _array_sha256(arr), "shape": list(arr.shape)}
        try:
            with atomic_path(self._path(key)) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, arr, allow_pickle=False)
            atomic_write_text(self.directory / f"{key}.json", json.dumps(doc, indent=1, sort_keys=True, default=str))
        except (OutputError, OSError) as exc:
            if not self._warned:
                warnings.warn(f"embedding cache {self.directory}: cannot store entries ({exc}); going on without "
                              "caching", stacklevel=2)
                self._warned = True


def _array_sha256(arr: np.ndarray) -> str:
    a = np.ascontiguousarray(arr, dtype=np.float32)
    h = hashlib.sha256(f"{a.shape}|".encode())
    h.update(a.tobytes())
    return h.hexdigest()
