"""Pain recognition end to end: trials -> windows -> images -> embeddings (cached) -> fusion -> heads -> metrics.

The functions here are what ``biomoe evaluate``, ``biomoe train`` and ``biomoe demo`` call:

* :func:`trial_windows` turns one modality of every trial into one fixed-length, preprocessed window;
* :func:`extract_embeddings` renders every (modality, representation kind) and embeds it with the
  model, through the on-disk :class:`~tiny_biomoe.data.EmbeddingCache`;
* :func:`evaluate_embeddings` runs the fusion experiments under a subject-wise protocol;
* :func:`evaluate` chains them; :func:`train_final_head` trains one head on all labelled data and saves it.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from ..data.cache import EmbeddingCache
from ..data.dataset import DatasetWarning, PainDataset
from ..errors import ConfigError, DatasetError
from .fusion import FUSION_LEVELS, FusionSpec, fuse, plan_experiments
from .heads import HeadConfig, save_head, train_head, train_heads
from .metrics import aggregate_folds, bootstrap_ci, classification_metrics, out_of_fold
from .protocols import Fold, make_folds

if TYPE_CHECKING:
    from .heads import FineTuneConfig

__all__ = [
    "PipelineConfig",
    "EmbeddingTable",
    "trial_windows",
    "extract_embeddings",
    "evaluate_embeddings",
    "evaluate",
    "evaluate_finetune",
    "train_final_head",
]


@dataclass
class PipelineConfig:
    """Everything that decides a result (stored in every report and saved head).

    ``modalities=None`` uses all modalities of the dataset. ``window_s=None`` uses the dataset's trial
    length (``dataset.window_s``, e.g. 5.5 s for BioVid), else each modality's default window (10 s for
    EDA/BVP/RESP/SpO2) shortened to the shortest trial with a warning; windows are never padded.
    ``resample``: ``"model"`` (each modality's model rate, e.g. 100 Hz for BVP), ``"native"`` (the
    modality's most common recorded rate) or Hz (:func:`tiny_biomoe.signals.conditioning.condition`).
    ``render_params`` maps a kind to parameter
    overrides for :func:`tiny_biomoe.representations.render`.

    Attributes:
        modalities: the modalities to use; ``None``: all of the dataset's.
        kinds: representation kinds rendered and embedded for every modality.
        fusion_levels: fusion levels to run, of ``"single"``, ``"representations"``, ``"modalities"`` (default all).
        fusion_methods: methods of the multi-input experiments, of ``"add"``, ``"mean"``, ``"concat"``.
        protocol: ``"split"``, ``"loso"`` or ``"kfold"`` (see :func:`~tiny_biomoe.pain.make_folds`).
        n_folds: number of folds of ``"kfold"`` (2 to the number of subjects).
        window_s: window in seconds; ``None``: the dataset's ``window_s``, else the modality's default window,
            shortened (with a warning) to the shortest trial (see :func:`trial_windows`).
        preprocess: apply each modality's filter when conditioning the trials.
        resample: the rate the trials are resampled to (see above).
        render_params: kind -> rendering parameter overrides (see above).
        head: how the heads are trained; fold ``i`` uses ``head.seed + i``.
        batch_size: windows rendered and embedded per model call.
        seed: seed of the subject-level bootstrap intervals and the report's embedding map, and the default seed
            of fine-tuning (:func:`evaluate_finetune`).
    """

    modalities: list[str] | None = None
    kinds: list[str] = field(default_factory=lambda: ["waveform", "spectrogram_psd"])
    fusion_levels: list[str] = field(default_factory=lambda: list(FUSION_LEVELS))
    fusion_methods: list[str] = field(default_factory=lambda: ["add", "concat"])
    protocol: str = "kfold"
    n_folds: int = 5
    window_s: float | None = None
    preprocess: bool = True
    resample: "str | float" = "model"
    render_params: dict[str, dict] = field(default_factory=dict)
    head: HeadConfig = field(default_factory=HeadConfig)
    batch_size: int = 32
    seed: int = 0

    def to_dict(self) -> dict:
        """The settings as a plain dict (stored in reports and saved heads)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "PipelineConfig":
        """Inverse of :meth:`to_dict`; unknown keys are a :class:`ConfigError`."""
        d = dict(d)
        head = HeadConfig(**d.pop("head", {}))
        names = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise ConfigError(f"unknown pipeline settings {bad}; known: {sorted(names)}")
        return cls(head=head, **d)


@dataclass
class EmbeddingTable:
    """Embeddings of every (modality, kind) for the same trials, with their labels and subjects."""

    embeddings: dict[tuple[str, str], np.ndarray]
    labels: np.ndarray
    groups: np.ndarray
    partitions: np.ndarray
    trial_ids: list[str]
    classes: list[str]
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- windows
def _modality_window_s(modality: str, window_s: float | None) -> float:
    if window_s is not None:
        return float(window_s)
    from ..signals import get_modality
    from ..errors import SignalError

    try:
        return float(get_modality(modality).window_s)
    except SignalError:
        return 10.0


def trial_windows(
    dataset: PainDataset, modality: str, window_s: float | None = None, preprocess: bool = True,
    *, resample: "str | float" = "model",
) -> tuple[np.ndarray, float, dict]:
    """One window per trial for ``modality``: ``(N, L)`` float32, its rate and a description.

    Each trial goes through :func:`tiny_biomoe.signals.conditioning.condition` (gaps -> filter over
    the whole trial -> resample to ``resample``, by default the modality's model rate -> the window
    at the trial's centre), exactly as ``embed``, ``render``, ``predict`` and the shards condition a
    recording. The window is ``window_s``, else the dataset's trial length (``dataset.window_s``),
    else the modality's default shortened to the shortest trial (the window follows the trial; a
    warning says so). Windows are never padded: trials shorter than a given window are refused
    (:class:`DatasetError` naming them and the longest window they allow). Quality flags
    (:mod:`tiny_biomoe.signals.quality`) are counted in ``info["quality"]`` and a warning.
    """
    w, fs, info, _, _ = _trial_conditioning(dataset, modality, window_s, preprocess, resample=resample)
    return w, fs, info


def _trial_conditioning(
    dataset: PainDataset, modality: str, window_s: float | None, preprocess: bool, *,
    resample: "str | float" = "model", lines: Sequence[str] = (), line_settings: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, float, dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`trial_windows` plus the component lines (for ``multi``) and the per-trial quality arrays."""
    from ..errors import SignalError
    from ..signals.conditioning import condition, resolve_rate

    trials = [t for t in dataset.trials if modality in t.signals]
    if len(trials) != len(dataset.trials):
        raise DatasetError(f"{len(dataset.trials) - len(trials)} trials lack {modality}; use dataset.select([...]) first")
    if not trials:
        raise DatasetError(f"no trials with {modality}")
    rates = Counter(float(t.sampling_rates[modality]) for t in trials)
    native = rates.most_common(1)[0][0]
    try:
        fs = resolve_rate("native" if resample == "native" else resample, modality, native)
    except SignalError as exc:
        raise DatasetError(f"{modality}: {exc}") from None
    durations = np.array([len(t.signals[modality]) / float(t.sampling_rates[modality]) for t in trials])
    given = window_s if window_s is not None else dataset.window_s  # the adapter's trial length (BioVid 5.5 s)
    if given is not None:
        win_s = float(given)
    else:
        win_s = _modality_window_s(modality, None)
        if durations.min() < win_s:  # the window follows the trial
            win_s = float(np.floor(durations.min() * fs) / fs)
            warnings.warn(f"{modality}: the shortest trial is {durations.min():.3g} s, so the window is {win_s:g} s "
                          f"(not the modality's default); pass window_s (CLI --window-s) to choose", DatasetWarning,
                          stacklevel=3)
    n_win = int(round(win_s * fs))
    short = [f"{t.subject}/{t.trial} ({d:.3g} s)" for t, d in zip(trials, durations) if int(np.ceil(d * fs - 1e-9)) < n_win]
    if short:
        raise DatasetError(
            f"{modality}: {len(short)} of {len(trials)} trials are shorter than the {win_s:g} s window, e.g. "
            f"{', '.join(short[:5])}; windows are never padded with flat lines: use a window of at most "
            f"{np.floor(durations.min() * fs) / fs:g} s (window_s, CLI --window-s) or leave those trials out")
    out = np.empty((len(trials), n_win), np.float32)
    out_lines = {c: np.empty((len(trials), n_win), np.float32) for c in lines}
    qual: dict[str, list] = {}
    resampled = 0
    settings: dict[str, Any] = {}
    for i, t in enumerate(trials):
        fs_t = float(t.sampling_rates[modality])
        resampled += fs_t != fs
        try:
            c = condition(t.signals[modality], sampling_rate=fs_t, modality=modality, window_s=n_win / fs,
                          resample=fs, preprocess=preprocess,
                          placement="centre", lines=lines, line_settings=line_settings)
        except SignalError as exc:
            raise DatasetError(f"{modality} of trial {t.subject}/{t.trial}: {exc}") from None
        out[i] = c.data[0]
        for name in lines:
            out_lines[name][i] = c.lines[name][0]
        for k, v in c.quality.as_arrays().items():
            qual.setdefault(k, []).append(v[0])
        settings = c.settings
    quality = {k: np.asarray(v) for k, v in qual.items()}
    flagged = quality["flatline"] | quality["clipped"] | quality["low_sqi"]
    counts = {"windows": len(trials), "flagged": int(flagged.sum()), "flatline": int(quality["flatline"].sum()),
              "clipped": int(quality["clipped"].sum()), "low_sqi": int(quality["low_sqi"].sum())}
    if counts["flagged"]:
        bad = [f"{t.subject}/{t.trial}" for t, f in zip(trials, flagged) if f]
        warnings.warn(f"{modality}: {counts['flagged']} of {len(trials)} trials have quality flags (flat-line "
                      f"{counts['flatline']}, clipped {counts['clipped']}, low SQI {counts['low_sqi']}), e.g. "
                      f"{', '.join(bad[:5])}", DatasetWarning, stacklevel=3)
    if resampled and resample == "native":
        warnings.warn(f"{modality}: {resampled} trials were resampled to {fs:g} Hz", DatasetWarning, stacklevel=3)
    info: dict[str, Any] = {"sampling_rate": fs, "window_s": n_win / fs, "samples": n_win, "resampled": int(resampled),
                            "original_rates": sorted(rates), "resample": resample,
                            "conditioning": settings.get("conditioning"), "placement": "centre",
                            "gaps": {k: v for k, v in (settings.get("gaps") or {}).items() if not k.startswith("samples_")},
                            "quality": {**(c.quality.settings if trials else {}), "counts": counts}}
    if preprocess:
        from ..signals import describe_preprocessing

        info["preprocessing"] = {**describe_preprocessing(modality, native), "at_rate": "each trial's own rate"}
    else:
        info["preprocessing"] = None
    return out, fs, info, out_lines, quality


# ----------------------------------------------------------------------------- embeddings
def _weights_key(weights_info: Any) -> str:
    """The weights' part of the embedding-cache key: the hash of the tensors themselves where it is
    known (two in-memory models, or a checkpoint changed after loading, e.g. fine-tuned, never share
    one), else the file's hash, else its source."""
    if weights_info is None:
        return "unknown-weights"
    sha = getattr(weights_info, "tensors_sha256", None) or getattr(weights_info, "sha256", None)
    return sha or str(getattr(weights_info, "source", weights_info))


def embed_block(
    windows: np.ndarray,
    sampling_rate: float,
    modality: str,
    kind: str,
    model: torch.nn.Module,
    *,
    render_params: Mapping[str, Any] | None = None,
    batch_size: int = 32,
    device: str | torch.device = "auto",
    backend: str | None = None,
    precision: str | None = None,
    lines: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Render ``windows`` as ``kind`` and embed them with ``model``: ``(N, 192)`` float32
    (a thin call of :func:`tiny_biomoe.embed.embed_windows`; the model runs in its inference form,
    ``backend``/``precision`` default to :func:`tiny_biomoe.model.runtime.current_settings`)."""
    from ..embed import embed_windows

    out = embed_windows(windows, sampling_rate=sampling_rate, modality=modality, kinds=[kind], model=model,
                        batch_size=batch_size, device=device,
                        kind_params={kind: dict(render_params or {})}, backend=backend, precision=precision,
                        lines=lines)
    return np.asarray(out[kind], dtype=np.float32)


def extract_embeddings(
    dataset: PainDataset,
    model: torch.nn.Module,
    config: PipelineConfig | None = None,
    *,
    weights_info: Any = None,
    cache: EmbeddingCache | None = None,
    device: str | torch.device = "auto",
    progress: bool = False,
    embed_fn: Callable[..., np.ndarray] | None = None,
) -> EmbeddingTable:
    """Embeddings of every (modality, kind) of the labelled trials of ``dataset``.

    ``cache`` (default: none) stores/reuses blocks keyed by dataset name, window content,
    modality, kind + parameters + version and weights hash. ``embed_fn`` replaces
    :func:`embed_block` (same signature), e.g. for tests without the network.
    """
    from ..representations import render_info

    cfg = config or PipelineConfig()
    ds = dataset.labelled()
    mods = list(cfg.modalities) if cfg.modalities else ds.modalities
    ds = ds.select(mods)
    fn = embed_fn or embed_block
    wkey = _weights_key(weights_info)
    from ..model.runtime import current_settings

    if current_settings()["precision"] != "fp32":  # reduced-precision embeddings are cached apart from float32 ones
        wkey = f"{wkey}+{current_settings()['precision']}"
    emb: dict[tuple[str, str], np.ndarray] = {}
    info: dict[str, Any] = {"windows": {}, "representations": {}, "weights": getattr(weights_info, "as_dict", lambda: weights_info)()}
    t0 = time.perf_counter()
    n_images = 0
    for m in mods:
        from ..representations.multi import multi_lines_request

        names, lset = multi_lines_request(cfg.kinds, cfg.render_params, m)
        w, fs, winfo, lines, _ = _trial_conditioning(ds, m, cfg.window_s, cfg.preprocess, resample=cfg.resample,
                                                     lines=names, line_settings=lset)
        info["windows"][m] = winfo
        for k in cfg.kinds:
            rinfo = render_info(k, fs, w.shape[1], m, **cfg.render_params.get(k, {}))
            info["representations"][f"{m}/{k}"] = rinfo
            key = None
            arr = None
            if cache is not None:
                key = cache.key(dataset_id=ds.name, windows=np.concatenate([w, *lines.values()], axis=1)
                                if (k == "multi" and lines) else w, sampling_rate=fs, modality=m, kind=k,
                                params=rinfo["params"], version=rinfo["version"], weights_hash=wkey)
                arr = cache.get(key)
                if arr is not None and arr.shape[0] != w.shape[0]:
                    arr = None
            if arr is None:
                if progress:
                    print(f"  embedding {m}/{k}: {w.shape[0]} windows ...", flush=True)
                arr = fn(w, fs, m, k, model, render_params=cfg.render_params.get(k, {}), batch_size=cfg.batch_size, device=device,
                         **({"lines": lines} if (k == "multi" and lines) else {}))
                n_images += w.shape[0]
                if cache is not None and key is not None:
                    cache.put(key, arr, {"dataset": ds.name, "modality": m, "kind": k, "render": rinfo, "weights": wkey, "n": int(w.shape[0])})
            elif progress:
                print(f"  embedding {m}/{k}: {w.shape[0]} windows (from cache)", flush=True)
            emb[(m, k)] = np.asarray(arr, dtype=np.float32)
    info["embedding_seconds"] = time.perf_counter() - t0
    info["images_embedded"] = n_images
    if cache is not None:
        info["cache"] = {"dir": str(cache.directory), "hits": cache.hits, "misses": cache.misses}
    return EmbeddingTable(emb, ds.labels_array(), ds.groups_array(), ds.partitions_array(),
                          [f"{t.subject}/{t.trial}" for t in ds.trials], list(ds.classes), info)


# ----------------------------------------------------------------------------- evaluation
def _fold_row(fold: Fold, y: np.ndarray, pred: np.ndarray, groups: np.ndarray, classes: Sequence[str],
              **extra: Any) -> dict:
    """Metrics of one fold's test predictions, with the fold's name, training size and test subjects."""
    row = classification_metrics(y[fold.test], pred, classes)
    row.update(fold=fold.name, n_train=int(len(fold.train)), test_subjects=sorted(set(groups[fold.test].tolist())), **extra)
    return row


def _oof_and_ci(folds: Sequence[Fold], y: np.ndarray, proba: Sequence[np.ndarray], groups: np.ndarray,
                 trial_ids: Sequence[str] | None, n_classes: int, seed: int) -> dict:
    """``oof`` (per-trial out-of-fold predictions) and ``bootstrap`` (95 % subject-level intervals of
    the pooled accuracy and macro-F1, :data:`BOOTSTRAP_SAMPLES` resamples seeded by ``seed``)."""
    oof = out_of_fold(folds, y, proba, groups, trial_ids)
    ci = bootstrap_ci(oof["true"], oof["predicted"], oof["subject"], n_classes, n_boot=BOOTSTRAP_SAMPLES, seed=seed)
    return {"oof": oof, "bootstrap": ci}


#: resamples of the subject-level bootstrap in every evaluation
BOOTSTRAP_SAMPLES = 1000


def _print_row(name: str, agg: Mapping[str, Any]) -> None:
    print(f"  {name:<50s} acc {agg['accuracy']['mean']:.3f} +- {agg['accuracy']['std']:.3f}  "
          f"macro-F1 {agg['macro_f1']['mean']:.3f}", flush=True)


#: the fused training inputs of the experiments trained together stay under this many float32 elements (1 GB)
TRAIN_ELEMENTS = 2**28


def _trained_experiments(table: EmbeddingTable, exps: Sequence[FusionSpec], folds: Sequence[Fold],
                         head: HeadConfig) -> Iterator[tuple[FusionSpec, np.ndarray, list[tuple[Any, dict]]]]:
    """``(spec, fused x, one (head, history) per fold)`` for each experiment in order. The heads of
    consecutive experiments are trained together (:func:`train_heads`: one batched network per width)
    while their inputs stay under :data:`TRAIN_ELEMENTS`; a head is the same as if trained alone."""
    cfgs = [dataclasses.replace(head, seed=head.seed + fi) for fi in range(len(folds))]
    i = 0
    while i < len(exps):
        chunk: list[tuple[FusionSpec, np.ndarray]] = []
        size = 0
        while i < len(exps) and (not chunk or size < TRAIN_ELEMENTS):
            x = fuse(table.embeddings, exps[i].inputs, exps[i].method)
            chunk.append((exps[i], x))
            size += sum(len(f.train) for f in folds) * x.shape[1]
            i += 1
        trained = train_heads([x[f.train] for _, x in chunk for f in folds],
                              [table.labels[f.train] for _ in chunk for f in folds], len(table.classes),
                              cfgs * len(chunk), [table.groups[f.train] for _ in chunk for f in folds])
        for e, (spec, x) in enumerate(chunk):
            yield spec, x, trained[e * len(folds) : (e + 1) * len(folds)]


def evaluate_embeddings(table: EmbeddingTable, config: PipelineConfig | None = None,
                        experiments: Sequence[FusionSpec] | None = None, progress: bool = False) -> dict:
    """Run every fusion experiment under the protocol; returns a JSON-able results dict."""
    cfg = config or PipelineConfig()
    mods = list(dict.fromkeys(m for m, _ in table.embeddings))
    kinds = list(dict.fromkeys(k for _, k in table.embeddings))
    exps = list(experiments) if experiments is not None else plan_experiments(mods, kinds, cfg.fusion_levels, cfg.fusion_methods)
    folds = make_folds(cfg.protocol, table.groups, table.partitions, n_folds=cfg.n_folds)
    n_cls = len(table.classes)
    results = []
    t0 = time.perf_counter()
    if progress:
        print(f"  training {len(exps) * len(folds)} heads ({len(exps)} experiments x {len(folds)} folds) ...", flush=True)
    for spec, x, heads in _trained_experiments(table, exps, folds, cfg.head):
        fold_res, proba = [], []
        for f, (head, hist) in zip(folds, heads):
            proba.append(head.predict_proba(x[f.test]))
            fold_res.append(_fold_row(f, table.labels, proba[-1].argmax(axis=1), table.groups, table.classes,
                                      best_epoch=hist.get("best_epoch")))
        agg = aggregate_folds(fold_res, table.classes)
        results.append({**spec.to_dict(), "dim": int(x.shape[1]), "folds": fold_res, "aggregate": agg,
                        **_oof_and_ci(folds, table.labels, proba, table.groups, table.trial_ids, n_cls, cfg.seed)})
        if progress:
            _print_row(spec.name, agg)
    return {
        "protocol": cfg.protocol,
        "folds": [{"name": f.name, "n_train": int(len(f.train)), "n_test": int(len(f.test))} for f in folds],
        "classes": list(table.classes),
        "experiments": results,
        "head_seconds": time.perf_counter() - t0,
    }


def evaluate(
    dataset: PainDataset,
    config: PipelineConfig | None = None,
    *,
    model: torch.nn.Module,
    weights_info: Any = None,
    cache: EmbeddingCache | None = None,
    device: str | torch.device = "auto",
    progress: bool = False,
    embed_fn: Callable[..., np.ndarray] | None = None,
) -> tuple[dict, EmbeddingTable]:
    """Embeddings + all experiments; returns ``(results, table)``. ``results`` holds the dataset
    summary, the configuration, the weights, the rendering and preprocessing used, and the metrics.

    Args:
        dataset: the trials; only the labelled ones with the configured modalities are used.
        config: the settings; ``None``: :class:`PipelineConfig` defaults.
        model: the TinyBioMoE that embeds the images.
        weights_info: where ``model``'s weights came from (a :class:`~tiny_biomoe.WeightsInfo`): its tensors' hash
            (else its file's sha256, else its source) is part of the cache key and its ``as_dict()`` is stored as ``results["weights"]``.
        cache: an :class:`~tiny_biomoe.data.EmbeddingCache` to reuse and store embeddings; ``None``: no cache.
        device: where the model runs (``"auto"``: the model's own device; see
            :func:`~tiny_biomoe.embed.embed_windows`).
        progress: print a line per embedded block and per experiment.
        embed_fn: replaces :func:`embed_block` (same signature), e.g. for tests without the network.
    """
    cfg = config or PipelineConfig()
    table = extract_embeddings(dataset, model, cfg, weights_info=weights_info, cache=cache, device=device,
                               progress=progress, embed_fn=embed_fn)
    res = evaluate_embeddings(table, cfg, progress=progress)
    res.update(
        dataset=dataset.summary(),
        config=cfg.to_dict(),
        weights=table.info.get("weights"),
        windows=table.info.get("windows"),
        representations=table.info.get("representations"),
        embedding={k: table.info.get(k) for k in ("embedding_seconds", "images_embedded", "cache")},
    )
    return res, table


def evaluate_finetune(
    dataset: PainDataset,
    config: PipelineConfig,
    finetune_config: "FineTuneConfig | None" = None,
    *,
    model: torch.nn.Module | None = None,
    modality: str | None = None,
    kind: str | None = None,
    trial_ids: Sequence[str] | None = None,
    device: str | torch.device = "auto",
    progress: bool = False,
) -> dict:
    """End-to-end fine-tuning (:func:`~tiny_biomoe.pain.finetune`) of backbone + linear classifier in
    every fold of ``config.protocol``, on one modality and one representation kind.

    The folds are made exactly as in :func:`evaluate_embeddings` (same trials when ``trial_ids`` lists
    the trials of the frozen-embedding table, same protocol and number of folds), so every fold is
    subject-disjoint and comparable with the other rows. Fold ``i`` trains with seed
    ``finetune_config.seed + i``; ``model`` is copied, never changed (not needed with
    ``pretrained=False``). Returns one experiment dict (level ``"finetune"``) for the results.

    Args:
        dataset: the trials; only the labelled ones with the chosen modality are used.
        config: the run's settings (protocol, folds, windows, rendering; ``seed`` for the bootstrap).
        finetune_config: the fine-tuning settings; ``None``: :class:`~tiny_biomoe.pain.heads.FineTuneConfig`
            with ``seed=config.seed``.
        model: the backbone to start from (see above); ``None`` is a ConfigError unless ``pretrained=False``.
        modality: the modality to train on; ``None``: the first of ``config.modalities``, else of the dataset's.
        kind: the representation kind; ``None``: ``config.kinds[0]``.
        trial_ids: ``"subject/trial"`` ids: use these trials, in this order (see above); ``None``: all.
        device: where to train (``"auto"``: CUDA, else MPS, else CPU).
        progress: print the result row when done.
    """
    from ..representations import render
    from .heads import FineTuneConfig, finetune

    ft = finetune_config or FineTuneConfig(seed=config.seed)
    if ft.pretrained and model is None:
        raise ConfigError("pretrained fine-tuning needs the model (or set pretrained=False for a random-init start)")
    m = modality or (list(config.modalities) if config.modalities else dataset.modalities)[0]
    k = kind or config.kinds[0]
    ds = dataset.labelled().select([m])
    if trial_ids is not None:
        order = {t: i for i, t in enumerate(trial_ids)}
        ds = PainDataset(ds.name, sorted((t for t in ds.trials if f"{t.subject}/{t.trial}" in order),
                                         key=lambda t: order[f"{t.subject}/{t.trial}"]), ds.classes, ds.notes, ds.info,
                         ds.window_s)
    y, g = ds.labels_array(), ds.groups_array()
    folds = make_folds(config.protocol, g, ds.partitions_array(), n_folds=config.n_folds)
    from ..representations.multi import multi_lines_request

    names, lset = multi_lines_request([k], config.render_params, m)
    w, fs, _, lines, _ = _trial_conditioning(ds, m, config.window_s, config.preprocess, resample=config.resample,
                                             lines=names, line_settings=lset)
    images = render(w, kind=k, sampling_rate=fs, modality=m, lines=lines or None, **config.render_params.get(k, {}))
    label = "pretrained" if ft.pretrained else "from scratch"
    fold_res, proba = [], []
    t0 = time.perf_counter()
    for fi, f in enumerate(folds):
        fc = dataclasses.replace(ft, seed=ft.seed + fi)
        net, hist = finetune(images[f.train], y[f.train], len(ds.classes), model, fc, device=device)
        dev = next(net.parameters()).device
        with torch.no_grad():
            proba.append(np.concatenate([torch.softmax(net(images[f.test][i : i + fc.batch_size].to(dev)).float(), 1).cpu().numpy()
                                         for i in range(0, len(f.test), fc.batch_size)]))
        pred = proba[-1].argmax(axis=1)
        fold_res.append(_fold_row(f, y, pred, g, ds.classes, final_loss=hist["loss"][-1] if hist["loss"] else None))
        del net
    agg = aggregate_folds(fold_res, ds.classes)
    name = f"{m}/{k} fine-tuned ({label})"
    if progress:
        _print_row(name, agg)
    return {"name": name, "level": "finetune", "inputs": [[m, k]], "method": "end-to-end", "dim": 192,
            "folds": fold_res, "aggregate": agg, "finetune": ft.to_dict(), "seconds": time.perf_counter() - t0,
            **_oof_and_ci(folds, y, proba, g, [f"{t.subject}/{t.trial}" for t in ds.trials], len(ds.classes), config.seed)}


def train_final_head(
    table: EmbeddingTable,
    spec: FusionSpec,
    config: PipelineConfig,
    out: str | Path,
    extra_metadata: Mapping[str, Any] | None = None,
    train_mask: np.ndarray | None = None,
) -> Path:
    """Train one head for ``spec`` on all (or ``train_mask``) labelled samples and save it with its
    embedding, representation and preprocessing settings (``head.safetensors`` + ``head.json``)."""
    x = fuse(table.embeddings, spec.inputs, spec.method)
    sel = np.ones(len(x), bool) if train_mask is None else np.asarray(train_mask, bool)
    if sel.sum() < 2:
        raise DatasetError("too few training samples to train a head")
    head, hist = train_head(x[sel], table.labels[sel], len(table.classes), config.head, groups=table.groups[sel])
    meta = {
        "classes": table.classes,
        "fusion": spec.to_dict(),
        "pipeline": config.to_dict(),
        "windows": table.info.get("windows"),
        "representations": {k: v for k, v in table.info.get("representations", {}).items()
                            if tuple(k.split("/", 1)) in set(spec.inputs)},
        "weights": table.info.get("weights"),
        "training": {"n": int(sel.sum()), "subjects": int(len(set(table.groups[sel].tolist()))),
                     "best_epoch": hist.get("best_epoch")},
        **dict(extra_metadata or {}),
    }
    return save_head(head, out, meta)
