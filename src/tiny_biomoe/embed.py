"""Signal -> windows -> images -> 192-D embeddings, in batches (uses signals, representations, model).

>>> import numpy as np
>>> from tiny_biomoe.embed import embed_signal
>>> res = embed_signal(np.random.default_rng(0).normal(size=3000), 100, "eda", model="Tiny-BioMoE.pth")  # doctest: +SKIP
>>> res.embeddings["waveform"].shape  # doctest: +SKIP
(3, 192)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ._compat import keyword_only_after
from ._io import atomic_path
from .errors import InputError, require
from .representations.base import as_windows_tensor, kind_list, render, render_info
from .signals.modalities import get_modality
from .signals.processing import check_sampling_rate, describe_preprocessing
from .signals.readers import Recording
from .signals.conditioning import condition

__all__ = ["EmbeddingResult", "embed_windows", "embed_signal", "embed_file", "load_embeddings", "default_output_path", "FORMAT_VERSION"]

#: Version of the saved embedding file layout.
FORMAT_VERSION = 1
_PREFIX = "emb__"
_QPREFIX = "quality__"


@dataclass
class EmbeddingResult:
    """Embeddings of the windows of one signal.

    Attributes:
        embeddings: kind -> ``(N, 192)`` float32 array (row ``i`` is window ``i``).
        starts: ``(N,)`` window start times in seconds.
        metadata: how they were made (source, modality, kinds with parameters and versions,
            window, stride, sampling rate, ``conditioning`` order/version, preprocessing, quality
            settings and counts, weights, package version).
        quality: per-window flags and scores, name -> ``(N,)`` array (``flatline``, ``clipped``,
            ``low_sqi``, ``flatline_s``, ``clipped_fraction``, ``sqi``; see
            :mod:`tiny_biomoe.signals.quality`); empty when not computed.
    """

    embeddings: dict[str, np.ndarray]
    starts: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def flagged(self) -> np.ndarray:
        """``(N,)`` bool: windows with any quality flag (all False when no flags were stored)."""
        out = np.zeros(len(self), bool)
        for k in ("flatline", "clipped", "low_sqi"):
            if k in self.quality:
                out |= np.asarray(self.quality[k], bool)
        return out

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def __repr__(self) -> str:
        md = self.metadata
        dim = next(iter(self.embeddings.values())).shape[1] if self.embeddings else 0
        w = (md.get("weights") or {}).get("source", "?") if isinstance(md.get("weights"), Mapping) else md.get("weights", "?")
        win = md.get("window_s")
        return (f"EmbeddingResult({len(self)} windows x {dim}, kinds={self.kinds}, modality={md.get('modality')!r}, "
                f"window={'?' if win is None else f'{win:g} s'}, source={md.get('source')!r}, weights={str(w)!r})")

    def to_frame(self, *, wide: bool = True, t0: Any = None) -> "Any":
        """The embeddings as a pandas DataFrame, one row per window (``wide=True``: columns
        ``<kind>_e0 .. <kind>_e191``) or per window and kind (``wide=False``: a ``kind`` column and
        ``e0 .. e191``), with ``window``, ``start_s``, ``end_s``, ``source``, ``channel``, ``modality``.

        ``t0`` (a timestamp, e.g. the recording's start) adds a ``time`` column ``t0 + start_s``.
        """
        import pandas as pd

        md = self.metadata
        starts = np.asarray(self.starts, dtype=np.float64)
        win = md.get("window_s")
        base = pd.DataFrame({
            "window": np.arange(len(self)), "start_s": starts,
            "end_s": starts + float(win) if win is not None else np.full(len(self), np.nan),
            "source": md.get("source"), "channel": md.get("channel"), "modality": md.get("modality"),
        })
        if t0 is not None:
            base.insert(3, "time", pd.Timestamp(t0) + pd.to_timedelta(starts, unit="s"))
        if wide:
            blocks = [pd.DataFrame(np.asarray(v), columns=[f"{k}_e{i}" for i in range(np.shape(v)[1])])
                      for k, v in self.embeddings.items()]
            return pd.concat([base, *blocks], axis=1)
        parts = []
        for k, v in self.embeddings.items():
            emb = pd.DataFrame(np.asarray(v), columns=[f"e{i}" for i in range(np.shape(v)[1])])
            parts.append(pd.concat([base.assign(kind=k), emb], axis=1))
        return pd.concat(parts, ignore_index=True)

    @property
    def kinds(self) -> list[str]:
        """Kinds present, in order."""
        return list(self.embeddings)

    def fused(self, kinds: Sequence[str] | None = None) -> np.ndarray:
        """Sum of the embeddings of ``kinds`` (default all), the paper's fusion of representations."""
        names = list(kinds) if kinds is not None else self.kinds
        missing = [k for k in names if k not in self.embeddings]
        if missing:
            raise InputError(f"no embeddings for kind(s) {missing}; available: {self.kinds}")
        return np.sum([self.embeddings[k] for k in names], axis=0).astype(np.float32)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``.npz`` (always available) or ``.parquet`` (needs pyarrow) atomically; return the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        meta = json.dumps(self.metadata, sort_keys=True, default=_json_default)
        if suffix == ".npz":
            arrays = {f"{_PREFIX}{k}": np.asarray(v, dtype=np.float32) for k, v in self.embeddings.items()}
            arrays.update({f"{_QPREFIX}{k}": np.asarray(v) for k, v in self.quality.items()})
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, starts=np.asarray(self.starts, dtype=np.float64), metadata=np.array(meta), **arrays)
            return path
        if suffix == ".parquet":
            pa = require("pyarrow", "io", "Writing embeddings as Parquet")
            pq = require("pyarrow.parquet", "io", "Writing embeddings as Parquet")
            cols: dict[str, Any] = {"start_s": pa.array(np.asarray(self.starts, dtype=np.float64))}
            for k, v in self.embeddings.items():
                v = np.ascontiguousarray(v, dtype=np.float32)
                cols[f"{_PREFIX}{k}"] = pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1])
            for k, v in self.quality.items():
                cols[f"{_QPREFIX}{k}"] = pa.array(np.asarray(v))
            table = pa.table(cols).replace_schema_metadata({"tiny_biomoe": meta})
            with atomic_path(path) as tmp:
                pq.write_table(table, str(tmp))
            return path
        raise InputError(f"unsupported output {str(path)!r}; use a .npz or .parquet file name")


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (Path, torch.device)):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_embeddings(path: str | os.PathLike) -> EmbeddingResult:
    """Read a file written by :meth:`EmbeddingResult.save` (``.npz`` or ``.parquet``).

    Args:
        path: the ``.npz`` or ``.parquet`` file (Parquet needs pyarrow, the ``io`` extra); a missing file,
            another suffix or a file not written by tiny-biomoe is an :class:`InputError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"embedding file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                emb = {k[len(_PREFIX):]: z[k] for k in z.files if k.startswith(_PREFIX)}
                qual = {k[len(_QPREFIX):]: z[k] for k in z.files if k.startswith(_QPREFIX)}
                return EmbeddingResult(emb, z["starts"], json.loads(str(z["metadata"])), qual)
        except (KeyError, ValueError, OSError) as exc:
            raise InputError(f"{path}: not an embedding file written by tiny-biomoe ({exc})") from exc
    if suffix == ".parquet":
        pq = require("pyarrow.parquet", "io", "Reading Parquet embeddings")
        try:
            table = pq.read_table(str(path))
            raw = (table.schema.metadata or {}).get(b"tiny_biomoe")
            metadata = json.loads(raw) if raw is not None else None
        except (OSError, ValueError) as exc:  # pyarrow's and json's errors subclass these
            raise InputError(f"{path}: not an embedding file written by tiny-biomoe ({exc})") from exc
        if metadata is None or "start_s" not in table.column_names:
            raise InputError(f"{path}: not an embedding file written by tiny-biomoe")
        emb, qual = {}, {}
        for name in table.column_names:
            if name.startswith(_PREFIX):
                col = table.column(name).combine_chunks()
                emb[name[len(_PREFIX):]] = col.flatten().to_numpy().reshape(len(col), -1).astype(np.float32)
            elif name.startswith(_QPREFIX):
                qual[name[len(_QPREFIX):]] = table.column(name).to_numpy(zero_copy_only=False)
        return EmbeddingResult(emb, table.column("start_s").to_numpy(), metadata, qual)
    raise InputError(f"unsupported embedding file {str(path)!r}; expected .npz or .parquet")


def _package_version() -> str:
    try:
        from ._version import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def _resolve_model(model: Any, device: "str | torch.device | None") -> tuple[torch.nn.Module, dict[str, Any] | None]:
    """Return ``(model in eval mode on its device, weights description or None)``.

    The description is known here only when the weights are loaded by name/path; for a model
    object :func:`_describe_weights` works it out (hashing the file), only where it is recorded.
    """
    from ._device import resolve_device
    from .model.runtime import load_model_cached

    if model is None or isinstance(model, (str, os.PathLike)):  # loaded once per process (same file, device)
        m, info = load_model_cached("tiny-biomoe" if model is None else model, device=device)
        return m, info.as_dict()
    if not isinstance(model, torch.nn.Module):
        raise InputError("model must be a TinyBioMoE, a weights path/name, or None")
    from .model.moe import check_model

    check_model(model)
    if device is not None and device != "auto":
        dev = resolve_device(device)
        if dev != next(model.parameters()).device:
            model.to(dev)
    return model.eval(), None


def _describe_weights(model: torch.nn.Module) -> dict[str, Any]:
    """Where a model object's weights came from (:func:`tiny_biomoe.model.provenance.describe_model`)."""
    from .model.provenance import describe_model

    return describe_model(model).as_dict()


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="img", leave=False)


@keyword_only_after(1, legacy=8)
def embed_windows(
    windows: Any,
    *,
    sampling_rate: float,
    modality: str | None,
    kinds: "str | Sequence[str]" = ("waveform", "spectrogram_psd"),
    model: Any = None,
    batch_size: int = 32,
    device: "str | torch.device | None" = "auto",
    progress: bool = False,
    kind_params: Mapping[str, Mapping[str, Any]] | None = None,
    backend: str | None = None,
    precision: str | None = None,
    lines: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Embed windows ``(N, L)`` with each kind: returns kind -> ``(N, 192)`` float32 array.

    ``model``: a TinyBioMoE (used on its device when ``device="auto"``, moved otherwise), a weights
    path/name for :func:`tiny_biomoe.model.load_model`, or ``None`` for the official weights.
    Images are rendered batch by batch on the model's device; ``kind_params`` maps a kind to
    parameter overrides. The model runs in its inference form (:func:`tiny_biomoe.model.runtime.get_embedder`:
    ``backend`` ``"torch"``/``"onnx"``, ``precision`` ``"fp32"``/``"bf16"``; defaults from
    :func:`~tiny_biomoe.model.runtime.current_settings`), built once per process. ``lines``: component
    windows cut from the whole recording for ``multi`` (``Conditioned.lines`` of
    :func:`tiny_biomoe.signals.conditioning.condition`).

    Args:
        windows: ``(N, L)`` or ``(L,)`` array or tensor of samples (no NaN; at least 8 samples a window).
        sampling_rate: Hz of the windows.
        modality: name or defaults, selects per-modality rendering parameters; ``None``: the kinds' generic ones.
        kinds: one representation kind or several (see :func:`tiny_biomoe.representations.list_kinds`).
        model: TinyBioMoE, weights path/name, or ``None`` (official weights); see above.
        batch_size: windows rendered and embedded per model call (>= 1).
        device: for a weights path/name, where to load it (``"auto"``/``None``: CUDA, else MPS, else CPU); a
            model object is moved there unless ``"auto"`` or ``None``.
        progress: show a progress bar (images over all kinds).
        kind_params: per-kind parameter overrides, e.g. ``{"spectrogram_psd": {"preset": "paper"}}``.
        backend: ``"torch"`` or ``"onnx"``; ``None``: the current default (see above).
        precision: ``"fp32"`` or ``"bf16"``; ``None``: the current default (see above).
        lines: component name -> ``(N, L)`` windows for ``multi`` (see above); ``None``: ``multi`` derives them.
    """
    fs = check_sampling_rate(sampling_rate)
    kinds = kind_list(kinds)
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    kind_params = dict(kind_params or {})
    x = as_windows_tensor(windows, "cpu")
    net, _ = _resolve_model(model, device)
    from ._timing import stage
    from .model.runtime import get_embedder

    embedder = get_embedder(net, backend=backend, precision=precision)
    dev = next(net.parameters()).device
    if dev.type == "cuda":  # pinned host memory: asynchronous copies of the windows
        x = x.pin_memory()
    n = x.shape[0]
    out: dict[str, np.ndarray] = {}
    with _progress(n * len(kinds), progress, "embedding") as bar, torch.inference_mode():
        for k in kinds:
            params = dict(kind_params.get(k, {}))
            chunks = []
            for i in range(0, n, int(batch_size)):
                with stage("render"):
                    ln = {c: np.asarray(v)[i : i + int(batch_size)] for c, v in lines.items()} if lines else None
                    img = render(x[i : i + int(batch_size)].to(dev, non_blocking=True), kind=k, sampling_rate=fs,
                                 modality=modality, device=dev, lines=ln,
                                 **params)
                with stage("model"):
                    chunks.append(embedder(img).cpu().numpy())
                bar.update(img.shape[0])
            out[k] = np.concatenate(chunks, axis=0).astype(np.float32, copy=False)
    return out


@keyword_only_after(1, legacy=15)
def embed_signal(
    signal: "np.ndarray | Recording",
    *,
    sampling_rate: float | None = None,
    modality: str,
    kinds: "str | Sequence[str]" = ("waveform", "spectrogram_psd"),
    model: Any = None,
    window: float | None = None,
    stride: float | None = None,
    batch_size: int = 32,
    device: "str | torch.device | None" = "auto",
    preprocess: bool = True,
    progress: bool = False,
    kind_params: Mapping[str, Mapping[str, Any]] | None = None,
    max_windows: int | None = None,
    column: "str | int | None" = None,
    max_missing: float = 0.5,
    target_rate: float | None = None,
    backend: str | None = None,
    precision: str | None = None,
    resample: "str | float" = "model",
    quality: bool = True,
) -> EmbeddingResult:
    """Embed one channel: condition it (:func:`tiny_biomoe.signals.conditioning.condition`: gaps ->
    filter -> resample -> windows), render each kind, run the model.

    Args:
        signal: 1-D samples, or a :class:`~tiny_biomoe.signals.Recording` (the channel is picked by
            ``column`` or by the modality's name).
        sampling_rate: Hz (``None`` takes it from the Recording).
        modality: e.g. ``"eda"``, ``"bvp"``/``"ppg"``, ``"resp"``, ``"spo2"``, ``"ecg"``, ``"emg"``, ``"eeg"``.
        kinds: representation kinds to embed (see :func:`tiny_biomoe.representations.list_kinds`).
        model: TinyBioMoE, weights path/name, or ``None`` (official weights).
        window: window length in seconds (default: the modality's window).
        stride: seconds between window starts (default: the window, no overlap).
        preprocess: apply the modality's default filter first (:func:`tiny_biomoe.signals.preprocess`).
        kind_params: per-kind parameter overrides, e.g. ``{"spectrogram_psd": {"preset": "paper"}}``.
        max_windows: keep only the first N windows.
        column: the channel of a Recording (or pandas/MNE object) to embed, by name or index; ``None``: the
            only channel, else the one labelled with the modality.
        max_missing: windows with a larger fraction of missing (NaN) samples are dropped (0.5: half).
        batch_size: windows rendered and embedded per model call (>= 1).
        device: for a weights path/name, where to load it (``"auto"``/``None``: CUDA, else MPS, else CPU); a
            model object is moved there unless ``"auto"`` or ``None``.
        progress: show a progress bar while embedding.
        target_rate: resample to this rate in Hz after filtering (same as ``resample=<Hz>``; wins over it).
        resample: ``"model"`` (default: the modality's model rate, e.g. 100 Hz for BVP), ``"native"``
            (the recording's rate) or a rate in Hz.
        quality: compute per-window quality flags (stored in ``quality``, counted in the metadata).
        backend: ``"torch"`` (default) or ``"onnx"`` (ONNX Runtime; the export is cached by weights hash).
        precision: ``"fp32"`` (default) or ``"bf16"`` (CPUs with AVX-512 BF16/AMX, CUDA; its error against
            float32 is measured and stored in ``metadata["inference"]``). See :mod:`tiny_biomoe.model.runtime`.
    """
    m = get_modality(modality)
    from .signals.inmemory import one_channel

    # pandas, NeuroKit2 (frame, info), MNE Raw, a Recording or samples; any other type is a clear error
    signal, original_fs, source, channel = one_channel(signal, sampling_rate=sampling_rate, modality=m.name,
                                                       column=column)
    from ._timing import stage

    kinds = kind_list(kinds)
    kind_params = dict(kind_params or {})
    from .representations.multi import multi_lines_request

    line_names, line_settings = multi_lines_request(kinds, kind_params, m)
    with stage("condition"):
        wins = condition(signal, sampling_rate=original_fs, modality=m, window_s=window, stride_s=stride,
                         preprocess=preprocess,
                         resample=target_rate if target_rate is not None else resample, max_missing=max_missing,
                         max_windows=max_windows, lines=line_names, line_settings=line_settings, quality=quality)
    fs = wins.sampling_rate
    kinds_meta = {k: render_info(k, fs, wins.data.shape[1], m, **kind_params.get(k, {})) for k in kinds}
    net, weights = _resolve_model(model, device)
    emb = embed_windows(wins.data, sampling_rate=fs, modality=m, kinds=kinds, model=net, batch_size=batch_size,
                        device="auto", progress=progress, kind_params=kind_params,
                        backend=backend, precision=precision, lines=wins.lines)
    from .model.runtime import get_embedder

    inference = get_embedder(net, backend=backend, precision=precision).describe()  # the one just used
    weights = weights if weights is not None else _describe_weights(net)
    metadata = {
        "format_version": FORMAT_VERSION,
        "package_version": _package_version(),
        "source": source,
        "channel": channel,
        "modality": m.name,
        "modality_defaults": m.to_dict(),
        "preprocessing": describe_preprocessing(m, original_fs) if preprocess else None,
        "conditioning": wins.settings["conditioning"],
        "signal": wins.settings,
        "quality": ({**wins.quality.settings, "counts": wins.quality.counts()} if wins.quality is not None else None),
        "original_sampling_rate": original_fs,
        "sampling_rate": fs,
        "window_s": wins.window_s,
        "stride_s": wins.stride_s,
        "n_windows": len(wins),
        "n_windows_dropped": wins.n_dropped,
        "kinds": kinds_meta,
        "weights": weights,
        "inference": inference,
        "embed_dim": int(next(iter(emb.values())).shape[1]),
    }
    qual = wins.quality.as_arrays() if wins.quality is not None else {}
    return EmbeddingResult(emb, wins.starts.astype(np.float64), metadata, qual)


def default_output_path(input_path: str | os.PathLike, suffix: str = ".npz", modality: str | None = None) -> Path:
    """``recording.csv`` -> ``recording.embeddings.npz`` beside the input, or with ``modality``
    ``recording.eda.embeddings.npz`` (canonical name, so ``gsr`` gives ``eda``): the EDA and BVP
    embeddings of one multi-channel file get two names instead of one that the second would replace."""
    p = Path(input_path)
    tag = f".{get_modality(modality).name}" if modality is not None else ""
    return p.with_name(f"{p.stem}{tag}.embeddings{suffix}")


@keyword_only_after(1, legacy=2)
def embed_file(
    input_path: str | os.PathLike,
    *,
    modality: str,
    output: str | os.PathLike | None = None,
    sampling_rate: float | None = None,
    column: "str | int | None" = None,
    time_column: "str | int | None" = None,
    time_unit: str = "auto",
    kinds: "str | Sequence[str]" = ("waveform", "spectrogram_psd"),
    weights: Any = "tiny-biomoe",
    window: float | None = None,
    stride: float | None = None,
    batch_size: int = 32,
    device: "str | torch.device | None" = "auto",
    preprocess: bool = True,
    max_windows: int | None = None,
    progress: bool = False,
    target_rate: float | None = None,
    backend: str | None = None,
    precision: str | None = None,
    resample: "str | float" = "model",
    max_missing: float = 0.5,
) -> tuple[EmbeddingResult, Path]:
    """Read a signal file, embed one channel and save the result (``biomoe embed``); returns (result, path).

    The output name defaults to ``<input stem>.<modality>.embeddings.npz`` beside the input
    (``rec.eda.embeddings.npz``). The output suffix is checked before any work; the file appears
    only when complete.
    """
    from .signals.readers import read_signal, time_unit_hint

    out = Path(output) if output is not None else default_output_path(input_path, modality=modality)
    if out.suffix.lower() not in (".npz", ".parquet"):
        raise InputError(f"output {str(out)!r} must end in .npz or .parquet")
    if out.suffix.lower() == ".parquet":
        require("pyarrow", "io", "Writing embeddings as Parquet")
    from ._timing import stage

    with stage("read"):
        rec = read_signal(
            input_path, columns=None if column is None else [column], sampling_rate=sampling_rate, time_column=time_column,
            time_unit=time_unit,
        )
    with time_unit_hint(rec):
        res = embed_signal(
            rec, sampling_rate=None, modality=modality, kinds=kinds, model=weights, window=window, stride=stride,
            batch_size=batch_size, device=device, preprocess=preprocess, progress=progress, max_windows=max_windows,
            target_rate=target_rate, backend=backend, precision=precision, resample=resample, max_missing=max_missing,
        )
    with stage("write"):
        saved = res.save(out)
    return res, saved
