"""Pain datasets: adapters (AI4PAIN 2025, BioVid part A, manifest CSV), synthetic data, embedding cache."""

from .cache import EmbeddingCache, default_cache_dir
from .dataset import DatasetWarning, PainDataset, Trial
from .folders import AI4PAIN_CLASSES, BIOVID_CLASSES, load_ai4pain, load_biovid
from .load import DATASETS, load_dataset
from .manifest import load_manifest
from .synthetic import SyntheticPainConfig, make_synthetic_pain, write_ai4pain_layout

__all__ = [
    "Trial",
    "PainDataset",
    "DatasetWarning",
    "AI4PAIN_CLASSES",
    "BIOVID_CLASSES",
    "load_ai4pain",
    "load_biovid",
    "load_manifest",
    "load_dataset",
    "DATASETS",
    "SyntheticPainConfig",
    "make_synthetic_pain",
    "write_ai4pain_layout",
    "EmbeddingCache",
    "default_cache_dir",
]
