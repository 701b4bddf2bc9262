"""Pain datasets: adapters (AI4PAIN 2025/2026, BioVid part A, manifest CSV), synthetic data, embedding cache."""

from .cache import EmbeddingCache, default_cache_dir
from .dataset import DatasetWarning, PainDataset, Trial
from .ai4pain import AI4PAIN_2026_CLASSES, AI4PAIN_CLASSES, load_ai4pain
from .biovid import BIOVID_CLASSES, load_biovid
from .load import DATASETS, load_dataset
from .manifest import load_manifest
from .events import cut_trials, dataset_from_events, events_from_stim, read_events
from .synthetic import SyntheticPainConfig, make_synthetic_pain, write_ai4pain_layout

__all__ = [
    "Trial",
    "PainDataset",
    "DatasetWarning",
    "AI4PAIN_CLASSES",
    "AI4PAIN_2026_CLASSES",
    "BIOVID_CLASSES",
    "load_ai4pain",
    "load_biovid",
    "load_manifest",
    "read_events",
    "events_from_stim",
    "cut_trials",
    "dataset_from_events",
    "load_dataset",
    "DATASETS",
    "SyntheticPainConfig",
    "make_synthetic_pain",
    "write_ai4pain_layout",
    "EmbeddingCache",
    "default_cache_dir",
]
