"""The :class:`Kind` record of one representation and the checks every kind shares (a leaf module).

The registry (``base.py``) and the built-in kinds (``waveform``, ``spectrogram``, ``psd``,
``multi``) all import from here, never from each other, so there is no import circle.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import torch

from ..errors import InputError
from ..signals.modalities import ModalityDefaults, get_modality

__all__ = ["Kind", "RenderFn", "ResolveFn", "check_image_size"]

#: ``render_fn(windows (N, L) tensor on the target device, sampling_rate, resolved params) -> (N, 3, S, S)``
RenderFn = Callable[[torch.Tensor, float, Any], torch.Tensor]
#: ``resolve_fn(params, sampling_rate, n_samples, modality or None) -> params with every default filled``
ResolveFn = Callable[[Any, float, int, "ModalityDefaults | None"], Any]


@dataclass(frozen=True)
class Kind:
    """One kind of representation.

    Attributes:
        name: registry key, e.g. ``"waveform"``.
        version: bumped whenever the pixels for the same input and parameters change.
        params_type: frozen dataclass of parameters (all with defaults).
        render_fn: draws a batch of windows (see :data:`RenderFn`).
        resolve_fn: fills modality/window-dependent defaults (see :data:`ResolveFn`); optional.
        description: one line for listings.
        lines_fn: optional ``lines_fn(windows, lines, sampling_rate, params)`` used instead of
            ``render_fn`` when :func:`~tiny_biomoe.representations.render` is given component
            ``lines`` (name -> ``(N, L)`` tensor cut from the whole recording, e.g. by
            :func:`tiny_biomoe.signals.conditioning.condition`); ``multi`` has one.
        output_in_range: ``render_fn`` is known to return float32 values in [0, 1] already, so
            :func:`~tiny_biomoe.representations.render` skips its final clamp (one pass over the images less).
    """

    name: str
    version: str
    params_type: type
    render_fn: RenderFn
    resolve_fn: ResolveFn | None = None
    description: str = ""
    output_in_range: bool = False
    lines_fn: Callable[..., torch.Tensor] | None = None

    def params(
        self, sampling_rate: float, n_samples: int, modality: "str | ModalityDefaults | None" = None, **overrides: Any
    ) -> Any:
        """The parameters that rendering will use, with overrides applied and defaults resolved."""
        names = {f.name for f in dataclasses.fields(self.params_type)}
        bad = sorted(set(overrides) - names)
        if bad:
            raise InputError(f"kind {self.name!r} has no parameter(s) {bad}; its parameters are {sorted(names)}")
        try:
            p = self.params_type(**overrides)
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad parameters for kind {self.name!r}: {exc}") from exc
        m = get_modality(modality) if modality is not None else None
        if self.resolve_fn is not None:
            p = self.resolve_fn(p, float(sampling_rate), int(n_samples), m)
        return p


def check_image_size(size: Any) -> None:
    """Raise InputError unless ``size`` (the image side of a kind) is a whole number of pixels >= 16."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 16:
        raise InputError(f"size must be a whole number of pixels >= 16 (the model takes 224), got {size!r}")
