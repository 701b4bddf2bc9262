"""``biomoe info``: version, size, device and where weights are looked for."""

from __future__ import annotations

import platform

import torch

__all__ = ["info_text"]


def info_text(device: str = "auto") -> str:
    """A human-readable summary of the installation."""
    from ._version import __version__
    from ._device import resolve_device
    from .model import TinyBioMoE
    from .model.weights import OFFICIAL_URL, default_cache_dir, weight_search_locations

    with torch.device("meta"):
        n_params = TinyBioMoE(check_inputs=False).num_parameters()
    dev = resolve_device(device)
    lines = [
        f"tiny-biomoe {__version__}",
        f"python {platform.python_version()}, torch {torch.__version__}, threads {torch.get_num_threads()}",
        f"device: {dev}" + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
        f"parameters: {n_params:,}",
        "weights for 'tiny-biomoe' are looked for in this order:",
    ]
    for i, (label, loc) in enumerate(weight_search_locations(), start=1):
        state = "not set" if loc is None else ("found" if loc.exists() else "missing")
        lines.append(f"  {i}. {label}: {loc if loc is not None else '-'} [{state}]")
    lines.append(f"  4. download: {OFFICIAL_URL} -> {default_cache_dir()}")
    return "\n".join(lines)
