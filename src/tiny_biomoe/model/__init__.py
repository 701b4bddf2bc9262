"""The Tiny-BioMoE network (spec/MODEL.md), its checkpoints, initialisation and provenance.

Layers, each importing only those below it: ``spectral``/``cascaded`` (the experts) and
``weights`` (checkpoint files, locations) -> ``moe`` (the network) -> ``init`` (weight
initialisation) -> ``provenance`` (where weights came from, ``load_model``).
"""

from .moe import EMBED_DIM, EXPERT_DIM, IMG_SIZE, MoEOutput, TinyBioMoE
from .provenance import WeightsInfo, load_model, resolve_weights

__all__ = ["TinyBioMoE", "MoEOutput", "WeightsInfo", "load_model", "resolve_weights", "EMBED_DIM", "EXPERT_DIM", "IMG_SIZE"]
