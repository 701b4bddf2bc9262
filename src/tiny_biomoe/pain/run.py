"""The ``biomoe evaluate`` and ``biomoe train`` workflows as plain functions (the CLI only parses arguments)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..data.cache import EmbeddingCache
from ..data.dataset import PainDataset
from .fusion import FUSION_METHODS, FusionSpec
from .pipeline import PipelineConfig, evaluate, extract_embeddings, train_final_head, trial_windows
from .report import weights_banner, write_report

if TYPE_CHECKING:
    from ..model.moe import TinyBioMoE
    from ..model.provenance import WeightsInfo
    from .heads import FineTuneConfig

__all__ = ["load_weights", "class_examples", "run_evaluation", "run_training", "run_finetune"]


def load_weights(weights: str, device: str, allow_random: bool, seed: int, log: Callable[[str], None] = print,
                 hint: str | None = None) -> "tuple[TinyBioMoE, WeightsInfo]":
    """``load_model`` with a loud notice (on stderr, followed by ``hint`` if given) when the weights are
    not the official ones; the official weights' line goes to ``log``. Returns ``(model, WeightsInfo)``."""
    from ..model import load_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, winfo = load_model(weights, device=device, fallback="random" if allow_random else "error", seed=seed)
    for w in caught:
        if "RANDOM" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    msg = weights_banner(winfo.as_dict())
    if not winfo.official:
        notice = f"{msg}\n{hint}" if hint else msg
        print(f"{'!' * 100}\n{notice}\n{'!' * 100}", file=sys.stderr, flush=True)
    else:  # a non-official banner is shown once (above), not repeated by the log
        log(msg)
    return model, winfo


def class_examples(ds: PainDataset, cfg: PipelineConfig) -> dict[str, dict[str, np.ndarray]]:
    """For every ``"modality/kind"``, one rendered image per class (the first labelled trial of each
    class that has the modality), captioned ``"<class>\n<subject>/<trial>"``: for the report."""
    from ..representations import render

    out: dict[str, dict[str, np.ndarray]] = {}
    for m in cfg.modalities or ds.modalities:
        picks = []
        for c in ds.classes:
            t = next((t for t in ds.trials if t.label == c and m in t.signals), None)
            if t is not None:
                picks.append(t)
        if not picks:
            continue
        sub = PainDataset(ds.name, picks, ds.classes, window_s=ds.window_s).select([m])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # padding/resampling were already reported while embedding
            w, fs, _ = trial_windows(sub, m, cfg.window_s, cfg.preprocess)
        for k in cfg.kinds:
            imgs = render(w, kind=k, sampling_rate=fs, modality=m, **cfg.render_params.get(k, {})).numpy()
            out[f"{m}/{k}"] = {f"{t.label}\n{t.subject}/{t.trial}": img for t, img in zip(picks, imgs)}
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
    finetune_config: "FineTuneConfig | None" = None,
    finetune_on: str | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Summary -> model -> embeddings (cached) -> experiments -> report folder ``out``; returns ``out``.

    With ``finetune_config`` (``steps > 0``), backbone + classifier are also fine-tuned end to end in
    every fold on one ``"MODALITY/KIND"`` (``finetune_on``; default: the first modality and kind),
    reported as its own row ``"... fine-tuned (pretrained)"`` or ``"... fine-tuned (from scratch)"``.
    """
    from ..errors import ConfigError
    from .pipeline import evaluate_finetune

    ft_mk = None
    if finetune_config is not None and finetune_config.steps > 0:
        mods = list(config.modalities) if config.modalities else dataset.modalities
        m, _, k = (finetune_on or f"{mods[0]}/{config.kinds[0]}").partition("/")
        if m not in mods or k not in config.kinds:
            raise ConfigError(f"--finetune-on {finetune_on!r}: give MODALITY/KIND among the evaluated modalities {mods} "
                              f"and kinds {list(config.kinds)}, e.g. {mods[0]}/{config.kinds[0]}")
        ft_mk = (m, k)
    log(dataset.summary_text())
    model, winfo = load_weights(weights, device, allow_random, config.seed, log)
    cache = EmbeddingCache(cache_dir, enabled=use_cache)
    results, table = evaluate(dataset, config, model=model, weights_info=winfo, cache=cache, device=device, progress=True)
    if ft_mk is not None:
        log(f"fine-tuning {ft_mk[0]}/{ft_mk[1]} end to end in each fold ({finetune_config.steps} steps, "
            f"{'pretrained' if finetune_config.pretrained else 'from scratch'}) ...")
        exp = evaluate_finetune(dataset, config, finetune_config, model=model, modality=ft_mk[0], kind=ft_mk[1],
                                trial_ids=table.trial_ids, device=device, progress=True)
        results["experiments"].append(exp)
        results["finetune"] = finetune_config.to_dict()
    return write_report(results, out, class_examples(dataset, config), title=f"Tiny-BioMoE pain recognition: {dataset.name}",
                        embeddings=table)


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


def run_finetune(
    dataset: PainDataset,
    config: PipelineConfig,
    out: str | Path,
    *,
    finetune_config: "FineTuneConfig | None" = None,
    train_partitions: list[str] | None = None,
    weights: str = "tiny-biomoe",
    device: str = "auto",
    allow_random: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Fine-tune backbone + linear classifier end to end on one modality and one representation kind.

    Writes ``out/backbone`` (``save_pretrained``: model.safetensors + config.json with the settings)
    and ``out/head.safetensors`` + ``out/head.json`` (the classifier, as a linear :class:`Head`), so
    that the result is used like a frozen-embedding head with the fine-tuned backbone. With
    ``finetune_config.pretrained=False`` the backbone starts from a seeded random init (the weights
    given are not loaded).
    """
    import torch

    from ..errors import ConfigError, DatasetError
    from ..representations import render, render_info
    from .heads import FineTuneConfig, Head, finetune, save_head

    ft = finetune_config or FineTuneConfig(seed=config.seed)
    mods = list(config.modalities) if config.modalities else dataset.modalities
    if len(mods) != 1 or len(config.kinds) != 1:
        raise ConfigError("fine-tuning works on one modality and one representation kind: pass --modalities M --kinds K")
    m, k = mods[0], config.kinds[0]
    log(dataset.summary_text())
    ds = dataset.labelled().select([m])
    if train_partitions:
        ds = PainDataset(ds.name, [t for t in ds.trials if t.partition in train_partitions], ds.classes, ds.notes, ds.info,
                        ds.window_s)
        if not ds.trials:
            raise DatasetError(f"no labelled trials in partitions {train_partitions}")
    if ft.pretrained:
        model, winfo = load_weights(weights, device, allow_random, config.seed, log)
        wdict = winfo.as_dict()
    else:
        from ..model.provenance import random_init_info

        model, wdict = None, random_init_info(ft.seed).as_dict()  # the start; the backbone is then fine-tuned
    w, fs, winfo_w = trial_windows(ds, m, config.window_s, config.preprocess)
    images = render(w, kind=k, sampling_rate=fs, modality=m, **config.render_params.get(k, {}))
    net, hist = finetune(images, ds.labels_array(), len(ds.classes), model, ft, device=device)
    out = Path(out)
    rinfo = render_info(k, fs, w.shape[1], m, **config.render_params.get(k, {}))
    meta = {"classes": ds.classes, "windows": {m: winfo_w}, "representations": {f"{m}/{k}": rinfo},
            "pipeline": config.to_dict(), "finetune": ft.to_dict(), "start_weights": wdict,
            "final_loss": hist["loss"][-1] if hist["loss"] else None}
    net = net.cpu()
    net.backbone.save_pretrained(out / "backbone", metadata=meta)
    head = Head(int(net.classifier.in_features), len(ds.classes), hidden=None)
    with torch.no_grad():
        head.net[0].weight.copy_(net.classifier.weight)
        head.net[0].bias.copy_(net.classifier.bias)
    from ..model.weights import SAFETENSORS_NAME, file_sha256, tensors_sha256

    save_head(head, out, {**meta, "fusion": {"name": f"{m}/{k}", "level": "single", "inputs": [[m, k]], "method": "none"},
                          "weights": {"kind": "explicit-path", "source": str((out / "backbone").resolve()), "official": False,
                                      "sha256": file_sha256(out / "backbone" / SAFETENSORS_NAME),
                                      "tensors_sha256": tensors_sha256(net.backbone.state_dict())}})
    log(f"fine-tuned backbone and head saved to {out.resolve()} (final loss {meta['final_loss']})")
    return out
