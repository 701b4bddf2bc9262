"""The Tiny-BioMoE network (spec/MODEL.md) and its checkpoints."""

from .moe import EMBED_DIM, EXPERT_DIM, IMG_SIZE, MoEOutput, TinyBioMoE
from .weights import WeightsInfo, load_model, resolve_weights

__all__ = ["TinyBioMoE", "MoEOutput", "WeightsInfo", "load_model", "resolve_weights", "EMBED_DIM", "EXPERT_DIM", "IMG_SIZE"]
