"""scikit-learn transformer: trials in, Tiny-BioMoE embeddings out (cached by content).

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.linear_model import LogisticRegression
>>> from tiny_biomoe.sklearn import BioMoEEmbedder
>>> clf = make_pipeline(BioMoEEmbedder(sampling_rate=100, modality="eda"), LogisticRegression())  # doctest: +SKIP

:class:`BioMoEEmbedder` takes trials as a 2-D array ``(n_trials, n_samples)`` or a list of 1-D arrays
of different lengths; each trial is preprocessed with the modality defaults, cut into windows
(``window``/``stride`` seconds; ``window=None``: the whole trial is one window), every window is
rendered as each representation kind and embedded, the window embeddings are pooled per trial
(``pooling="mean"``, ``"max"`` or ``"attention"``, see :func:`pool_windows`) and the kinds are fused (``fusion="concat"``: ``192 x kinds``
columns, ``"add"``/``"mean"``: 192).

Embeddings are cached per trial, keyed by the SHA-256 of the trial's samples, every setting that
changes the result and the SHA-256 of the weights: in memory for the whole process (so the clones
that ``cross_val_score``/``GridSearchCV`` make share it and no fold recomputes a trial), and on disk
too with ``cache_dir=``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .errors import InputError

__all__ = ["BioMoEEmbedder", "clear_memory_cache", "cache_info", "pool_windows", "POOLINGS", "FUSIONS"]

POOLINGS = ("mean", "max", "attention")
FUSIONS = ("concat", "add", "mean")
_MEMORY: "OrderedDict[str, np.ndarray]" = OrderedDict()
_MEMORY_MAX = 200_000  # trials (x 192 x kinds float32: ~300 MB at two kinds at most)
_LOCK = threading.Lock()
_WEIGHT_HASHES: dict[tuple, str] = {}
_STATS = {"hits": 0, "misses": 0}
_MIN_SAMPLES = 8  # shortest window the renderers take (representations.base.as_windows_tensor)


def clear_memory_cache() -> None:
    """Forget the process-wide in-memory embedding cache of :class:`BioMoEEmbedder` (and its counts)."""
    with _LOCK:
        _MEMORY.clear()
        _STATS.update(hits=0, misses=0)


def cache_info() -> dict[str, int]:
    """Trials served from the cache (``hits``) and run through the model (``misses``) since the last clear."""
    with _LOCK:
        return {**_STATS, "size": len(_MEMORY)}


def _state_sha256(model: Any) -> str:
    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        a = t.detach().cpu().contiguous()
        h.update(f"{name}|{a.dtype}|{tuple(a.shape)}|".encode())
        h.update(a.view(-1).view(torch.uint8).numpy().tobytes() if a.numel() else b"")
    return h.hexdigest()


def _weights_sha256(weights: Any, model: Any) -> str:
    """SHA-256 of the model's tensors, remembered per weights file (path, size, mtime) within the process."""
    src = (getattr(model, "pretrained_cfg", None) or {}).get("source")
    key = None
    if isinstance(weights, (str, os.PathLike, type(None))) and src and Path(str(src)).exists():
        st = Path(str(src)).stat()
        key = (str(src), st.st_size, st.st_mtime_ns)
        if key in _WEIGHT_HASHES:
            return _WEIGHT_HASHES[key]
    h = _state_sha256(model)
    if key is not None:
        _WEIGHT_HASHES[key] = h
    return h


def pool_windows(emb: np.ndarray, pooling: str = "mean", temperature: float = 0.1) -> np.ndarray:
    """Pool the window embeddings ``(n_windows, d)`` of one trial into one vector ``(d,)``.

    ``"mean"``: their mean; ``"max"``: the element-wise maximum; ``"attention"``: a parameter-free,
    deterministic attention pool, the weighted mean ``sum_i a_i e_i`` with

        ``a = softmax(cos(e_i, m) / temperature)``, ``m = mean_i e_i``,

    i.e. the mean embedding is the query and each window's cosine similarity to it its score (the
    mean-query attention pool of e.g. CLIP's image encoder with identity projections instead of
    learned ones, and cosine scores so that ``temperature`` does not depend on the embeddings'
    scale). Windows unlike the trial's bulk (an artefact, a detached sensor) get less weight than
    in the mean; one window, or identical windows, give the mean exactly; ``temperature -> inf``
    tends to the mean. A window (or mean) of norm 0 scores 0.
    """
    e = np.asarray(emb)
    if e.ndim != 2 or e.shape[0] < 1:
        raise InputError(f"pool_windows needs window embeddings of shape (n_windows >= 1, d), got {e.shape}")
    if pooling == "mean":
        return e.mean(axis=0)
    if pooling == "max":
        return e.max(axis=0)
    if pooling != "attention":
        raise InputError(f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
    t = _check_temperature(temperature)
    e = e.astype(np.float64)
    m = e.mean(axis=0)
    if e.shape[0] == 1:
        return m
    norms = np.linalg.norm(e, axis=1) * np.linalg.norm(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.where(norms > 0, e @ m / np.where(norms > 0, norms, 1.0), 0.0)
    z = cos / t
    a = np.exp(z - z.max())
    a /= a.sum()
    return a @ e


def _check_temperature(temperature: Any) -> float:
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        t = float("nan")
    if not (np.isfinite(t) and t > 0):
        raise InputError(f"temperature (attention pooling) must be a finite number > 0, got {temperature!r}; "
                         "e.g. 0.1 (the default); larger values tend to the mean")
    return t


class BioMoEEmbedder(TransformerMixin, BaseEstimator):
    """Tiny-BioMoE embeddings of trials as a scikit-learn transformer.

    Args:
        sampling_rate: Hz of every trial (required).
        modality: e.g. ``"eda"``, ``"bvp"``, ``"resp"``, ``"ecg"`` (preprocessing and rendering defaults).
        kinds: representation kinds (see :func:`tiny_biomoe.representations.list_kinds`).
        fusion: how kinds are combined: ``"concat"`` (``192 x len(kinds)``), ``"add"`` or ``"mean"`` (192).
        pooling: how the windows of one trial are combined, per kind: ``"mean"``, ``"max"`` or
            ``"attention"`` (weights ``softmax(cos(window, trial mean) / temperature)``; no training,
            see :func:`pool_windows`).
        temperature: softmax temperature of ``pooling="attention"`` (> 0; default 0.1; larger values
            tend to the mean). Unused by the other poolings.
        window: window length in seconds; ``None`` embeds each trial as one window.
        stride: seconds between window starts (default: the window, no overlap).
        preprocess: apply the modality's default filter to each trial first.
        resample: ``"model"`` (the modality's model rate, as ``embed_signal``), ``"native"`` or Hz.
        weights: a weights path/name for :func:`tiny_biomoe.model.load_model`, a ``TinyBioMoE``, or
            ``None`` (the official weights).
        batch_size: images per inference batch.
        device: inference device (``"auto"``: CUDA if available).
        cache: reuse embeddings of trials already seen in this process (default ``True``).
        cache_dir: also keep them on disk in this folder (``None``: memory only).

    Trials go through the same conditioning as :func:`~tiny_biomoe.embed.embed_signal` (gaps, filter,
    resampling to the model rate, windows). With ``window=None`` a flat trial or one shorter than 8
    samples (the renderers' minimum) is rendered as it is, stretched to 8 samples at least.

    Attributes (after ``fit``): ``model_``, ``weights_sha256_``, ``n_features_out_`` and, when fitted
    on a 2-D array, ``n_features_in_`` (then ``transform`` needs trials of that many samples).
    """

    def __init__(
        self,
        sampling_rate: float | None = None,
        modality: str = "eda",
        kinds: "str | Sequence[str]" = ("waveform", "spectrogram_psd"),
        fusion: str = "concat",
        pooling: str = "mean",
        temperature: float = 0.1,
        window: float | None = None,
        stride: float | None = None,
        preprocess: bool = True,
        resample: "str | float" = "model",
        weights: Any = None,
        batch_size: int = 32,
        device: str = "auto",
        cache: bool = True,
        cache_dir: "str | os.PathLike | None" = None,
    ) -> None:
        self.sampling_rate = sampling_rate
        self.modality = modality
        self.kinds = kinds
        self.fusion = fusion
        self.pooling = pooling
        self.temperature = temperature
        self.window = window
        self.stride = stride
        self.preprocess = preprocess
        self.resample = resample
        self.weights = weights
        self.batch_size = batch_size
        self.device = device
        self.cache = cache
        self.cache_dir = cache_dir

    # ------------------------------------------------------------------ sklearn protocol
    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.allow_nan = True  # short NaN gaps are filled, as in embed_signal
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float32"]  # embeddings are float32 whatever the input
        return tags

    def _kind_list(self) -> list[str]:
        from .representations.base import kind_list

        return kind_list(self.kinds)

    def _check_params(self) -> None:
        from .signals.modalities import get_modality
        from .signals.processing import check_sampling_rate

        if self.sampling_rate is None:
            raise InputError("BioMoEEmbedder needs sampling_rate= (Hz of the trials)")
        check_sampling_rate(self.sampling_rate)
        get_modality(self.modality)
        if self.fusion not in FUSIONS:
            raise InputError(f"fusion must be one of {list(FUSIONS)}, got {self.fusion!r}")
        if self.pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {list(POOLINGS)}, got {self.pooling!r}")
        _check_temperature(self.temperature)
        if self.window is not None and not float(self.window) > 0:
            raise InputError(f"window must be > 0 seconds or None, got {self.window!r}")
        if int(self.batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")

    def _trials(self, X: Any, *, reset: bool) -> list[np.ndarray]:
        """Validate ``X`` into a list of 1-D float64 trials (2-D arrays through sklearn's checks)."""
        from sklearn.utils.validation import validate_data

        if isinstance(X, (list, tuple)) and X and all(np.ndim(x) == 1 for x in X) and len({np.size(x) for x in X}) > 1:
            trials = [np.asarray(x, dtype=np.float64) for x in X]  # ragged: one trial per element
            if reset and hasattr(self, "n_features_in_"):
                del self.n_features_in_
            if any(t.size < 1 for t in trials):
                raise ValueError("every trial needs at least one sample")
            return trials
        arr = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan",
                            ensure_min_features=1)
        return list(arr)

    def fit(self, X: Any, y: Any = None) -> "BioMoEEmbedder":
        """Check the settings and the trials, load the model and fingerprint its weights (no training)."""
        import torch

        from .embed import _resolve_model

        self._check_params()
        self._trials(X, reset=True)
        model = self.weights
        if isinstance(model, torch.nn.Module):
            import copy

            model = copy.deepcopy(model)  # never move or change the caller's model
        self.model_, _ = _resolve_model(model, self.device)
        self.weights_sha256_ = _weights_sha256(self.weights, self.model_)
        n_k = len(self._kind_list())
        self.n_features_out_ = 192 * n_k if self.fusion == "concat" else 192
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<modality>_<kind>_e<i>`` per column (``concat``), else ``<modality>_<fusion>_e<i>``."""
        check_is_fitted(self, "n_features_out_")
        from .signals.modalities import get_modality

        m = get_modality(self.modality).name
        if self.fusion == "concat":
            return np.array([f"{m}_{k}_e{i}" for k in self._kind_list() for i in range(192)], dtype=object)
        return np.array([f"{m}_{self.fusion}_e{i}" for i in range(192)], dtype=object)

    # ------------------------------------------------------------------ embedding
    def _settings_key(self) -> str:
        from .signals.modalities import get_modality

        s = {"fs": float(self.sampling_rate), "modality": get_modality(self.modality).name, "kinds": self._kind_list(),
             "fusion": self.fusion, "pooling": self.pooling, "window": self.window, "stride": self.stride,
             "preprocess": bool(self.preprocess), "resample": self.resample, "weights": self.weights_sha256_, "v": 2}
        if self.pooling == "attention":
            s["temperature"] = float(self.temperature)
        return json.dumps(s, sort_keys=True)

    def _windows(self, x: np.ndarray) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
        """Windows ``(n, L)`` of one trial, their rate and component lines, through the package's one
        conditioning path (:func:`tiny_biomoe.signals.conditioning.condition`, as ``embed_signal``)."""
        from .representations.multi import multi_lines_request
        from .signals.conditioning import condition, resolve_rate

        fs0 = float(self.sampling_rate)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            raise InputError("a trial has no finite sample (all NaN/inf); drop it before embedding")
        names, settings = multi_lines_request(self._kind_list(), {}, self.modality)
        if self.window is None and (np.ptp(finite) == 0 or x.size < _MIN_SAMPLES):
            # a flat trial (sensor off) or a few samples: nothing to filter; render it as it is
            fs = resolve_rate(self.resample, self.modality, fs0)
            n = max(_MIN_SAMPLES, int(round(x.size * fs / fs0)))
            y = np.interp(np.linspace(0, x.size - 1, n), np.arange(x.size), np.where(np.isfinite(x), x, finite[0]))
            return y[None, :], fs, {k: y[None, :] for k in names}
        win = x.size / fs0 if self.window is None else float(self.window)
        w = condition(x, sampling_rate=fs0, modality=self.modality, window_s=win, stride_s=self.stride,
                      resample=self.resample,
                      preprocess=self.preprocess, placement="centre" if self.window is None else "sliding",
                      lines=names, line_settings=settings, quality=False)
        return w.data, w.sampling_rate, dict(w.lines)

    def _embed_new(self, trials: list[np.ndarray]) -> list[np.ndarray]:
        from .embed import embed_windows

        kinds = self._kind_list()
        per_trial = [self._windows(x) for x in trials]
        by_len: dict[tuple[int, float], list[int]] = {}
        for i, (w, fs, _) in enumerate(per_trial):
            by_len.setdefault((w.shape[1], fs), []).append(i)
        pooled: list[np.ndarray | None] = [None] * len(trials)
        for (_, fs), idx in by_len.items():
            block = np.concatenate([per_trial[i][0] for i in idx], axis=0)
            names = list(per_trial[idx[0]][2])
            lines = {k: np.concatenate([per_trial[i][2][k] for i in idx], axis=0) for k in names} or None
            emb = embed_windows(block, sampling_rate=fs, modality=self.modality, kinds=kinds, model=self.model_,
                                batch_size=int(self.batch_size),
                                device="auto", lines=lines)
            pos = 0
            for i in idx:
                n = per_trial[i][0].shape[0]
                parts = [emb[k][pos: pos + n] for k in kinds]
                pos += n
                pool = [pool_windows(p, self.pooling, self.temperature) for p in parts]
                if self.fusion == "concat":
                    v = np.concatenate(pool)
                else:
                    v = np.sum(pool, axis=0) / (len(pool) if self.fusion == "mean" else 1)
                pooled[i] = v.astype(np.float32)
        return pooled  # type: ignore[return-value]

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings ``(n_trials, n_features_out_)`` float32 of the trials in ``X``."""
        check_is_fitted(self, "model_")
        self._check_params()
        trials = self._trials(X, reset=False)
        settings = self._settings_key()
        keys = [hashlib.sha256(settings.encode() + b"|" + np.ascontiguousarray(x).tobytes()).hexdigest() for x in trials]
        out: list[np.ndarray | None] = [None] * len(trials)
        disk = Path(self.cache_dir) if self.cache_dir is not None else None
        for i, k in enumerate(keys):
            if self.cache:
                with _LOCK:
                    hit = _MEMORY.get(k)
                if hit is not None:
                    out[i] = hit
                    continue
            if disk is not None and (disk / k[:2] / f"{k}.npy").is_file():
                try:
                    out[i] = np.load(disk / k[:2] / f"{k}.npy", allow_pickle=False)
                except (OSError, ValueError):
                    out[i] = None  # unreadable cache entry: recompute
        todo = [i for i, v in enumerate(out) if v is None or v.shape != (self.n_features_out_,)]
        # identical trials inside X are embedded once
        first: dict[str, int] = {}
        for i in todo:
            first.setdefault(keys[i], i)
        uniq = list(first.values())
        if uniq:
            new = self._embed_new([trials[i] for i in uniq])
            for i, v in zip(uniq, new):
                self._store(keys[i], v, disk)
            got = {keys[i]: v for i, v in zip(uniq, new)}
            for i in todo:
                out[i] = got[keys[i]]
        with _LOCK:
            _STATS["hits"] += len(trials) - len(todo)
            _STATS["misses"] += len(uniq)
        return np.stack(out).astype(np.float32, copy=False)  # type: ignore[arg-type]

    def _store(self, key: str, v: np.ndarray, disk: Path | None) -> None:
        if self.cache:
            with _LOCK:
                _MEMORY[key] = v
                while len(_MEMORY) > _MEMORY_MAX:
                    _MEMORY.popitem(last=False)
        if disk is not None:
            from ._io import atomic_path

            p = disk / key[:2] / f"{key}.npy"
            p.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(p) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, v, allow_pickle=False)

