"""Biosignals: readers, per-modality defaults, preprocessing, conditioning (the one path), windowing, quality."""

from __future__ import annotations

from .modalities import MODALITY_ALIASES, ModalityDefaults, get_modality, list_modalities, modality_from_name
from .processing import (
    check_sampling_rate,
    check_signal,
    describe_preprocessing,
    design_filter,
    eda_components,
    fill_short_gaps,
    normalize,
    preprocess,
    resample,
    zero_phase_filter,
)
from .conditioning import Conditioned, condition
from .quality import WindowQuality, window_quality
from .readers import Recording, read_signal
from .tables import Table, read_table
from .inspection import format_inspection, inspect
from .windowing import Windows, make_windows, signal_windows

__all__ = [
    "MODALITY_ALIASES",
    "Conditioned",
    "WindowQuality",
    "condition",
    "window_quality",
    "ModalityDefaults",
    "Recording",
    "Table",
    "Windows",
    "check_sampling_rate",
    "check_signal",
    "describe_preprocessing",
    "design_filter",
    "eda_components",
    "fill_short_gaps",
    "format_inspection",
    "get_modality",
    "inspect",
    "list_modalities",
    "modality_from_name",
    "make_windows",
    "normalize",
    "preprocess",
    "read_signal",
    "read_table",
    "resample",
    "signal_windows",
    "zero_phase_filter",
]
