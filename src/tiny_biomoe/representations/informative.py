"""How much of an image carries the signal: the share of rows and columns that are not background.

Definition (used by ``benchmarks/bench_informative.py`` and its test):

* A pixel carries signal when one of its RGB channels differs from the kind's background
  colour by more than ``tol`` (default 0.03, i.e. 3 % of the [0, 1] range).
* A row (column) carries signal when at least one of its pixels does; the shares are the
  fractions of such rows (columns) per image.
* Backgrounds: white for the line kinds (``waveform``, ``psd``, ``multi``); for
  ``spectrogram_psd`` the colour of the image's minimum (viridis at 0: the dynamic-range floor).
* ``spectrogram_angle`` and ``spectrogram_phase`` show a phase everywhere, but a phase is noise
  where there is no power: their pixels carry signal where the ``spectrogram_psd`` image of the
  same windows and parameters, clipped at ``phase_power_db`` below its maximum, does.

So a flat band above the filter edge (power below the floor) counts as background, and so do
the phase rows of that band.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._compat import keyword_only_after
from ..errors import InputError
from ..signals.modalities import ModalityDefaults
from ._viridis import VIRIDIS_RGB
from .base import get_kind, render

__all__ = ["signal_pixels", "row_column_share", "informative_share", "background_color", "LINE_KINDS", "PHASE_KINDS"]

LINE_KINDS = ("waveform", "psd", "multi")
PHASE_KINDS = ("spectrogram_angle", "spectrogram_phase")


def background_color(kind: str) -> tuple[float, float, float]:
    """The RGB background of a built-in kind (white for lines, viridis(0) for ``spectrogram_psd``)."""
    name = get_kind(kind).name
    if name in LINE_KINDS:
        return (1.0, 1.0, 1.0)
    if name == "spectrogram_psd" or name in PHASE_KINDS:
        return tuple(float(c) for c in VIRIDIS_RGB[0])  # type: ignore[return-value]
    raise InputError(f"no background colour is defined for kind {name!r}; pass background= explicitly")


def signal_pixels(images: torch.Tensor, background: "tuple[float, float, float]", *, tol: float = 0.03) -> torch.Tensor:
    """Boolean ``(N, H, W)``: pixels of ``(N, 3, H, W)`` images farther than ``tol`` from ``background`` in some channel."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise InputError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if not 0 <= tol < 1:
        raise InputError(f"tol must be in [0, 1), got {tol}")
    bg = torch.as_tensor(background, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - bg).abs().amax(dim=1) > tol


def row_column_share(mask: torch.Tensor) -> dict[str, np.ndarray]:
    """Per image of a ``(N, H, W)`` mask: ``{"rows", "columns", "pixels"}``, the fractions of rows and of
    columns holding a ``True`` pixel, and of ``True`` pixels (a stricter reading: how much of the area)."""
    if mask.ndim != 3:
        raise InputError(f"mask must have shape (N, H, W), got {tuple(mask.shape)}")
    m = mask.bool()
    out = {"rows": m.any(dim=2).float().mean(dim=1), "columns": m.any(dim=1).float().mean(dim=1),
           "pixels": m.float().mean(dim=(1, 2))}
    return {k: v.cpu().numpy().astype(np.float64) for k, v in out.items()}


@keyword_only_after(1, legacy=2)
def informative_share(
    windows: Any,
    *,
    kind: str,
    sampling_rate: float,
    modality: "str | ModalityDefaults | None" = None,
    tol: float = 0.03,
    phase_power_db: float = 60.0,
    **params: Any,
) -> dict[str, np.ndarray]:
    """Render ``windows`` as ``kind`` and measure them: ``{"rows", "columns", "pixels"}``, each ``(N,)`` in [0, 1].

    See the module docstring for the definition; ``params`` are the kind's parameters.
    """
    name = get_kind(kind).name
    if name in PHASE_KINDS:
        if not phase_power_db > 0:
            raise InputError(f"phase_power_db must be positive, got {phase_power_db}")
        imgs = render(windows, kind="spectrogram_psd", sampling_rate=sampling_rate, modality=modality, **{**params, "dynamic_range_db": phase_power_db})
    else:
        imgs = render(windows, kind=name, sampling_rate=sampling_rate, modality=modality, **params)
    return row_column_share(signal_pixels(imgs, background_color(name), tol=tol))
