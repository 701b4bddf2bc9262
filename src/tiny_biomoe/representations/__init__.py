"""Biosignal windows -> 224x224 images (spec/REPRESENTATIONS.md).

Kinds: ``waveform``, ``spectrogram_psd``, ``spectrogram_angle``, ``spectrogram_phase``, ``psd``,
``multi``; users add their own with :func:`register_kind`.
"""

from __future__ import annotations

from ._raster import apply_viridis, draw_polylines
from .base import Kind, as_windows_tensor, get_kind, list_kinds, register_kind, render, render_info, unregister_kind
from .previews import contact_sheet, render_signal, save_previews
from .multi import MultiParams, multi_components
from .psd import PSDParams, psd_curve, welch_psd
from .spectrogram import SpectrogramParams, spectrogram_matrix, spectrogram_values
from .waveform import WaveformParams, scale_windows

__all__ = [
    "Kind",
    "MultiParams",
    "PSDParams",
    "SpectrogramParams",
    "WaveformParams",
    "apply_viridis",
    "as_windows_tensor",
    "contact_sheet",
    "draw_polylines",
    "get_kind",
    "list_kinds",
    "multi_components",
    "psd_curve",
    "register_kind",
    "render",
    "render_info",
    "render_signal",
    "save_previews",
    "scale_windows",
    "spectrogram_matrix",
    "spectrogram_values",
    "unregister_kind",
    "welch_psd",
]
