"""Fusion of embeddings at three levels (the paper fuses by adding embeddings).

Levels: ``single`` (one modality, one representation), ``representations`` (several
representations of one modality) and ``modalities`` (several modalities, each with all chosen
representations). Methods: ``add`` (element-wise sum, keeps 192-D), ``mean`` (sum / count) and
``concat`` (concatenation in the listed order, 192 x inputs). Fusion is done on embeddings, never
on pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ["FusionSpec", "fuse", "plan_experiments", "FUSION_METHODS", "FUSION_LEVELS"]

FUSION_METHODS = ("add", "mean", "concat")
FUSION_LEVELS = ("single", "representations", "modalities")
Key = tuple[str, str]  # (modality, representation kind)


@dataclass(frozen=True)
class FusionSpec:
    """One experiment: which (modality, kind) embeddings go in and how they are fused."""

    name: str
    level: str
    inputs: tuple[Key, ...]
    method: str = "add"

    def to_dict(self) -> dict:
        """JSON-able form (stored in results and in saved heads)."""
        return {"name": self.name, "level": self.level, "inputs": [list(k) for k in self.inputs], "method": self.method}


def fuse(embeddings: Mapping[Key, np.ndarray], inputs: Sequence[Key], method: str = "add") -> np.ndarray:
    """Fuse the ``(N, D)`` arrays of ``inputs`` by ``method``; one input is returned unchanged.

    Args:
        embeddings: ``(modality, kind)`` -> ``(N, D)`` array; every input must be there, with the same ``N``.
        inputs: the keys to fuse, in order (at least one).
        method: ``"add"``, ``"mean"`` (equal widths) or ``"concat"`` (widths added, in ``inputs`` order).
    """
    if not inputs:
        raise ConfigError("fusion needs at least one input")
    missing = [k for k in inputs if k not in embeddings]
    if missing:
        raise ConfigError(f"no embeddings for {missing}; available: {sorted(embeddings)}")
    arrs = [np.asarray(embeddings[k], dtype=np.float32) for k in inputs]
    n = {a.shape[0] for a in arrs}
    if len(n) != 1 or any(a.ndim != 2 for a in arrs):
        raise ConfigError(f"embeddings to fuse must be 2-D with the same number of rows, got {[a.shape for a in arrs]}")
    if len(arrs) == 1:
        return arrs[0]
    if method == "concat":
        return np.concatenate(arrs, axis=1)
    if len({a.shape[1] for a in arrs}) != 1:
        raise ConfigError(f"'{method}' fusion needs equal widths, got {[a.shape[1] for a in arrs]}; use concat")
    s = np.sum(arrs, axis=0, dtype=np.float32)
    if method == "add":
        return s
    if method == "mean":
        return s / np.float32(len(arrs))
    raise ConfigError(f"unknown fusion method {method!r}; choose from {list(FUSION_METHODS)}")


def plan_experiments(
    modalities: Sequence[str],
    kinds: Sequence[str],
    levels: Sequence[str] = FUSION_LEVELS,
    methods: Sequence[str] = ("add", "concat"),
) -> list[FusionSpec]:
    """All experiments for the chosen levels: each (modality, kind) alone; per modality, all kinds
    fused (if >1 kind); all modalities x kinds fused (if >1 modality); each multi-input one per method."""
    bad = [lv for lv in levels if lv not in FUSION_LEVELS]
    badm = [m for m in methods if m not in FUSION_METHODS]
    if bad or badm:
        raise ConfigError(f"unknown fusion levels {bad} / methods {badm}; levels: {list(FUSION_LEVELS)}, methods: {list(FUSION_METHODS)}")
    out: list[FusionSpec] = []
    if "single" in levels:
        out += [FusionSpec(f"{m}/{k}", "single", ((m, k),), "none") for m in modalities for k in kinds]
    if "representations" in levels and len(kinds) > 1:
        for m in modalities:
            for meth in methods:
                out.append(FusionSpec(f"{m}/{'+'.join(kinds)} [{meth}]", "representations", tuple((m, k) for k in kinds), meth))
    if "modalities" in levels and len(modalities) > 1:
        inputs = tuple((m, k) for m in modalities for k in kinds)
        for meth in methods:
            out.append(FusionSpec(f"{'+'.join(modalities)}/{'+'.join(kinds)} [{meth}]", "modalities", inputs, meth))
    if not out:
        raise ConfigError("the chosen fusion levels give no experiment; include 'single' or use more kinds/modalities")
    return out
