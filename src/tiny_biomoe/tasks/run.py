"""The ``biomoe evaluate`` and ``biomoe train`` workflows as plain functions (the CLI only parses arguments)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.cache import EmbeddingCache
from ..data.dataset import PainDataset
from .fusion import FUSION_METHODS, FusionSpec
from .pipeline import PipelineConfig, evaluate, extract_embeddings, train_final_head, trial_windows
from .report import weights_banner, write_report

__all__ = ["load_weights", "run_evaluation", "run_training"]


def load_weights(weights: str, device: str, allow_random: bool, seed: int, log: Callable[[str], None] = print):
    """``load_model`` with a loud notice when the weights are not the official ones."""
    from ..model import load_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, winfo = load_model(weights, device=device, fallback="random" if allow_random else "error", seed=seed)
    for w in caught:
        if "RANDOM" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    msg = weights_banner(winfo.as_dict())
    if not winfo.official:
        print(f"{'!' * 100}\n{msg}\n{'!' * 100}", file=sys.stderr, flush=True)
    log(msg)
    return model, winfo


def _examples(ds: PainDataset, cfg: PipelineConfig) -> dict[str, np.ndarray]:
    from ..representations import render

    out = {}
    first = PainDataset(ds.name, [t for t in ds.trials if t.label is not None][:1] or ds.trials[:1], ds.classes)
    for m in cfg.modalities or ds.modalities:
        w, fs, _ = trial_windows(first.select([m]), m, cfg.window_s, cfg.preprocess)
        for k in cfg.kinds:
            out[f"{m}/{k}"] = render(w, k, fs, modality=m, **cfg.render_params.get(k, {}))[0].numpy()
    return out


def run_evaluation(
    dataset: PainDataset,
    config: PipelineConfig,
    out: str | Path,
    *,
    weights: str = "tiny-biomoe",
    device: str = "auto",
    allow_random: bool = False,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Summary -> model -> embeddings (cached) -> experiments -> report folder ``out``; returns ``out``."""
    log(dataset.summary_text())
    model, winfo = load_weights(weights, device, allow_random, config.seed, log)
    cache = EmbeddingCache(cache_dir, enabled=use_cache)
    results, _ = evaluate(dataset, config, model=model, weights_info=winfo, cache=cache, device=device, progress=True)
    return write_report(results, out, _examples(dataset, config), title=f"Tiny-BioMoE pain recognition: {dataset.name}")


def run_training(
    dataset: PainDataset,
    config: PipelineConfig,
    out: str | Path,
    *,
    fusion_method: str = "add",
    train_partitions: list[str] | None = None,
    weights: str = "tiny-biomoe",
    device: str = "auto",
    allow_random: bool = False,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Train one head on all chosen modalities x kinds fused by ``fusion_method`` and save it to ``out``
    (``head.safetensors`` + ``head.json`` with the embedding/representation/preprocessing settings)."""
    from ..errors import ConfigError, DatasetError

    if fusion_method not in FUSION_METHODS:
        raise ConfigError(f"fusion method must be one of {list(FUSION_METHODS)}")
    log(dataset.summary_text())
    model, winfo = load_weights(weights, device, allow_random, config.seed, log)
    cache = EmbeddingCache(cache_dir, enabled=use_cache)
    table = extract_embeddings(dataset, model, config, weights_info=winfo, cache=cache, device=device, progress=True)
    inputs = tuple(table.embeddings)
    spec = FusionSpec("+".join(f"{m}/{k}" for m, k in inputs) + f" [{fusion_method}]",
                      "single" if len(inputs) == 1 else "modalities", inputs, fusion_method if len(inputs) > 1 else "none")
    mask = None
    if train_partitions:
        mask = np.isin(table.partitions, train_partitions)
        if not mask.any():
            raise DatasetError(f"no labelled trials in partitions {train_partitions}; found {sorted(set(table.partitions.tolist()))}")
    folder = train_final_head(table, spec, config, out, {"dataset": dataset.summary(), "train_partitions": train_partitions},
                              train_mask=mask)
    log(f"head saved to {Path(folder).resolve()} ({spec.name})")
    return Path(folder)
