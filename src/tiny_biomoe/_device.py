"""Device selection shared by the API and the CLI."""

from __future__ import annotations

import torch

from .errors import InputError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``'auto'``/``None``/``'cpu'``/``'cuda:1'``/a device into a :class:`torch.device`.

    ``'auto'`` picks CUDA when available, else Apple MPS, else the CPU. Asking for CUDA on a
    machine without it is an :class:`~tiny_biomoe.errors.InputError` that says so.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu or auto")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise InputError(f"device {device!r}: this machine has {n} CUDA device(s) (cuda:0 .. cuda:{n - 1})")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError(f"device {device!r} was asked for but Apple MPS is not available here; use --device cpu or auto")
        return dev
    if dev.type != "cpu":  # xla, meta, ipu, ...: not supported by the package
        raise InputError(f"device {device!r} is not supported; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    if dev.index not in (None, 0):
        raise InputError(f"device {device!r}: use 'cpu' (the CPU has no index)")
    return dev
