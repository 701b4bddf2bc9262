"""Biosignal windows -> 224x224 images (spec/REPRESENTATIONS.md).

Kinds: ``waveform``, ``spectrogram_psd``, ``spectrogram_angle``, ``spectrogram_phase``, ``psd``,
``multi``; users add their own with :func:`register_kind`.

Layout: ``kind.py`` (the :class:`Kind` record, a leaf), ``_raster.py`` (drawing helpers),
one module per built-in kind, ``base.py`` (the registry and :func:`render`). Reading files and
writing previews live above this package, in :mod:`tiny_biomoe.previews`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from ._raster import apply_viridis, check_line_params, draw_polylines, scale_windows
from .base import Kind, as_windows_tensor, get_kind, list_kinds, register_kind, render, render_info, unregister_kind
from .informative import informative_share
from .multi import MultiParams, multi_components
from .psd import PSDParams, psd_curve, welch_psd
from .spectrogram import SpectrogramParams, spectrogram_matrix, spectrogram_values
from .waveform import WaveformParams

__all__ = [
    "Kind",
    "MultiParams",
    "PSDParams",
    "SpectrogramParams",
    "WaveformParams",
    "apply_viridis",
    "as_windows_tensor",
    "check_line_params",
    "draw_polylines",
    "get_kind",
    "informative_share",
    "list_kinds",
    "multi_components",
    "psd_curve",
    "register_kind",
    "render",
    "render_info",
    "scale_windows",
    "spectrogram_matrix",
    "spectrogram_values",
    "unregister_kind",
    "welch_psd",
]

#: Names that moved to :mod:`tiny_biomoe.previews` (forwarded lazily, with a DeprecationWarning,
#: so that importing this package never imports the module above it).
_MOVED_TO_PREVIEWS = ("render_signal", "save_previews", "contact_sheet", "render_file")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_PREVIEWS:
        warnings.warn(
            f"tiny_biomoe.representations.{name} moved to tiny_biomoe.previews.{name}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("tiny_biomoe.previews"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
