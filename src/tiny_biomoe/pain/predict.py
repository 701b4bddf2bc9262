"""``biomoe predict``: apply a head saved by ``biomoe train`` to new recordings.

The head folder (``head.safetensors`` + ``head.json``) records everything that made its training
embeddings: the modalities and representation kinds with their resolved parameters and versions,
the window length and sampling rate, whether the modality filters were applied, the fusion, the
classes and the sha256 of the backbone weights. :func:`predict` repeats exactly those steps:

recording -> channel of each head modality -> :func:`tiny_biomoe.signals.conditioning.condition`
(gaps -> filtered as in training -> resampled to the training rate -> windows: one centred window
per recording, as in training, or sliding windows with ``stride``; never padded) -> images -> embeddings -> fusion -> head -> class probabilities.

A head whose windows were conditioned in another order (heads from before conditioning version 2
resampled first, then filtered) is refused (:class:`CheckpointError`): retrain it. Each window's
quality flags are reported (column ``quality_flags`` and a warning).

Weights whose sha256 differs from the recorded one are refused (:class:`CheckpointError`) unless
``allow_weights_mismatch=True``: a head is only meaningful on the embeddings it was trained on.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .._io import atomic_path
from ..errors import CheckpointError, ConfigError, InputError
from .fusion import fuse
from .heads import Head, load_head

if TYPE_CHECKING:
    import pandas as pd

    from ..data.dataset import PainDataset
    from ..model.moe import TinyBioMoE

__all__ = ["predict", "predict_dataset", "write_predictions", "write_submission", "load_model_for_head"]

SignalLike = Any  # path, 1-D/2-D array, Recording or mapping name -> 1-D array


def _head_and_meta(head: "str | os.PathLike | tuple[Head, dict]") -> tuple[Head, dict, Path | None]:
    if isinstance(head, (tuple, list)) and len(head) == 2 and isinstance(head[0], Head):
        return head[0].eval(), dict(head[1]), None
    if isinstance(head, (str, os.PathLike)):
        h, meta = load_head(head)
        return h, meta, Path(head)
    raise InputError("head must be a folder saved by `biomoe train` or the (Head, metadata) pair of load_head()")


def _check_meta(meta: Mapping[str, Any], where: str) -> tuple[list[tuple[str, str]], str, list[str]]:
    try:
        inputs = [tuple(k) for k in meta["fusion"]["inputs"]]
        method = str(meta["fusion"]["method"])
        classes = list(meta["classes"])
        needed = [meta["pipeline"]["preprocess"]]
        for m, k in inputs:  # every setting predict repeats must be recorded
            needed += [meta["windows"][m]["sampling_rate"], meta["windows"][m]["window_s"], meta["representations"][f"{m}/{k}"]]
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{where}: head.json lacks the settings needed to predict ({exc!r}); "
                              "retrain the head with `biomoe train`") from exc
    return inputs, method, classes  # type: ignore[return-value]


def load_model_for_head(
    meta: Mapping[str, Any],
    head_dir: Path | None = None,
    weights: "str | os.PathLike | None" = None,
    device: str = "auto",
    allow_weights_mismatch: bool = False,
) -> "tuple[TinyBioMoE, dict]":
    """Load the backbone a head was trained on; returns ``(model, weights dict)``.

    ``weights=None`` uses the recorded source if that file still exists, else ``head_dir/backbone``
    (fine-tuned heads), else the official weights; a head trained on a seeded random init gets the
    same init back. Any sha256 difference with the recorded one is a :class:`CheckpointError`
    unless ``allow_weights_mismatch``.
    """
    from ..model import load_model

    rec = dict(meta.get("weights") or {})
    src, sha = str(rec.get("source", "")), rec.get("sha256")
    from ..model.provenance import WeightsInfo

    winfo = WeightsInfo.from_dict(rec)
    if weights is None and winfo.is_random_init and winfo.seed is not None:
        from ..model.init import random_model

        warnings.warn(f"this head was trained on RANDOM-INIT weights ({src}); its predictions mean nothing "
                      "about Tiny-BioMoE", stacklevel=3)
        model = random_model(winfo.seed, init=winfo.init or "pytorch")
        from .._device import resolve_device

        return model.to(resolve_device(device)).eval(), winfo.as_dict()
    if weights is None:
        if src and Path(src).exists():
            weights = src
        elif head_dir is not None and (head_dir / "backbone").exists():
            weights = head_dir / "backbone"
        else:
            weights = "tiny-biomoe"
    model, info = load_model(weights, device=device, fallback="error")
    rec_tensors = rec.get("tensors_sha256")
    same = (sha is not None and info.sha256 == sha) or (rec_tensors is not None and info.tensors_sha256 == rec_tensors)
    if not same:  # the tensors hash also matches a re-saved copy of the same weights
        msg = (f"the weights {info.source} (sha256 {info.sha256}) are not those the head was trained on "
               f"({src or 'unknown'}, sha256 {sha}); its embeddings would differ and the predictions would be "
               "meaningless. Pass the training weights with --weights, or --allow-weights-mismatch to go on anyway")
        if not allow_weights_mismatch:
            raise CheckpointError(msg)
        warnings.warn(msg.split(". Pass")[0] + " (allowed by allow_weights_mismatch)", stacklevel=3)
    return model, info.as_dict()


def _windows(x: np.ndarray, fs_in: float, modality: str, win: Mapping[str, Any], preprocess: bool,
             stride: float | None, lines: Sequence[str] = (), line_settings: Mapping[str, Any] | None = None,
             ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Windows ``(N, L)``, their start times (s), component lines and quality flags (``(N,)`` str), made
    exactly as in training: :func:`tiny_biomoe.signals.conditioning.condition` at the training rate,
    the centre window (``stride=None``, as ``trial_windows``) or sliding windows. Never padded."""
    from ..signals.conditioning import condition

    fs = float(win["sampling_rate"])
    n = int(win.get("samples") or round(float(win["window_s"]) * fs))
    x = np.asarray(x, dtype=np.float64)
    c = condition(x, sampling_rate=fs_in, modality=modality, window_s=n / fs,
                  stride_s=None if stride is None else float(stride), resample=fs,
                  preprocess=preprocess, placement="centre" if stride is None else "sliding", lines=lines,
                  line_settings=line_settings)
    if stride is None and len(x) / float(fs_in) > 2 * n / fs:
        warnings.warn(f"{modality}: the recording is {len(x) / float(fs_in):.0f} s long but only its centre "
                      f"{n / fs:g} s window is classified; pass stride (CLI --stride) for sliding windows",
                      stacklevel=3)
    q = c.quality
    flags = np.array([",".join(k for k in ("flatline", "clipped", "low_sqi") if getattr(q, k)[i]) for i in range(len(c))],
                     dtype=object)
    return (np.asarray(c.data, np.float32), np.asarray(c.starts, np.float64),
            {k: np.asarray(v, np.float32) for k, v in c.lines.items()}, flags)


def predict(
    head: "str | os.PathLike | tuple[Head, dict]",
    signals: "SignalLike | Sequence[SignalLike]",
    *,
    sampling_rate: float | None = None,
    column: "str | int | None" = None,
    time_column: "str | int | None" = None,
    modality: str | None = None,
    stride: float | None = None,
    weights: "str | os.PathLike | None" = None,
    device: str = "auto",
    allow_weights_mismatch: bool = False,
    batch_size: int = 32,
    names: Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
    backend: str | None = None,
    precision: str | None = None,
) -> "pd.DataFrame":
    """Classify new recordings with a saved head; one row per window (one per recording by default).

    Args:
        head: folder written by ``biomoe train`` (or the ``(Head, metadata)`` pair of :func:`load_head`).
        signals: one recording or a list of them: file paths (CSV/TSV/NPY/EDF/WFDB), arrays
            (need ``sampling_rate``), :class:`~tiny_biomoe.signals.Recording` objects or mappings
            channel -> 1-D array. Multimodal heads pick each modality's channel by name.
        sampling_rate: Hz, when the files carry no time column or header rate.
        column: channel to use (single-modality heads only).
        time_column: the files' time column, as :func:`~tiny_biomoe.signals.read_signal` takes it (``None``:
            detected).
        modality: the modality of the input channel; must be the head's (default: the head's).
        stride: ``None``: the centred window of each recording, exactly as in training (shorter
            recordings are refused, never padded); seconds: sliding windows of the training length.
        weights: backbone weights (default: those recorded in the head, see :func:`load_model_for_head`).
        allow_weights_mismatch: use weights whose sha256 differs from the recorded one (warns).
        device: where the backbone is loaded and run (``"auto"``: CUDA, else MPS, else CPU).
        batch_size: windows rendered and embedded per model call.
        names: the ``file`` value of each recording's rows, in order; ``None``: the path, the Recording's
            source or ``<input i>``.
        log: called with a line naming the weights used; ``None``: nothing is logged.
        backend: the model's inference backend, ``"torch"`` or ``"onnx"`` (:mod:`tiny_biomoe.model.runtime`;
            default torch).
        precision: ``"fp32"`` (default), ``"bf16"`` or ``"fp16"`` where the device supports it.

    Returns a DataFrame with columns ``file, window, start_s, end_s, predicted, p_<class>...``.
    """
    import pandas as pd

    from ..signals import get_modality, read_signal
    from ..signals.readers import Recording
    from .pipeline import embed_block

    h, meta, head_dir = _head_and_meta(head)
    where = str(head_dir) if head_dir is not None else "head"
    inputs, method, classes = _check_meta(meta, where)
    if h.n_classes != len(classes):
        raise CheckpointError(f"{where}: the head has {h.n_classes} outputs but head.json lists {len(classes)} classes")
    mods = list(dict.fromkeys(m for m, _ in inputs))
    if modality is not None:
        if len(mods) != 1 or get_modality(modality).name != get_modality(mods[0]).name:
            raise InputError(f"--modality {modality!r} does not match the head, which was trained on {mods}; "
                             "omit --modality to use the head's")
    if column is not None and len(mods) > 1:
        raise InputError(f"the head uses several modalities {mods}; --column picks one channel only. Name the "
                         "file's columns after the modalities instead")
    from ..signals.conditioning import check_conditioning

    for m in mods:  # windows conditioned in another order give other embeddings: never mixed silently
        why = check_conditioning(meta["windows"][m].get("conditioning"), f"{where}: the head's {m} windows")
        if why:
            raise CheckpointError(f"{why}; its predictions on today's windows would be unreliable. Retrain the head "
                                  "with `biomoe train`")
    pipe = meta["pipeline"]
    render_params = dict(pipe.get("render_params") or {})
    from ..representations.multi import multi_lines_request

    want_lines = {m: multi_lines_request([k for mm, k in inputs if mm == m], render_params, m) for m in mods}
    items = list(signals) if isinstance(signals, (list, tuple)) else [signals]
    if not items:
        raise InputError("no recordings given")
    labels = list(names) if names is not None else [
        str(s) if isinstance(s, (str, os.PathLike)) else (s.source if isinstance(s, Recording) else f"<input {i}>")
        for i, s in enumerate(items)]
    if len(labels) != len(items):  # zip would drop recordings silently
        raise InputError(f"names has {len(labels)} entries for {len(items)} recordings; give one name per recording")

    per_mod: dict[str, list[np.ndarray]] = {m: [] for m in mods}
    per_lines: dict[str, list[dict[str, np.ndarray]]] = {m: [] for m in mods}
    rows_file, rows_start, rows_idx, rows_flags = [], [], [], []
    for label, src in zip(labels, items):
        rec = read_signal(src, sampling_rate=sampling_rate, time_column=time_column)
        got: dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]] = {}
        for m in mods:
            _, x, fs_in = rec.pick(column, m)
            got[m] = _windows(x, fs_in, m, meta["windows"][m], bool(pipe["preprocess"]), stride, *want_lines[m])
        n = min(len(g[0]) for g in got.values())
        if any(len(g[0]) != n for g in got.values()):
            warnings.warn(f"{label}: modalities give different window counts; the first {n} are used", stacklevel=2)
        for m in mods:
            per_mod[m].append(got[m][0][:n])
            per_lines[m].append({c: v[:n] for c, v in got[m][2].items()})
        rows_flags += [",".join(dict.fromkeys(f"{m}:{fl}" for m in mods for fl in str(got[m][3][i]).split(",") if fl))
                       for i in range(n)]
        starts = got[mods[0]][1][:n]
        rows_file += [label] * n
        rows_start += starts.tolist()
        rows_idx += list(range(n))

    model, wdict = load_model_for_head(meta, head_dir, weights, device, allow_weights_mismatch)
    if log:
        log(f"weights: {wdict.get('source')} (sha256 {wdict.get('sha256')})")
    from ..representations import render_info

    emb: dict[tuple[str, str], np.ndarray] = {}
    for m, k in inputs:
        w = np.concatenate(per_mod[m], axis=0)
        fs = float(meta["windows"][m]["sampling_rate"])
        rp = dict(render_params.get(k, {}))
        now, then = render_info(k, fs, w.shape[1], m, **rp), meta["representations"][f"{m}/{k}"]
        if now.get("version") != then.get("version") or now.get("params") != then.get("params"):
            raise CheckpointError(f"{where}: {m}/{k} now renders as {now.get('version')} {now.get('params')} but the head "
                                  f"was trained on {then.get('version')} {then.get('params')}; retrain the head")
        lines = {c: np.concatenate([d[c] for d in per_lines[m]], axis=0) for c in (per_lines[m][0] if per_lines[m] else {})}
        emb[(m, k)] = embed_block(w, fs, m, k, model, render_params=rp, batch_size=batch_size, device=device,
                                  **({"lines": lines} if (k == "multi" and lines) else {}),
                                  backend=backend, precision=precision)
    proba = h.predict_proba(fuse(emb, inputs, method))
    win_s = float(meta["windows"][mods[0]]["window_s"])
    df = pd.DataFrame({"file": rows_file, "window": rows_idx, "start_s": rows_start,
                       "end_s": np.asarray(rows_start) + win_s,
                       "predicted": [classes[i] for i in proba.argmax(axis=1)]})
    for j, c in enumerate(classes):
        df[f"p_{c}"] = proba[:, j].astype(np.float64)
    df["quality_flags"] = rows_flags  # e.g. "bvp:flatline"; empty: no flag (see tiny_biomoe.signals.quality)
    n_flagged = sum(bool(f) for f in rows_flags)
    if n_flagged:
        warnings.warn(f"{n_flagged} of {len(df)} windows have quality flags (flat-line, clipping or low SQI; column "
                      "quality_flags); their predictions deserve less trust", stacklevel=2)
    df.attrs.update(weights=wdict, head=where, classes=classes, quality={"windows": len(df), "flagged": n_flagged})
    return df


def write_predictions(df: "pd.DataFrame", path: str | os.PathLike) -> Path:
    """Write the predictions table as CSV atomically (``.csv`` or ``.tsv``); returns the path."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise ConfigError(f"predictions output {str(path)!r} must end in .csv or .tsv")
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, sep="\t" if path.suffix.lower() == ".tsv" else ",", float_format="%.6g")
    return path


_CONSTRUCTION_KEYS = ("edition", "construction", "rest", "sampling_rate_hz")


def predict_dataset(
    head: "str | os.PathLike | tuple[Head, dict]",
    dataset: "PainDataset",
    *,
    partition: str | None = "test",
    weights: "str | os.PathLike | None" = None,
    device: str = "auto",
    allow_weights_mismatch: bool = False,
    batch_size: int = 32,
    log: Callable[[str], None] | None = None,
) -> "pd.DataFrame":
    """Classify every trial (segment) of one partition of a dataset, e.g. the AI4PAIN test set.

    Each trial goes through exactly the steps of :func:`predict` (the head's modalities, rate,
    filters, window, kinds, fusion). Returns one row per segment with columns ``subject, segment``
    (the trial id: the column name as distributed, ``#j`` for the j-th piece of a cut baseline),
    ``partition``, ``label`` (the known label; empty for blinded segments), ``predicted``,
    ``p_<class>...``; :func:`write_submission` writes it. ``partition=None``: all trials.
    """
    from ..signals.readers import Recording

    _, meta, head_dir = _head_and_meta(head)
    where = str(head_dir) if head_dir is not None else "head"
    inputs, _, classes = _check_meta(meta, where)
    ds = dataset.in_partition(partition) if partition else dataset
    mods = list(dict.fromkeys(m for m, _ in inputs))
    lacking = [m for m in mods if m not in ds.modalities]
    if lacking:
        raise InputError(f"the head uses modalities {mods} but the dataset {ds.name} lacks {lacking} "
                         f"(it has {ds.modalities}); load them too (--modalities)")
    if list(ds.classes) != list(classes):
        raise InputError(f"the head predicts the classes {classes} but the dataset {ds.name} has {ds.classes}; "
                         "use a head trained on this dataset (edition)")
    then = (meta.get("dataset") or {}).get("construction") or {}
    diff = {k: (then.get(k), ds.info.get(k)) for k in _CONSTRUCTION_KEYS if k in then and then.get(k) != ds.info.get(k)}
    if diff:
        warnings.warn("the dataset's segments are not built as the head's training segments were: "
                      + "; ".join(f"{k}: trained on {a!r}, now {b!r}" for k, (a, b) in diff.items())
                      + ". Pass the same adapter options as for training", stacklevel=2)
    ds = ds.select(mods)
    short = []  # a submission needs every segment: refuse before any work, naming them (never padded)
    for m in mods:
        need = float(meta["windows"][m]["window_s"])
        short += [f"{t.subject}/{t.trial} ({m} {t.duration(m):.2f} s)" for t in ds.trials if t.duration(m) + 1e-9 < need]
    if short:
        shortest = min(t.duration(m) for t in ds.trials for m in mods)
        wins = ", ".join(f"{m} {float(meta['windows'][m]['window_s']):g} s" for m in mods)
        raise InputError(
            f"{len(short)} segments of {partition or 'the dataset'} are shorter than the head's window "
            f"({wins}), e.g. {', '.join(short[:5])}; "
            f"windows are never padded. Retrain the head with --window-s {np.floor(shortest * 100) / 100:g} or less "
            "(or load the test partition with the training data, so the window follows the shortest segment)")
    recs = [Recording({m: t.signals[m] for m in mods}, {m: float(t.sampling_rates[m]) for m in mods},
                      f"{t.subject}/{t.trial}") for t in ds.trials]
    df = predict(head, recs, weights=weights, device=device, allow_weights_mismatch=allow_weights_mismatch,
                 batch_size=batch_size, names=[f"{t.subject}/{t.trial}" for t in ds.trials], log=log)
    if len(df) != len(ds.trials):  # one centred window per trial: never more rows than segments
        raise CheckpointError(f"{where}: got {len(df)} predictions for {len(ds.trials)} segments")
    import pandas as pd

    out = pd.DataFrame({"subject": [t.subject for t in ds.trials], "segment": [t.trial for t in ds.trials],
                        "partition": [t.partition or "" for t in ds.trials],
                        "label": [t.label or "" for t in ds.trials], "predicted": df["predicted"].tolist()})
    for c in classes:
        out[f"p_{c}"] = df[f"p_{c}"].to_numpy()
    out.attrs.update(df.attrs)
    return out


def write_submission(df: "pd.DataFrame", path: str | os.PathLike, *, probabilities: bool = False) -> Path:
    """Write :func:`predict_dataset`'s table as a submission: ``subject, segment, predicted`` (and the
    ``p_<class>`` columns with ``probabilities``), one row per segment, atomically (.csv or .tsv)."""
    cols = ["subject", "segment", "predicted"] + ([c for c in df.columns if c.startswith("p_")] if probabilities else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"a submission needs the columns {cols} of predict_dataset(); {missing} are missing")
    return write_predictions(df[cols], path)
