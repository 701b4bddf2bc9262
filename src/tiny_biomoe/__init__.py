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

__all__ = [
    "__version__",
    "TinyBioMoE",
    "WeightsInfo",
    "load_model",
    "TinyBioMoEError",
    "InputError",
    "CheckpointError",
    "WeightsNotFoundError",
    "SignalError",
    "DatasetError",
    "ConfigError",
]
