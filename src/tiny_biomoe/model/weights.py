"""Checkpoints: the official ``.pth`` layout, our safetensors format, and where weights are found.

Security: checkpoints are never unpickled in full. ``.pth`` files go through
``torch.load(..., weights_only=True)``, which refuses any pickle that would build arbitrary
objects (and so never runs code hidden in one); safetensors files hold raw tensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from .._io import atomic_path
from ..errors import CheckpointError, WeightsNotFoundError

__all__ = [
    "OFFICIAL_URL",
    "OFFICIAL_FILENAME",
    "PRETRAINED_NAME",
    "WeightsInfo",
    "default_cache_dir",
    "weight_search_locations",
    "resolve_weights",
    "checkpoint_file",
    "load_checkpoint",
    "check_state_dict",
    "save_safetensors",
    "save_official",
    "load_model",
    "file_sha256",
]

PRETRAINED_NAME = "tiny-biomoe"
OFFICIAL_FILENAME = "Tiny-BioMoE.pth"
OFFICIAL_URL = "https://github.com/GkikasStefanos/Tiny-BioMoE/releases/latest/download/Tiny-BioMoE.pth"
SAFETENSORS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT_VERSION = 1
_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")


def default_cache_dir() -> Path:
    """``$TINY_BIOMOE_CACHE``, else ``$XDG_CACHE_HOME/tiny-biomoe``, else ``~/.cache/tiny-biomoe``."""
    env = os.environ.get("TINY_BIOMOE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "tiny-biomoe"


def weight_search_locations(path: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None) -> list[tuple[str, Path | None]]:
    """Where ``"tiny-biomoe"`` is looked for, in order: (label, location or None if unset)."""
    env = os.environ.get("TINY_BIOMOE_WEIGHTS")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return [
        ("explicit path", Path(path) if path is not None else None),
        ("$TINY_BIOMOE_WEIGHTS", Path(env).expanduser() if env else None),
        ("cache", cache / OFFICIAL_FILENAME),
    ]


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _not_found_message(locations: list[tuple[str, Path | None]], reason: str) -> str:
    cache_file = locations[-1][1]
    tried = "; ".join(f"{label}: {loc if loc is not None else '(not set)'}" for label, loc in locations)
    return (
        f"Tiny-BioMoE weights not found ({reason}). Looked in: {tried}. "
        f"Download {OFFICIAL_FILENAME} from {OFFICIAL_URL} on a machine with internet access, then either "
        f"put it at {cache_file}, or set TINY_BIOMOE_WEIGHTS=/path/to/{OFFICIAL_FILENAME}, "
        "or pass the file's path (from_pretrained(path) / --weights PATH)."
    )


def _download(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest`` after checking the file loads strictly into the network."""
    from .moe import TinyBioMoE

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download.", suffix=".pth", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp_path, "wb") as out:
            shutil.copyfileobj(resp, out)
        state, _ = load_checkpoint(tmp_path)
        TinyBioMoE(check_inputs=False).load_state_dict(state, strict=True)
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def resolve_weights(
    source: str | os.PathLike = PRETRAINED_NAME,
    *,
    path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    url: str = OFFICIAL_URL,
    timeout: float = 30.0,
) -> Path:
    """Return a local checkpoint path for ``source``.

    A path is returned as is (it must exist). The name ``"tiny-biomoe"`` resolves through
    ``path``, then ``$TINY_BIOMOE_WEIGHTS``, then ``cache_dir/Tiny-BioMoE.pth``, then a download
    from ``url`` that is verified by a strict load before it is cached. Downloading is skipped when
    ``download=False`` or ``$TINY_BIOMOE_OFFLINE=1``. Raises :class:`WeightsNotFoundError` with
    instructions when nothing is found.
    """
    if str(source) != PRETRAINED_NAME:
        p = Path(source).expanduser()
        if not p.exists():
            raise WeightsNotFoundError(
                f"checkpoint {str(source)!r} does not exist; pass an existing .pth/.safetensors file or "
                f"folder, or '{PRETRAINED_NAME}' for the official weights"
            )
        return p
    locations = weight_search_locations(path, cache_dir)
    for label, loc in locations[:2]:
        if loc is not None:
            if not loc.exists():
                raise WeightsNotFoundError(f"{label} points to {loc}, which does not exist; fix the path or unset it")
            return loc
    cache_file = locations[2][1]
    assert cache_file is not None
    if cache_file.exists():
        return cache_file
    if download is None:
        download = os.environ.get("TINY_BIOMOE_OFFLINE", "0") not in ("1", "true", "yes")
    if not download:
        raise WeightsNotFoundError(_not_found_message(locations, "downloading is disabled"))
    try:
        _download(url, cache_file, timeout)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsNotFoundError(_not_found_message(locations, f"download from {url} failed: {reason}")) from exc
    except CheckpointError as exc:
        raise WeightsNotFoundError(
            _not_found_message(locations, f"the file downloaded from {url} is not a valid checkpoint: {exc}")
        ) from exc
    return cache_file


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(
            f"{path} does not hold a state dict (a mapping of names to tensors, optionally under "
            f"{list(_WRAPPER_KEYS)}); is it a Tiny-BioMoE checkpoint?"
        )
    state = dict(obj)
    for prefix in ("module.", "_orig_mod."):  # DDP / torch.compile wrappers
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The weights file behind ``path``: the path itself, or for a folder its ``model.safetensors``
    (else its only ``.pth``/``.pt`` file)."""
    path = Path(path)
    if not path.is_dir():
        return path
    st = path / SAFETENSORS_NAME
    if st.exists():
        return st
    pths = sorted(path.glob("*.pth")) + sorted(path.glob("*.pt"))
    if len(pths) == 1:
        return pths[0]
    raise CheckpointError(f"folder {path} holds no {SAFETENSORS_NAME}; pass the checkpoint file itself")


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint safely; return ``(state_dict, config)`` (config is ``{}`` for ``.pth`` files)."""
    path = checkpoint_file(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path} is not a readable safetensors file ({exc}); re-save or re-download it") from exc
        cfg_path = path.parent / CONFIG_NAME
        cfg: dict[str, Any] = {}
        if cfg_path.exists():
            try:
                cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise CheckpointError(f"{cfg_path} is not valid JSON ({exc})") from exc
        return _unwrap(state, path), cfg
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad/unsafe pickles
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                f"refused to load {path}: it contains Python objects other than tensors, and loading "
                "it would run arbitrary code (torch.load weights_only=True rejected it: "
                f"{msg}). Only plain state-dict checkpoints are accepted; convert it on a trusted machine."
            ) from exc
        raise CheckpointError(f"{path} is not a PyTorch checkpoint or is truncated/corrupt ({msg})") from exc
    return _unwrap(obj, path), {}


def check_state_dict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], show: int = 5) -> None:
    """Raise :class:`CheckpointError` naming missing/unexpected keys and shape mismatches."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key(s), e.g. {missing[:show]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:show]}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatch(es), e.g. {shapes[:show]}")
    raise CheckpointError(
        "checkpoint does not match the Tiny-BioMoE network: " + "; ".join(parts) + ". "
        "Is this a Tiny-BioMoE checkpoint (official Tiny-BioMoE.pth or one saved by tiny-biomoe)?"
    )


def _plain_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_safetensors(model: torch.nn.Module, folder: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json``; return the folder."""
    from safetensors.torch import save_file

    from .._version import __version__
    from .moe import EMBED_DIM, IMG_SIZE

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = _plain_state(model)
    prev = dict(getattr(model, "pretrained_cfg", {}) or {})
    prev.pop("source", None)
    meta = {**prev.get("metadata", {}), **(metadata or {})}
    cfg = {
        "format": "tiny-biomoe",
        "format_version": FORMAT_VERSION,
        "architecture": "TinyBioMoE",
        "image_size": IMG_SIZE,
        "embed_dim": EMBED_DIM,
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "package_version": __version__,
        "metadata": meta,
    }
    with atomic_path(folder / SAFETENSORS_NAME) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "tiny_biomoe_format_version": str(FORMAT_VERSION)})
    with atomic_path(folder / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(cfg, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return folder


def save_official(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Write ``torch.save({"model_state_dict": state_dict}, path)``, the authors' layout."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"model_state_dict": _plain_state(model)}, tmp)
    return path


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from (stored with every embedding file and report)."""

    source: str
    official: bool
    sha256: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "official": self.official, "sha256": self.sha256}


def load_model(
    weights: str | os.PathLike = PRETRAINED_NAME,
    device: str | torch.device | None = "auto",
    fallback: str = "error",
    seed: int = 0,
    **resolve_kwargs: Any,
):
    """Load a model for inference and say where its weights came from.

    With ``fallback="random"`` and no weights found, warn loudly and return a model with
    seeded random weights (``WeightsInfo.source == "random-init(seed=N)"``, ``official=False``).
    Returns ``(model, WeightsInfo)``; the model is in eval mode on ``device``.
    """
    from .._device import resolve_device
    from .moe import TinyBioMoE

    if fallback not in ("error", "random"):
        raise ValueError("fallback must be 'error' or 'random'")
    dev = resolve_device(device)
    try:
        path = resolve_weights(weights, **resolve_kwargs)
    except WeightsNotFoundError as exc:
        if fallback == "error" or str(weights) != PRETRAINED_NAME:
            raise
        warnings.warn(
            f"{exc}\n*** Using RANDOMLY INITIALISED weights (seed={seed}): embeddings and results are NOT those "
            "of Tiny-BioMoE. ***",
            stacklevel=2,
        )
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            model = TinyBioMoE()
        finally:
            torch.random.set_rng_state(gen_state)
        return model.to(dev).eval(), WeightsInfo(f"random-init(seed={seed})", False, None)
    model = TinyBioMoE.from_pretrained(path)
    digest = file_sha256(checkpoint_file(path))
    official = path.name == OFFICIAL_FILENAME
    return model.to(dev).eval(), WeightsInfo(str(path), official, digest)
