"""Checkpoint files: the official ``.pth`` layout, our safetensors folders, and where weights are found.

This module knows file formats and locations only. It does not build the network (callers pass a
model, or a ``verify`` function for downloads) and it does not judge whether weights are the
official ones: :mod:`tiny_biomoe.model.provenance` does that from the facts recorded here
(where a file was found, its SHA-256, the hash of its tensors).

Security: checkpoints are never unpickled in full. ``.pth`` files go through
``torch.load(..., weights_only=True)``, which refuses any pickle that would build arbitrary
objects (and so never runs code hidden in one); safetensors files hold raw tensors only.
A file's format is recognised from its first bytes, not from its name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from .._io import atomic_path
from ..errors import CheckpointError, WeightsNotFoundError

__all__ = [
    "OFFICIAL_URL",
    "OFFICIAL_FILENAME",
    "PRETRAINED_NAME",
    "HF_HUB_PREFIX",
    "SAFETENSORS_NAME",
    "CONFIG_NAME",
    "CARD_NAME",
    "WeightsLocation",
    "default_cache_dir",
    "weight_search_locations",
    "locate_weights",
    "checkpoint_file",
    "checkpoint_format",
    "load_checkpoint",
    "check_state_dict",
    "check_finite",
    "save_safetensors",
    "save_official",
    "model_card",
    "file_sha256",
    "tensors_sha256",
]

PRETRAINED_NAME = "tiny-biomoe"
OFFICIAL_FILENAME = "Tiny-BioMoE.pth"
OFFICIAL_URL = "https://github.com/GkikasStefanos/Tiny-BioMoE/releases/latest/download/Tiny-BioMoE.pth"
HF_HUB_PREFIX = "hf-hub:"
SAFETENSORS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
DOWNLOAD_RECORD_SUFFIX = ".download.json"
FORMAT_VERSION = 1
_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model")
_TRUE = ("1", "true", "yes", "on")


# ----------------------------------------------------------------------------- hashes
def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tensors_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's contents: names, dtypes, shapes and bytes, in sorted name order.

    Two files holding the same tensors (an official ``.pth`` and its safetensors copy, or two
    saves of one model) have the same tensors hash even when their bytes differ.
    """
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}\0{str(t.dtype).replace('torch.', '')}\0{list(t.shape)}\0".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- locations
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


@dataclass(frozen=True)
class WeightsLocation:
    """A local weights file or folder and how it was found.

    ``kind`` is ``"explicit-path"``, ``"env"`` (``$TINY_BIOMOE_WEIGHTS``), ``"cache"``,
    ``"download"`` (fetched just now from ``details["url"]``) or ``"hf-hub"`` (``details`` holds
    ``repo_id``, ``revision``, ``filename`` and the snapshot ``commit``). For ``"cache"``,
    ``details["download"]`` is the record written when the file was downloaded (url and
    SHA-256), if it was downloaded by this package.
    """

    path: Path
    kind: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able description: ``{"kind": ..., "path": ..., **details}``."""
        return {"kind": self.kind, "path": str(self.path), **dict(self.details)}


def _not_found_message(locations: list[tuple[str, Path | None]], reason: str) -> str:
    cache_file = locations[-1][1]
    tried = "; ".join(f"{label}: {loc if loc is not None else '(not set)'}" for label, loc in locations)
    return (
        f"Tiny-BioMoE weights not found ({reason}). Looked in: {tried}. "
        f"Download {OFFICIAL_FILENAME} from {OFFICIAL_URL} on a machine with internet access, then either "
        f"put it at {cache_file}, or set TINY_BIOMOE_WEIGHTS=/path/to/{OFFICIAL_FILENAME}, "
        "or pass the file's path (from_pretrained(path) / --weights PATH)."
    )


STALE_AFTER_S = 3600.0


def _remove_stale(parent: Path, pattern: str, age_s: float = STALE_AFTER_S) -> None:
    """Delete our own temporaries matching ``pattern`` in ``parent`` left by killed runs (older than ``age_s``)."""
    import time

    if not parent.is_dir():
        return
    for p in parent.glob(pattern):
        with contextlib.suppress(OSError):
            if time.time() - p.lstat().st_mtime > age_s:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _download_record(dest: Path) -> Path:
    return dest.with_name(dest.name + DOWNLOAD_RECORD_SUFFIX)


def _download(url: str, dest: Path, timeout: float, verify: Callable[[dict[str, torch.Tensor]], None] | None) -> None:
    """Download ``url`` to ``dest`` after checking that it loads (and passes ``verify``); record url + hash."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(dest.parent, ".download.*.pth")
    fd, tmp = tempfile.mkstemp(prefix=".download.", suffix=".pth", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp_path, "wb") as out:
            shutil.copyfileobj(resp, out)
        state, _ = load_checkpoint(tmp_path)
        if verify is not None:
            verify(state)
        digest = file_sha256(tmp_path)
        os.replace(tmp_path, dest)
        with atomic_path(_download_record(dest)) as rec:
            rec.write_text(json.dumps({"url": url, "sha256": digest}, sort_keys=True) + "\n", encoding="utf-8")
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _read_download_record(dest: Path) -> dict[str, Any] | None:
    try:
        rec = json.loads(_download_record(dest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("sha256"), str) else None


_HF_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _locate_hf(spec: str, *, download: bool | None, hf_cache_dir: str | os.PathLike | None,
               hf_filename: str | None) -> WeightsLocation:
    """``hf-hub:<owner>/<name>[@<revision>]`` through :func:`huggingface_hub.hf_hub_download`."""
    from ..errors import require

    ref = spec[len(HF_HUB_PREFIX):]
    repo_id, _, revision = ref.partition("@")
    if not _HF_REPO_RE.match(repo_id) or (revision == "" and "@" in ref):
        raise WeightsNotFoundError(
            f"{spec!r} is not a Hub reference; write hf-hub:<owner>/<name> or hf-hub:<owner>/<name>@<revision>, "
            "e.g. hf-hub:stefanosgikas/TinyBioMoE"
        )
    hub = require("huggingface_hub", "hub", "loading weights from the Hugging Face Hub (hf-hub:...)")
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    offline = download is False or any(
        os.environ.get(v, "0").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TINY_BIOMOE_OFFLINE")
    )
    cache = hf_cache_dir if hf_cache_dir is not None else os.environ.get("HF_HUB_CACHE") or None
    names = [hf_filename] if hf_filename else [SAFETENSORS_NAME, OFFICIAL_FILENAME]
    problems = []
    for name in names:
        try:
            got = Path(hub.hf_hub_download(repo_id, name, revision=revision or None, cache_dir=cache,
                                           local_files_only=offline))
        except (EntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
            problems.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        if name == SAFETENSORS_NAME:  # its settings live beside it
            with contextlib.suppress(EntryNotFoundError, HfHubHTTPError, OSError, ValueError):
                hub.hf_hub_download(repo_id, CONFIG_NAME, revision=revision or None, cache_dir=cache,
                                    local_files_only=offline)
        return WeightsLocation(got, "hf-hub", {"repo_id": repo_id, "revision": revision or "main",
                                               "filename": name, "commit": got.parent.name})
    mode = "offline (HF_HUB_OFFLINE/TINY_BIOMOE_OFFLINE set or download=False): only the local Hub cache was searched" \
        if offline else "online"
    raise WeightsNotFoundError(
        f"no weights for {spec!r} ({mode}; cache {cache or 'huggingface_hub default'}): {'; '.join(problems)}. "
        f"Fetch them once with internet access (huggingface-cli download {repo_id}), point HF_HUB_CACHE at a "
        "cache that holds them, or pass a local file instead."
    )


def locate_weights(
    source: "str | os.PathLike | WeightsLocation" = PRETRAINED_NAME,
    *,
    path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool | None = None,
    url: str | None = None,
    timeout: float = 30.0,
    verify: Callable[[dict[str, torch.Tensor]], None] | None = None,
    hf_cache_dir: str | os.PathLike | None = None,
    hf_filename: str | None = None,
) -> WeightsLocation:
    """Find the weights for ``source`` and say how they were found (a :class:`WeightsLocation`).

    A path is returned as is (it must exist). ``"hf-hub:<repo>[@rev]"`` goes through the Hugging
    Face Hub cache (and the network unless ``$HF_HUB_OFFLINE=1``). The name ``"tiny-biomoe"``
    resolves through ``path``, then ``$TINY_BIOMOE_WEIGHTS``, then ``cache_dir/Tiny-BioMoE.pth``,
    then a download from ``url`` (default: the official release) that must load and pass
    ``verify`` before it is cached. Downloading is skipped when ``download=False`` or
    ``$TINY_BIOMOE_OFFLINE=1``. Raises :class:`WeightsNotFoundError` with instructions.
    """
    if isinstance(source, WeightsLocation):
        return source
    if str(source).startswith(HF_HUB_PREFIX):
        return _locate_hf(str(source), download=download, hf_cache_dir=hf_cache_dir, hf_filename=hf_filename)
    if str(source) != PRETRAINED_NAME:
        p = Path(source).expanduser()
        if not p.exists():
            raise WeightsNotFoundError(
                f"checkpoint {str(source)!r} does not exist; pass an existing .pth/.safetensors file or "
                f"folder, '{PRETRAINED_NAME}' for the official weights, or hf-hub:<owner>/<name>"
            )
        return WeightsLocation(p, "explicit-path")
    locations = weight_search_locations(path, cache_dir)
    for (label, loc), kind in zip(locations[:2], ("explicit-path", "env")):
        if loc is not None:
            if not loc.exists():
                raise WeightsNotFoundError(f"{label} points to {loc}, which does not exist; fix the path or unset it")
            return WeightsLocation(loc, kind)
    cache_file = locations[2][1]
    assert cache_file is not None
    if cache_file.exists():
        rec = _read_download_record(cache_file)
        return WeightsLocation(cache_file, "cache", {"download": rec} if rec else {})
    if download is None:
        download = os.environ.get("TINY_BIOMOE_OFFLINE", "0").lower() not in _TRUE
    if not download:
        raise WeightsNotFoundError(_not_found_message(locations, "downloading is disabled"))
    url = OFFICIAL_URL if url is None else url
    try:
        _download(url, cache_file, timeout, verify)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsNotFoundError(_not_found_message(locations, f"download from {url} failed: {reason}")) from exc
    except CheckpointError as exc:
        raise WeightsNotFoundError(
            _not_found_message(locations, f"the file downloaded from {url} is not a valid checkpoint: {exc}")
        ) from exc
    return WeightsLocation(cache_file, "download", {"url": url})


# ----------------------------------------------------------------------------- reading
def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if isinstance(obj, torch.nn.Module):  # cannot come through weights_only, but be explicit
        raise CheckpointError(f"{path} holds a whole {type(obj).__name__} object, not a state dict; save model.state_dict()")
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


def checkpoint_format(path: str | os.PathLike) -> str | None:
    """``"safetensors"``, ``"torch-zip"`` (``torch.save``), ``"torch-legacy"`` (old pickle layout) or
    ``None``, from the file's first bytes (never from its name)."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "torch-legacy"
    if len(head) == 9 and head[8:9] == b"{":
        n = struct.unpack("<Q", head[:8])[0]
        if 2 <= n <= 100_000_000:
            return "safetensors"
    return None


def check_finite(state: Mapping[str, torch.Tensor], where: str, show: int = 5) -> None:
    """Raise :class:`CheckpointError` naming the tensors that hold NaN or inf values."""
    bad = [k for k, v in state.items() if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(
            f"{where}: {len(bad)} tensor(s) hold NaN or inf values, e.g. {bad[:show]}; the weights are corrupt "
            "or come from a diverged training run. Use an earlier checkpoint or re-download the file."
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid UTF-8 JSON ({exc}); re-save the model") from exc
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(cfg).__name__}; re-save the model")
    return cfg


def _load_safetensors(file: Path, given: Path, require_config: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(file), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
        state = load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{file} is not a readable safetensors file ({exc}); re-save or re-download it") from exc
    cfg_path = file.parent / CONFIG_NAME
    cfg: dict[str, Any] = {}
    if cfg_path.exists():
        cfg = _read_json(cfg_path)
    elif require_config and (given.is_dir() or "tiny_biomoe_format_version" in meta):
        raise CheckpointError(
            f"{file.parent} holds {file.name} but no {CONFIG_NAME} (an interrupted save?): its representation "
            f"and preprocessing settings are missing. Re-save it with save_pretrained, or pass "
            "require_config=False to load the weights without their settings."
        )
    state = _unwrap(state, file)
    want = cfg.get("tensors_sha256") or meta.get("tensors_sha256")
    if want and tensors_sha256(state) != want:
        raise CheckpointError(
            f"the tensors in {file} do not match the hash recorded when they were saved ({want[:16]}...): the "
            f"file is corrupt, or {CONFIG_NAME} belongs to other weights (an interrupted save?). Re-save or re-download it."
        )
    return state, cfg


_SAFE_PICKLE_MODULES = ("torch", "collections", "numpy", "_codecs", "builtins.set", "builtins.frozenset")


def _pickle_imports_code(file: Path) -> bool:
    """Whether the pickle at the start of ``file`` imports anything besides tensor-rebuilding helpers.

    Reads opcodes with :mod:`pickletools` (nothing is executed); random bytes fail to parse
    (-> ``False``), a pickle of some object shows its ``GLOBAL``/``STACK_GLOBAL`` import.
    """
    import pickletools

    strings: list[str] = []
    try:
        with open(file, "rb") as fh:
            for op, arg, _ in pickletools.genops(fh):
                if isinstance(arg, str):
                    strings = (strings + [arg])[-2:]
                name = None
                if op.name in ("GLOBAL", "INST"):
                    name = str(arg).replace(" ", ".")
                elif op.name == "STACK_GLOBAL" and len(strings) == 2:
                    name = ".".join(strings)
                if name is not None and not name.startswith(_SAFE_PICKLE_MODULES):
                    return True
                if op.name == "STOP":
                    break
    except Exception:  # noqa: BLE001 - not a parseable pickle
        return False
    return False


def load_checkpoint(path: str | os.PathLike, *, require_config: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint safely; return ``(state_dict, config)`` (config is ``{}`` for ``.pth`` files).

    Refuses (with :class:`CheckpointError`): files that are neither a PyTorch nor a safetensors
    checkpoint, pickles holding Python objects, non-finite tensors, our safetensors without their
    ``config.json`` (unless ``require_config=False``) and tensors that differ from their recorded hash.
    """
    given = Path(path)
    file = checkpoint_file(given)
    if not file.is_file():
        raise CheckpointError(f"checkpoint {file} is not a file")
    fmt = checkpoint_format(file)
    if fmt is None:
        raise CheckpointError(
            f"{file} is not a PyTorch/safetensors checkpoint: its first bytes are neither a torch.save archive "
            "nor a safetensors header (empty, truncated, compressed or another kind of file?). Pass the "
            f"{OFFICIAL_FILENAME} file or a folder written by save_pretrained."
        )
    if fmt == "safetensors":
        state, cfg = _load_safetensors(file, given, require_config)
    else:
        try:
            with open(file, "rb") as fh:  # a file object: torch must not pick a reader from the name
                obj = torch.load(fh, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for bad/unsafe pickles
            text = str(exc)
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            after = [ln for i, ln in enumerate(lines) if i and "WeightsUnpickler error" in lines[i - 1]]
            msg = (after or lines or [type(exc).__name__])[0]  # torch's detail, not its generic advice
            if "Unsupported global" in text or (fmt == "torch-legacy" and _pickle_imports_code(file)):
                raise CheckpointError(
                    f"refused to load {file}: it contains Python objects other than tensors, and loading "
                    "it would run arbitrary code (torch.load weights_only=True rejected it: "
                    f"{msg}). Only plain state-dict checkpoints are accepted; convert it on a trusted machine."
                ) from exc
            raise CheckpointError(f"{file} is not a readable PyTorch checkpoint: truncated or corrupt ({msg})") from exc
        state, cfg = _unwrap(obj, file), {}
    check_finite(state, str(file))
    return state, cfg


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


# ----------------------------------------------------------------------------- writing
def _plain_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def _canonical_safetensors(state: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """safetensors bytes with a canonical header: ``__metadata__`` first with sorted keys, then the
    tensors in data order, compact JSON padded to 8 bytes. (The library writes metadata keys in
    a random order, so two saves of one model differed.)"""
    from safetensors.torch import save

    raw = save(state, metadata=metadata)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    ordered = {"__metadata__": dict(sorted(meta.items()))}
    for k in sorted(header, key=lambda k: (header[k]["data_offsets"][0], k)):
        ordered[k] = header[k]
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n :]


_CARD_START = b"---\nlibrary_name: tiny-biomoe\n"


def model_card(config: Mapping[str, Any]) -> str:
    """The model card (``README.md``) of a saved folder, from its ``config.json`` contents.

    It states what the weights are (random init, our own pretraining or fine-tuning, or a copy
    of another file), the inputs, representations and limits. Deterministic: no dates.
    """
    meta = dict(config.get("metadata") or {})
    origin = dict(config.get("weights_origin") or {})
    if "pretraining" in meta:
        p = meta["pretraining"]
        tasks = ", ".join(str(t.get("name")) for t in p.get("tasks", [])) or "?"
        what = (f"**Own pretraining, not the authors' Tiny-BioMoE weights.** Pretrained with tiny-biomoe for "
                f"{p.get('steps')} steps on the tasks {tasks} (see `config.json`, `metadata.pretraining`).")
    elif "finetune" in meta:
        what = ("**Fine-tuned by tiny-biomoe, not the authors' Tiny-BioMoE weights.** Backbone fine-tuned end to end "
                "with a classifier (settings in `config.json`, `metadata.finetune`).")
    elif origin.get("kind") == "random-init":
        what = (f"**RANDOMLY INITIALISED weights (seed {origin.get('seed')}, init {origin.get('init')!r}), never "
                "trained.** Embeddings from them say nothing about Tiny-BioMoE.")
    elif origin:
        src = origin.get("repo_id") or origin.get("path") or "?"
        what = (f"A copy of weights loaded from {src} ({origin.get('kind')}). Whether they are the authors' published "
                "checkpoint is decided by their tensors hash against `tiny_biomoe.model.provenance.OFFICIAL_TENSORS_SHA256`, "
                "never by a file name.")
    else:
        what = "Weights of unknown origin (an in-memory model). They are not known to be the authors' checkpoint."
    reps = meta.get("representations")
    reps_line = ", ".join(map(str, reps)) if isinstance(reps, list) and reps else "not recorded"
    return "\n".join([
        "---",
        "library_name: tiny-biomoe",
        "tags: [biosignals, pain-recognition, embeddings]",
        "---",
        "# Tiny-BioMoE weights",
        "",
        what,
        "",
        f"- Tensors SHA-256: `{config.get('tensors_sha256')}`",
        f"- Parameters: {config.get('num_parameters')}; written by tiny-biomoe {config.get('package_version')}",
        "",
        "## Intended use",
        "Research on physiological signals (EDA, BVP, ECG, EMG, RESP ...): 192-D embeddings of 224x224 images "
        "rendered from signal windows, as features for a small head (e.g. pain-intensity recognition). "
        "Not a medical device; not for clinical decisions.",
        "",
        "## Inputs",
        f"`(B, 3, {config.get('image_size')}, {config.get('image_size')})` float images in [0, 1], made by "
        f"`tiny_biomoe.render`; output `(B, {config.get('embed_dim')})` embeddings.",
        f"Representations recorded with these weights: {reps_line}.",
        "",
        "## Training data",
        "The authors' Tiny-BioMoE was pretrained on image representations of public biosignal datasets, as "
        "described in their paper (https://github.com/GkikasStefanos/Tiny-BioMoE). Weights pretrained or "
        "fine-tuned with tiny-biomoe record their own tasks and data in `config.json`.",
        "",
        "## Limits",
        "Embeddings depend on the representation, its parameters and the preprocessing: use the settings stored in "
        "`config.json`. Results on one dataset or population need not transfer to another.",
        "",
        "## Load",
        "```python",
        "from tiny_biomoe import TinyBioMoE",
        'model = TinyBioMoE.from_pretrained("path/to/this/folder")',
        "```",
        "",
    ])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_safetensors(model: torch.nn.Module, folder: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors``, ``config.json`` and a model card (``README.md``) into ``folder``.

    Byte-reproducible: the same weights and metadata give identical files (canonical header, sorted
    JSON, no dates). ``config.json`` and the file's metadata hold the tensors' SHA-256, which
    :func:`load_checkpoint` checks. A new folder appears complete or not at all (written beside it,
    then renamed); files in an existing folder are replaced one by one, weights first (a
    ``README.md`` there that is not our model card is left alone). Refuses weights holding NaN or inf.
    """
    from .._version import __version__

    folder = Path(folder)
    state = _plain_state(model)
    check_finite(state, f"refusing to save {type(model).__name__}")
    digest = tensors_sha256(state)
    prev = dict(getattr(model, "pretrained_cfg", {}) or {})
    origin = prev.get("origin") if isinstance(prev.get("origin"), dict) else None
    meta = {**prev.get("metadata", {}), **(metadata or {})}
    cfg: dict[str, Any] = {
        "format": "tiny-biomoe",
        "format_version": FORMAT_VERSION,
        "architecture": type(model).__name__,
        "image_size": int(getattr(model, "img_size", 224)),
        "embed_dim": int(getattr(model, "embed_dim", 192)),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "package_version": __version__,
        "tensors_sha256": digest,
        "metadata": meta,
    }
    if origin is not None:  # how the saved weights' model was obtained (random init, a file, the Hub ...)
        cfg["weights_origin"] = origin
    cfg = json.loads(json.dumps(cfg, default=str))
    files = {
        SAFETENSORS_NAME: _canonical_safetensors(
            state, {"format": "pt", "tiny_biomoe_format_version": str(FORMAT_VERSION), "tensors_sha256": digest}),
        CARD_NAME: model_card(cfg).encode("utf-8"),
        CONFIG_NAME: (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode("utf-8"),
    }
    _remove_stale(folder.parent, f".{folder.name}.*.tmp")
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
        try:
            for name, data in files.items():
                (tmp / name).write_bytes(data)
                os.chmod(tmp / name, 0o666 & ~_umask())
            os.chmod(tmp, 0o777 & ~_umask())
            os.rename(tmp, folder)
            return folder
        except OSError:
            if not folder.exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    card = folder / CARD_NAME
    if card.exists() and not card.read_bytes().startswith(_CARD_START):
        del files[CARD_NAME]  # someone's own README.md in that folder: never replaced
    for name, data in files.items():
        with atomic_path(folder / name) as p:
            p.write_bytes(data)
    return folder


def save_official(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Write ``torch.save({"model_state_dict": state_dict}, path)``, the authors' layout."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"model_state_dict": _plain_state(model)}, tmp)
    return path
