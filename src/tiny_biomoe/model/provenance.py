"""Where a model's weights came from, as data: one record per model, and one rule for "official".

A :class:`WeightsInfo` records how the weights were obtained (``kind``), the file's SHA-256, the
SHA-256 of the tensors (:func:`~tiny_biomoe.model.weights.tensors_sha256`) and, for a random
initialisation, its seed and scheme. It is stored with every embedding file, head and report.

Weights are called **official** only when

* they came through the verified download of the authors' release (``kind="download"`` from
  :data:`~tiny_biomoe.model.weights.OFFICIAL_URL`, or the cached copy of that download, whose
  hash still matches the one recorded when it was downloaded), or
* the file's SHA-256 is in :data:`OFFICIAL_SHA256`, or the tensors' SHA-256 is in
  :data:`OFFICIAL_TENSORS_SHA256`.

A file name never makes weights official. Both tables are empty until someone records the real
file's hashes: run ``python -m tiny_biomoe.model.provenance Tiny-BioMoE.pth`` on the file
downloaded from the authors' release and add the two printed values to the tables below (one
commit, with the release tag in the message).

This module sits above :mod:`~tiny_biomoe.model.weights` (files, locations) and
:mod:`~tiny_biomoe.model.moe` (the network); neither imports it.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import WeightsNotFoundError
from . import weights as _weights
from .init import random_model
from .moe import TinyBioMoE

__all__ = [
    "OFFICIAL_SHA256",
    "OFFICIAL_TENSORS_SHA256",
    "KINDS",
    "WeightsInfo",
    "is_official",
    "random_init_info",
    "describe_model",
    "load_model",
    "resolve_weights",
]

#: SHA-256 of the authors' ``Tiny-BioMoE.pth`` release file(s). Empty until recorded (see above).
OFFICIAL_SHA256: frozenset[str] = frozenset()
#: :func:`~tiny_biomoe.model.weights.tensors_sha256` of those files' state dicts.
OFFICIAL_TENSORS_SHA256: frozenset[str] = frozenset()

#: How weights can be obtained.
KINDS = ("explicit-path", "env", "cache", "download", "hf-hub", "random-init", "in-memory")


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model's weights came from (stored with every embedding file, head and report).

    ``source`` is for people (a path, ``hf-hub:owner/name@rev``, ``random-init(seed=3, init=original)``);
    programs read ``kind``, ``seed`` and ``init``, never parse ``source``.

    Attributes:
        source: where the weights came from, in words (see above).
        official: whether they are the authors' release, by the one rule of :func:`is_official`.
        sha256: SHA-256 of the weights file; None without a file (random init, in-memory model, file gone).
        kind: how they were obtained, one of :data:`KINDS` (default ``"in-memory"``).
        tensors_sha256: :func:`~tiny_biomoe.model.weights.tensors_sha256` of the state dict; None: not recorded.
        seed: the seed of a random initialisation; None for other kinds.
        init: the scheme of a random initialisation (``"original"`` or ``"pytorch"``); None for other kinds.
        details: the rest of the location record (``url``, ``download``, hf-hub ``repo_id``/``revision``...;
            ``modified_after_loading`` when the tensors changed after loading); empty when there is none.
    """

    source: str
    official: bool
    sha256: str | None
    kind: str = "in-memory"
    tensors_sha256: str | None = None
    seed: int | None = None
    init: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_random_init(self) -> bool:
        """Whether the weights are a seeded random initialisation."""
        return self.kind == "random-init"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able record: ``kind``, ``source``, ``official``, ``sha256``, ``tensors_sha256``
        (plus ``seed`` and ``init`` for a random init, ``details`` where known)."""
        d: dict[str, Any] = {"kind": self.kind, "source": self.source, "official": self.official,
                             "sha256": self.sha256, "tensors_sha256": self.tensors_sha256}
        if self.is_random_init:
            d.update(seed=self.seed, init=self.init)
        if self.details:
            d["details"] = dict(self.details)
        return d

    @classmethod
    def from_dict(cls, record: Mapping[str, Any] | None) -> "WeightsInfo":
        """Read a record written by :meth:`as_dict`, or by an earlier version of the package
        (``{"source": "random-init(seed=N)", ...}`` without ``kind``: a ``"pytorch"`` init)."""
        d = dict(record or {})
        src = str(d.get("source") or "")
        kind, seed, init = d.get("kind"), d.get("seed"), d.get("init")
        if kind is None:  # written before records had a kind
            if src.startswith("random-init"):
                kind, seed, init = "random-init", _legacy_seed(src), "pytorch"
            else:
                kind = "explicit-path" if src and Path(src).exists() else "in-memory"
        details = d.get("details")
        return cls(source=src, official=d.get("official") is True, sha256=_str_or_none(d.get("sha256")), kind=str(kind),
                   tensors_sha256=_str_or_none(d.get("tensors_sha256")), seed=_int_or_none(seed),
                   init=_str_or_none(init), details=dict(details) if isinstance(details, Mapping) else {})


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _int_or_none(v: Any) -> int | None:
    """An int from a stored record (a hostile or broken file may hold anything), else ``None``."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def _legacy_seed(source: str) -> int | None:
    """The N of a legacy ``"random-init(seed=N)..."`` source (records written before ``kind``)."""
    head = "random-init(seed="
    if not source.startswith(head):
        return None
    digits = source[len(head):].split(")", 1)[0]
    try:
        return int(digits)
    except ValueError:
        return None


def is_official(kind: str, sha256: str | None, tensors_sha256: str | None = None,
                details: Mapping[str, Any] | None = None) -> bool:
    """The one rule for "official" (see the module docstring); never decided by a file name."""
    if (sha256 and sha256 in OFFICIAL_SHA256) or (tensors_sha256 and tensors_sha256 in OFFICIAL_TENSORS_SHA256):
        return True
    details = dict(details or {})
    if kind == "download":
        return details.get("url") == _weights.OFFICIAL_URL
    if kind == "cache":
        rec = details.get("download") or {}
        return bool(sha256) and rec.get("url") == _weights.OFFICIAL_URL and rec.get("sha256") == sha256
    return False


def random_init_info(seed: int, init: str = "original") -> WeightsInfo:
    """The record of a seeded random initialisation (:func:`tiny_biomoe.model.init.random_model`)."""
    return WeightsInfo(f"random-init(seed={int(seed)}, init={init})", False, None, kind="random-init",
                       seed=int(seed), init=init)


def describe_model(model: torch.nn.Module) -> WeightsInfo:
    """The :class:`WeightsInfo` of a model object, from what :meth:`TinyBioMoE.from_pretrained` or
    :func:`~tiny_biomoe.model.init.random_model` recorded in ``model.pretrained_cfg["origin"]``.

    The tensors are hashed as they are now; weights changed after loading are no longer official.
    """
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    origin = cfg.get("origin") if isinstance(cfg.get("origin"), Mapping) else {}
    if isinstance(model, TinyBioMoE):
        now = _weights.tensors_sha256(model.state_dict())
    else:  # a derived form (e.g. the fast path, batch norms folded): its tensors are not the file's
        now = origin.get("tensors_sha256") or _weights.tensors_sha256(model.state_dict())
    kind = str(origin.get("kind", "in-memory"))
    if kind == "random-init" and _int_or_none(origin.get("seed")) is not None:
        rec = random_init_info(int(origin["seed"]), str(origin.get("init", "original")))
        if now == origin.get("tensors_sha256", now):
            return replace(rec, tensors_sha256=now)
        kind = "in-memory"
    if kind == "in-memory" or "path" not in origin:
        return WeightsInfo("in-memory model (weights not recorded)", False, None, kind="in-memory", tensors_sha256=now)
    path = Path(str(origin["path"]))
    details = {k: v for k, v in origin.items() if k not in ("kind", "path", "tensors_sha256")}
    sha = _weights.file_sha256(_weights.checkpoint_file(path)) if path.exists() else None
    unchanged = origin.get("tensors_sha256") in (None, now)
    if not unchanged:
        details["modified_after_loading"] = True
    source = str(path)
    if kind == "hf-hub":
        source = f"hf-hub:{origin.get('repo_id')}@{origin.get('revision')}"
    official = unchanged and is_official(kind, sha, now, details)
    return WeightsInfo(source, official, sha, kind=kind, tensors_sha256=now, details=details)


def resolve_weights(source: "str | os.PathLike" = _weights.PRETRAINED_NAME, **kwargs: Any) -> Path:
    """Local path of the weights for ``source`` (see :func:`~tiny_biomoe.model.weights.locate_weights`);
    a download must load strictly into the network before it is cached."""
    return _weights.locate_weights(source, verify=TinyBioMoE._verify_state, **kwargs).path


def load_model(
    weights: "str | os.PathLike" = _weights.PRETRAINED_NAME,
    device: "str | torch.device | None" = "auto",
    fallback: str = "error",
    seed: int = 0,
    *,
    init: str = "original",
    **resolve_kwargs: Any,
) -> "tuple[TinyBioMoE, WeightsInfo]":
    """Load a model for inference and say where its weights came from: ``(model, WeightsInfo)``.

    The weights are located once (``resolve_kwargs`` go to
    :func:`~tiny_biomoe.model.weights.locate_weights`). With ``fallback="random"`` and the name
    ``"tiny-biomoe"`` not found, warn loudly and return a seeded random init (``init`` scheme, see
    :mod:`tiny_biomoe.model.init`) whose record has ``kind="random-init"``. The model is in eval mode on ``device``.
    """
    from .._device import resolve_device

    if fallback not in ("error", "random"):
        raise ValueError("fallback must be 'error' or 'random'")
    dev = resolve_device(device)
    try:
        loc = _weights.locate_weights(weights, verify=TinyBioMoE._verify_state, **resolve_kwargs)
    except WeightsNotFoundError as exc:
        if fallback == "error" or str(weights) != _weights.PRETRAINED_NAME:
            raise
        warnings.warn(
            f"{exc}\n*** Using RANDOMLY INITIALISED weights (seed={seed}, init={init}): embeddings and results are "
            "NOT those of Tiny-BioMoE. ***",
            stacklevel=2,
        )
        model = random_model(seed, init=init)
        return model.to(dev).eval(), describe_model(model)
    model = TinyBioMoE.from_pretrained(loc)
    return model.to(dev).eval(), describe_model(model)


def _main(argv: list[str]) -> int:
    """``python -m tiny_biomoe.model.provenance FILE...``: the hashes to add to the official tables."""
    if not argv:
        print("usage: python -m tiny_biomoe.model.provenance Tiny-BioMoE.pth [...]", file=sys.stderr)
        return 2
    for arg in argv:
        state, _ = _weights.load_checkpoint(arg, require_config=False)
        TinyBioMoE._verify_state(state)
        print(f"{arg}\n  file sha256:    {_weights.file_sha256(_weights.checkpoint_file(arg))}\n"
              f"  tensors sha256: {_weights.tensors_sha256(state)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main(sys.argv[1:]))
