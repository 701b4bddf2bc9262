"""tiny-biomoe: biosignals -> 224x224 images -> Tiny-BioMoE 192-D embeddings -> pain recognition.

>>> from tiny_biomoe import TinyBioMoE
>>> model = TinyBioMoE.from_pretrained("Tiny-BioMoE.pth")  # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    CheckpointError,
    ConfigError,
    DatasetError,
    InputError,
    SignalError,
    TinyBioMoEError,
    WeightsNotFoundError,
)
from .model import TinyBioMoE, WeightsInfo, load_model
from .representations import list_kinds, register_kind, render
from .signals import Recording, get_modality, preprocess, read_signal
from .embed import EmbeddingResult, embed_signal, embed_windows, load_embeddings

__all__ = [
    "__version__",
    "TinyBioMoE",
    "WeightsInfo",
    "load_model",
    "render",
    "list_kinds",
    "register_kind",
    "read_signal",
    "Recording",
    "preprocess",
    "get_modality",
    "embed_signal",
    "embed_windows",
    "load_embeddings",
    "EmbeddingResult",
    "TinyBioMoEError",
    "InputError",
    "CheckpointError",
    "WeightsNotFoundError",
    "SignalError",
    "DatasetError",
    "ConfigError",
]
