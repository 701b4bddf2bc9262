"""One entry point for every dataset adapter (used by the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from .dataset import PainDataset

__all__ = ["load_dataset", "DATASETS"]

DATASETS = ("ai4pain", "biovid", "manifest", "synthetic")
#: adapter options that only AI4PAIN takes (``load_dataset(..., edition=..., rest=...)``)
AI4PAIN_OPTIONS = ("edition", "rest", "segment_s", "baseline_segments", "rest_periods", "length_tolerance")


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    manifest: str | Path | None = None,
    modalities: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    sampling_rate: float | None = None,
    seed: int = 0,
    **options: Any,
) -> PainDataset:
    """Load ``'ai4pain'`` / ``'biovid'`` (folder ``root``), ``'manifest'`` (CSV ``manifest``) or
    ``'synthetic'`` (generated from ``seed``; ``root`` unused). ``None`` arguments keep each adapter's defaults.
    ``classes`` applies to ``'biovid'`` and ``'manifest'`` only (a ConfigError elsewhere, never ignored).
    ``options`` are AI4PAIN's segment construction (``edition``, ``rest``, ``segment_s``,
    ``baseline_segments``, ``rest_periods``, ``length_tolerance``; see :func:`~tiny_biomoe.data.load_ai4pain`); given for
    another dataset they are a ConfigError.

    Args:
        name: ``"ai4pain"``, ``"biovid"``, ``"manifest"`` or ``"synthetic"``; another name is a ConfigError.
        root: the dataset folder (``"ai4pain"``, ``"biovid"``: required there; unused by the others).
        manifest: the manifest CSV (``"manifest"``: required there; unused by the others).
        modalities: modalities to keep; ``None``: the adapter's default (every modality for ``"manifest"`` and
            ``"synthetic"``).
        classes: the classes to keep, in order (``"biovid"``, ``"manifest"`` only; see above).
        sampling_rate: Hz, the ``sampling_rate`` of the ``"ai4pain"`` and ``"biovid"`` adapters; ``None``: their
            default; a ConfigError for ``"manifest"`` and ``"synthetic"`` (never ignored).
        seed: the seed of the ``"synthetic"`` dataset; unused by the others.
        **options: AI4PAIN's segment construction (see above); ``None`` values are dropped.
    """
    options = {k: v for k, v in options.items() if v is not None}
    bad = sorted(set(options) - set(AI4PAIN_OPTIONS))
    if bad:
        raise ConfigError(f"unknown dataset options {bad}; known: {list(AI4PAIN_OPTIONS)}")
    if options and name != "ai4pain":
        raise ConfigError(f"{', '.join(sorted(options))} apply to --dataset ai4pain only, not {name}; drop them")
    if classes and name in ("ai4pain", "synthetic"):
        raise ConfigError(f"--classes is not supported for {name} (its classes are fixed by the data: AI4PAIN 2025 "
                          "No_Pain/Low_Pain/High_Pain, 2026 No_Pain/Arm_Pain/Hand_Pain); drop --classes, or describe the "
                          "trials you want in a manifest (--dataset manifest)")
    if sampling_rate is not None and name in ("manifest", "synthetic"):
        where = "the manifest's fs column gives each file's rate" if name == "manifest" else "it is generated at fixed rates"
        raise ConfigError(f"--sampling-rate does not apply to {name} ({where}); drop it")
    if name == "ai4pain":
        from .ai4pain import load_ai4pain

        if root is None:
            raise ConfigError("--root is needed for ai4pain: the folder holding train/ validation/ test/ "
                              "(or the folder the zip unpacked to)")
        kw: dict[str, Any] = {"sampling_rate": sampling_rate} if sampling_rate is not None else {}
        return load_ai4pain(root, modalities=modalities, **kw, **options)
    if name == "biovid":
        from .biovid import load_biovid

        if root is None:
            raise ConfigError("--root is needed for biovid: the database folder or its biosignals_filtered/ folder")
        kw = {"sampling_rate": sampling_rate} if sampling_rate is not None else {}
        if classes:
            kw["classes"] = tuple(classes)
        return load_biovid(root, modalities=modalities, **kw)
    if name == "manifest":
        from .manifest import load_manifest

        if manifest is None:
            raise ConfigError("--manifest is needed: a CSV with columns subject, label, file, modality, column, fs")
        ds = load_manifest(manifest, classes=classes)
        return ds.select(modalities) if modalities else ds
    if name == "synthetic":
        from .synthetic import make_synthetic_pain

        ds = make_synthetic_pain(seed=seed)
        return ds.select(modalities) if modalities else ds
    raise ConfigError(f"unknown dataset {name!r}; choose from {list(DATASETS)}")
