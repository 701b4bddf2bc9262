"""The registry of kinds and :func:`render` (the :class:`Kind` record itself lives in ``kind.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from .._compat import keyword_only_after
from ..errors import InputError, SignalError
from ..signals.modalities import ModalityDefaults
from ..signals.processing import check_sampling_rate
from .kind import Kind, RenderFn, ResolveFn, check_image_size  # noqa: F401  (re-exported: the registry's record)

__all__ = ["Kind", "register_kind", "unregister_kind", "get_kind", "list_kinds", "render", "render_info", "as_windows_tensor", "check_image_size", "kind_list"]

_REGISTRY: dict[str, Kind] = {}


def _ensure_builtins() -> None:
    if _REGISTRY:
        return
    from .multi import MULTI
    from .psd import PSD
    from .spectrogram import SPECTROGRAM_KINDS
    from .waveform import WAVEFORM

    for k in (WAVEFORM, *SPECTROGRAM_KINDS, PSD, MULTI):
        _REGISTRY.setdefault(k.name, k)


def register_kind(kind: Kind, overwrite: bool = False) -> Kind:
    """Add a kind to the registry (``overwrite=True`` to replace one with the same name)."""
    _ensure_builtins()
    if not isinstance(kind, Kind):
        raise InputError("register_kind expects a tiny_biomoe.representations.Kind")
    if kind.name in _REGISTRY and not overwrite:
        raise InputError(f"a kind named {kind.name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind from the registry (mainly for tests and for replacing a kind)."""
    _ensure_builtins()
    if name not in _REGISTRY:
        raise InputError(f"no kind named {name!r} is registered")
    del _REGISTRY[name]


def get_kind(name: "str | Kind") -> Kind:
    """Look a kind up by name; unknown names raise InputError listing the known ones."""
    if isinstance(name, Kind):
        return name
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown representation kind {name!r}; known kinds: {', '.join(list_kinds())}") from None


def kind_list(kinds: "str | Kind | Sequence[str | Kind]") -> "list[str | Kind]":
    """One kind or several as a list, checked before any work: empty or unknown names are InputErrors."""
    items = [kinds] if isinstance(kinds, (str, Kind)) else list(kinds)
    if not items:
        raise InputError("no representation kinds given; e.g. kinds=('waveform', 'spectrogram_psd')")
    for k in items:
        get_kind(k)
    return items


def list_kinds() -> list[str]:
    """Names of all registered kinds."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def as_windows_tensor(windows: Any, device: "torch.device | str | None" = None) -> torch.Tensor:
    """Validate windows (``(L,)`` or ``(N, L)``, array or tensor) and return a 2-D tensor on ``device``.

    float64 input stays float64 (except on MPS); everything else becomes float32.
    """
    if isinstance(windows, torch.Tensor):
        x = windows.detach()
    else:
        try:
            arr = np.asarray(windows)
            x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64 if arr.dtype == np.float64 else np.float32))
        except (TypeError, ValueError) as exc:
            raise InputError(f"windows must be a numeric array or tensor: {exc}") from exc
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2:
        raise InputError(f"windows must have shape (N, L) or (L,), got {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] < 8:
        raise InputError(f"need at least one window of at least 8 samples, got shape {tuple(x.shape)}")
    dev = torch.device(device) if device is not None else x.device
    dtype = torch.float64 if x.dtype == torch.float64 and dev.type != "mps" else torch.float32
    x = x.to(device=dev, dtype=dtype)
    mn, mx = torch.aminmax(x)  # NaN and inf propagate to the extremes: one pass instead of ~5
    if not bool(torch.isfinite(mn) & torch.isfinite(mx)):
        raise SignalError("windows contain NaN or inf; fill gaps first (make_windows does this)")
    return x


def render_info(
    kind: "str | Kind", sampling_rate: float, n_samples: int, modality: "str | ModalityDefaults | None" = None, **params: Any
) -> dict[str, Any]:
    """``{"kind", "version", "params"}`` describing how windows of ``n_samples`` samples are rendered."""
    k = get_kind(kind)
    p = k.params(sampling_rate, n_samples, modality, **params)
    return {"kind": k.name, "version": k.version, "params": dataclasses.asdict(p)}


@keyword_only_after(1, legacy=4)
def render(
    windows: Any,
    *,
    kind: "str | Kind",
    sampling_rate: float,
    modality: "str | ModalityDefaults | None" = None,
    device: "torch.device | str | None" = None,
    lines: "Mapping[str, Any] | None" = None,
    **params: Any,
) -> torch.Tensor:
    """Render windows to images: float32 ``(N, 3, 224, 224)`` in [0, 1], in one batched pass.

    Args:
        windows: ``(N, L)`` or ``(L,)`` NumPy array or tensor (no NaN).
        kind: a registered kind name (see :func:`list_kinds`) or a :class:`Kind`.
        sampling_rate: Hz.
        modality: name or defaults; selects per-modality parameters (STFT segment, fixed range, ...).
        device: where to render (default: the input tensor's device, CPU for arrays).
        lines: component windows (name -> ``(N, L)``) cut from the whole recording, for kinds that
            draw them (``multi``; :func:`tiny_biomoe.signals.conditioning.condition` makes them);
            ignored by the others. Without them ``multi`` derives its lines from the window itself.
        **params: overrides of the kind's parameter dataclass.

    >>> import numpy as np
    >>> render(np.sin(np.arange(1000) / 20), kind="waveform", sampling_rate=100.0).shape
    torch.Size([1, 3, 224, 224])
    """
    k = get_kind(kind)
    fs = check_sampling_rate(sampling_rate)
    x = as_windows_tensor(windows, device)
    p = k.params(fs, x.shape[1], modality, **params)
    with torch.no_grad():
        if lines and k.lines_fn is not None:
            ln = {c: as_windows_tensor(v, x.device).to(x.dtype) for c, v in lines.items()}
            if any(v.shape != x.shape for v in ln.values()):
                raise InputError(f"lines must have the windows' shape {tuple(x.shape)}, got "
                                 f"{ {c: tuple(v.shape) for c, v in ln.items()} }")
            img = k.lines_fn(x, ln, fs, p)
        else:
            img = k.render_fn(x, fs, p)
    if k.output_in_range and img.dtype == torch.float32:
        return img
    return img.to(torch.float32).clamp_(0.0, 1.0)
