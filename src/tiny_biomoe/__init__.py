"""tiny-biomoe: biosignals -> 224x224 images -> Tiny-BioMoE 192-D embeddings -> pain recognition.

>>> from tiny_biomoe import TinyBioMoE
>>> model = TinyBioMoE.from_pretrained("Tiny-BioMoE.pth")  # doctest: +SKIP

The public names below are imported lazily on first use (PEP 562), so ``import tiny_biomoe``
and ``biomoe --help`` stay fast and do not load torch until it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "TinyBioMoEError": ".errors",
    "InputError": ".errors",
    "CheckpointError": ".errors",
    "WeightsNotFoundError": ".errors",
    "SignalError": ".errors",
    "DatasetError": ".errors",
    "ConfigError": ".errors",
    # model
    "TinyBioMoE": ".model",
    "WeightsInfo": ".model",
    "load_model": ".model",
    "optimize_for_inference": ".model.fast",
    "FastTinyBioMoE": ".model.fast",
    "export_onnx": ".model.export",
    "OnnxEmbedder": ".model.export",
    # signals, representations, embeddings
    "read_signal": ".signals",
    "inspect": ".signals.inspection",
    "Recording": ".signals",
    "preprocess": ".signals",
    "get_modality": ".signals",
    "render": ".representations",
    "list_kinds": ".representations",
    "register_kind": ".representations",
    "embed_signal": ".embed",
    "render_signal": ".previews",
    "embed_windows": ".embed",
    "load_embeddings": ".embed",
    "EmbeddingResult": ".embed",
    "BioMoEEmbedder": ".sklearn",
    # pain recognition
    "PainDataset": ".data",
    "Trial": ".data",
    "load_ai4pain": ".data",
    "load_biovid": ".data",
    "load_manifest": ".data",
    "read_events": ".data",
    "cut_trials": ".data",
    "dataset_from_events": ".data",
    "load_dataset": ".data",
    "make_synthetic_pain": ".data",
    "EmbeddingCache": ".data",
    "PipelineConfig": ".pain",
    "HeadConfig": ".pain",
    "evaluate": ".pain",
    "train_head": ".pain",
    "load_head": ".pain",
    "finetune": ".pain",
    "fuse": ".pain",
    "make_folds": ".pain",
    "write_report": ".pain",
    "run_demo": ".pain",
    "predict": ".pain",
    "evaluate_finetune": ".pain",
    # pretraining (the function is tiny_biomoe.pretrain.pretrain: the name here is the subpackage)
    "PretrainConfig": ".pretrain",
    "prepare_shards": ".pretrain",
    "load_pretrain_config": ".pretrain:load_config",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'tiny_biomoe' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name, __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .data import EmbeddingCache, PainDataset, Trial, load_ai4pain, load_biovid, load_dataset, load_manifest, make_synthetic_pain
    from .embed import EmbeddingResult, embed_signal, embed_windows, load_embeddings
    from .sklearn import BioMoEEmbedder
    from .data import cut_trials, dataset_from_events, read_events
    from .errors import CheckpointError, ConfigError, DatasetError, InputError, SignalError, TinyBioMoEError, WeightsNotFoundError
    from .model import TinyBioMoE, WeightsInfo, load_model
    from .model.export import OnnxEmbedder, export_onnx
    from .model.fast import FastTinyBioMoE, optimize_for_inference
    from .pretrain import PretrainConfig, prepare_shards
    from .pretrain import load_config as load_pretrain_config
    from .representations import list_kinds, register_kind, render
    from .signals.inspection import inspect
    from .signals import Recording, get_modality, preprocess, read_signal
    from .pain import HeadConfig, PipelineConfig, evaluate, evaluate_finetune, finetune, fuse, load_head, make_folds, predict, run_demo, train_head, write_report
