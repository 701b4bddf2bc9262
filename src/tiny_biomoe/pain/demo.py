"""``biomoe demo``: the whole pain pipeline on the built-in synthetic dataset, in about half a minute on two CPU cores.

Steps: generate synthetic AI4PAIN-like data -> write it in the AI4PAIN 2025 layout as distributed
(``<partition>/<Modality>/<subject>.csv``, one column per segment) and read it back with the real
adapter -> load the model (official weights if found; otherwise a seeded
random-init model, announced loudly) -> render + embed (cached) -> fusion experiments under
subject-wise k-fold -> report folder. Numbers on synthetic data say nothing about real patients.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..data.cache import EmbeddingCache
from ..data.dataset import PainDataset
from ..data.ai4pain import load_ai4pain
from ..data.synthetic import SyntheticPainConfig, make_synthetic_pain, write_ai4pain_layout
from .heads import HeadConfig
from .pipeline import PipelineConfig, evaluate
from .report import write_report
from .run import class_examples, load_weights

__all__ = ["DemoConfig", "run_demo", "demo_config"]

WEIGHTS_HELP = (
    "To use the official weights, download "
    "https://github.com/GkikasStefanos/Tiny-BioMoE/releases/latest/download/Tiny-BioMoE.pth and put it at "
    "$TINY_BIOMOE_WEIGHTS (a file path) or in the cache dir ($TINY_BIOMOE_CACHE, default ~/.cache/tiny-biomoe/), "
    "or pass --weights PATH."
)


@dataclass
class DemoConfig:
    """Size of the demo. The defaults embed ~720 images (10 subjects x 9 trials x 4 modalities x 2 kinds):
    about 13-20 s of model time on 2 CPU cores; ``quick`` embeds 48."""

    synthetic: SyntheticPainConfig = field(default_factory=lambda: SyntheticPainConfig(n_subjects=10, trials_per_class=3))
    pipeline: PipelineConfig = field(default_factory=lambda: PipelineConfig(
        modalities=["EDA", "BVP", "RESP", "SpO2"], kinds=["waveform", "spectrogram_psd"], protocol="kfold", n_folds=5,
        head=HeadConfig(kind="mlp")))


def demo_config(quick: bool = False, seed: int = 0) -> DemoConfig:
    """The demo configuration; ``quick`` is the reduced size used by tests (4 subjects x 3 trials, 2 modalities: 48 images)."""
    if quick:
        cfg = DemoConfig(
            SyntheticPainConfig(n_subjects=4, trials_per_class=1, seed=seed, partitions=None),
            PipelineConfig(modalities=["EDA", "BVP"], kinds=["waveform", "spectrogram_psd"], protocol="kfold", n_folds=2,
                           head=HeadConfig(kind="mlp", max_epochs=60, patience=10, seed=seed), seed=seed),
        )
    else:
        cfg = DemoConfig()
        cfg.synthetic = dataclasses.replace(cfg.synthetic, seed=seed)
        cfg.pipeline.seed = seed
        cfg.pipeline.head.seed = seed
    return cfg


def run_demo(
    out: str | Path | None = None,
    weights: str = "tiny-biomoe",
    quick: bool = False,
    seed: int = 0,
    device: str = "auto",
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    config: DemoConfig | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Run the demo and return the report folder (default ``./biomoe-demo``).

    Args:
        out: the report folder (see :func:`~tiny_biomoe.pain.write_report`); ``None``: ``./biomoe-demo``.
        weights: the model weights (a path or name for :func:`~tiny_biomoe.load_model`); ``"tiny-biomoe"``
            not found: a seeded random init, announced loudly.
        quick: the reduced size of :func:`demo_config` (48 images); unused when ``config`` is given.
        seed: seed of :func:`demo_config` (data, head, bootstrap; unused when ``config`` is given) and of the
            random-init fallback.
        device: where the model runs (``"auto"``: CUDA, else MPS, else CPU).
        cache_dir: the embedding cache folder; ``None``: :func:`~tiny_biomoe.data.cache.default_cache_dir`.
        use_cache: reuse and store embeddings in the cache.
        config: the demo's size and settings; ``None``: ``demo_config(quick, seed)``.
        log: called with each progress line.
    """
    t0 = time.perf_counter()
    cfg = config or demo_config(quick, seed)
    out = Path(out) if out is not None else Path("biomoe-demo")
    log("tiny-biomoe demo: synthetic pain data (numbers say NOTHING about real patients)")
    syn = make_synthetic_pain(cfg.synthetic)
    with tempfile.TemporaryDirectory(prefix="biomoe-demo-data-") as tmp:
        write_ai4pain_layout(syn, tmp, blind_partitions=())  # the demo keeps the test labels to evaluate on them
        with warnings.catch_warnings(record=True) as caught:  # shown as one-line notes, not hidden
            warnings.simplefilter("always")
            parts = ("train", "validation", "test") if cfg.synthetic.partitions else ("train",)
            ds = load_ai4pain(tmp, partitions=parts, modalities=cfg.pipeline.modalities,
                              baseline_segments=cfg.synthetic.trials_per_class, segment_s=cfg.synthetic.duration_s)
        for w in caught:
            log(f"note: {w.message}")
    ds = PainDataset(syn.name, ds.trials, ds.classes, list(syn.notes), ds.info, ds.window_s)
    log(ds.summary_text())

    model, winfo = load_weights(weights, device, True, seed, log, hint=WEIGHTS_HELP)

    cache = EmbeddingCache(cache_dir, enabled=use_cache)
    n_img = len(ds.trials) * len(cfg.pipeline.modalities or ds.modalities) * len(cfg.pipeline.kinds)
    log(f"embedding {n_img} images ({len(cfg.pipeline.kinds)} kinds), cache {cache.directory if use_cache else 'off'}")
    results, table = evaluate(ds, cfg.pipeline, model=model, weights_info=winfo, cache=cache, device=device, progress=True)
    results["demo"] = {"quick": quick if config is None else None, "seed": seed if config is None else None,
                       "config": "given" if config is not None else "demo_config(quick, seed)",
                       "synthetic": dataclasses.asdict(cfg.synthetic)}  # a given config decides; its seeds are here

    examples = class_examples(ds, cfg.pipeline)
    results["total_seconds"] = time.perf_counter() - t0
    title = "Tiny-BioMoE demo on SYNTHETIC pain data"
    folder = write_report(results, out, examples, title=title, embeddings=table)
    best = max(results["experiments"], key=lambda e: e["aggregate"]["macro_f1"]["mean"])
    log(f"best: {best['name']}: accuracy {100 * best['aggregate']['accuracy']['mean']:.1f} %, "
        f"macro-F1 {100 * best['aggregate']['macro_f1']['mean']:.1f} % (chance ~33 %)")
    log(f"done in {results['total_seconds']:.0f} s; report: {folder.resolve()}")
    return folder
