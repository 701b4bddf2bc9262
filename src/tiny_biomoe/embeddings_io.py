"""The embedding dataset on disk: a folder of Parquet part files plus ``_dataset.json``.

Layout of ``study.parquet/`` (written by :func:`tiny_biomoe.dataset_embed.embed_dataset`)::

    _dataset.json          settings, weights (SHA-256), package version, the parts and the failures
    _errors.csv            recordings that failed: path, reason (header only when none failed)
    part-<name>-<hash>.parquet   one per input recording, written atomically

Each part has one row per window *and kind*: ``source`` (the input's path), ``channel``,
``modality``, ``kind``, ``window`` (index among the recording's kept windows), ``start_s``,
``end_s``, the metadata columns (strings: manifest columns, BIDS ``subject``/``session``/
``task``/``run``; null where a recording has none) and ``embedding``, a **fixed-size list of 192
float32** (one column, so the width is part of the schema; :func:`read_embedding_dataset` with
``as_numpy=True`` returns it as an ``(N, 192)`` array). Names starting with ``_`` or ``.`` are
ignored by Arrow, so ``pandas.read_parquet("study.parquet")`` also works.

>>> df = read_embedding_dataset("study.parquet", subjects=["01"], kinds=["waveform"])  # doctest: +SKIP
>>> arrays = read_embedding_dataset("study.parquet", kinds="waveform", as_numpy=True)  # doctest: +SKIP
>>> arrays["embedding"].shape  # doctest: +SKIP
(1234, 192)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import DatasetError, require

__all__ = ["INDEX_NAME", "ERRORS_NAME", "PART_META_KEY", "FIXED_COLUMNS", "part_schema", "part_table",
           "read_part_info", "read_dataset_metadata", "read_embedding_dataset", "dataset_parts"]

#: The dataset-level metadata file.
INDEX_NAME = "_dataset.json"
#: The failures file (CSV: path, reason).
ERRORS_NAME = "_errors.csv"
#: Key of a part file's own metadata (JSON) in its Parquet schema metadata.
PART_META_KEY = b"tiny_biomoe_part"
#: Columns every part has, before the metadata columns and ``embedding``.
FIXED_COLUMNS = ("source", "channel", "modality", "kind", "window", "start_s", "end_s")


def _pa():
    return require("pyarrow", "io", "Embedding datasets (Parquet)")


def part_schema(metadata_keys: Sequence[str], embed_dim: int, part_meta: dict[str, Any] | None = None):
    """The Arrow schema of a part: fixed columns, ``metadata_keys`` (strings), ``embedding``."""
    pa = _pa()
    fields = [pa.field("source", pa.string()), pa.field("channel", pa.string()), pa.field("modality", pa.string()),
              pa.field("kind", pa.string()), pa.field("window", pa.int32()), pa.field("start_s", pa.float64()),
              pa.field("end_s", pa.float64())]
    fields += [pa.field(k, pa.string()) for k in metadata_keys]
    fields.append(pa.field("embedding", pa.list_(pa.float32(), int(embed_dim))))
    meta = None if part_meta is None else {PART_META_KEY: json.dumps(part_meta, sort_keys=True, default=str)}
    return pa.schema(fields, metadata=meta)


def part_table(schema, *, source: str, channel: str, modality: str, window0: int, starts: np.ndarray,
               window_s: float, embeddings: dict[str, np.ndarray], metadata: dict[str, str | None]):
    """Rows of one chunk of windows (window-major, then kind) as a table of ``schema``."""
    pa = _pa()
    kinds = list(embeddings)
    n, k = len(starts), len(kinds)
    win = np.repeat(np.arange(window0, window0 + n, dtype=np.int32), k)
    st = np.repeat(np.asarray(starts, dtype=np.float64), k)
    emb = np.stack([embeddings[kd] for kd in kinds], axis=1).reshape(n * k, -1).astype(np.float32, copy=False)
    dim = schema.field("embedding").type.list_size
    cols = {"source": pa.array([source] * (n * k), pa.string()), "channel": pa.array([channel] * (n * k), pa.string()),
            "modality": pa.array([modality] * (n * k), pa.string()),
            "kind": pa.array(kinds * n, pa.string()), "window": pa.array(win), "start_s": pa.array(st),
            "end_s": pa.array(st + float(window_s))}
    for name in schema.names:
        if name not in cols and name != "embedding":
            cols[name] = pa.array([metadata.get(name)] * (n * k), pa.string())
    cols["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(emb).reshape(-1)), dim)
    return pa.table([cols[f] for f in schema.names], schema=schema)


def read_part_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """The part file's own metadata (input hash, settings hash, ...), or ``None`` if it is not a readable part."""
    pq = require("pyarrow.parquet", "io", "Embedding datasets (Parquet)")
    try:
        raw = (pq.read_schema(str(path)).metadata or {}).get(PART_META_KEY)
        return None if raw is None else json.loads(raw)
    except (OSError, ValueError):
        return None


def read_dataset_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """``_dataset.json`` of an embedding dataset (settings, weights, package version, parts, failures)."""
    p = Path(path) / INDEX_NAME
    if not p.is_file():
        raise DatasetError(f"{str(path)!r} is not a finished embedding dataset (no {INDEX_NAME}); run "
                           "`biomoe embed INPUTS -o it` (again) to finish it")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{p}: unreadable dataset metadata ({exc}); rerun `biomoe embed` to rewrite it") from exc


def dataset_parts(path: str | os.PathLike) -> list[Path]:
    """The part files of the dataset: those its ``_dataset.json`` lists (all ``part-*.parquet`` if none yet)."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"embedding dataset {str(path)!r} does not exist or is not a folder")
    if (root / INDEX_NAME).is_file():
        names = [p["file"] for p in read_dataset_metadata(root).get("parts", [])]
        return [root / n for n in names if (root / n).is_file()]
    return sorted(root.glob("part-*.parquet"))


def _as_list(values: Any) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, (str, int, np.integer)):
        values = [values]
    return [str(v) for v in values]


def read_embedding_dataset(
    path: str | os.PathLike,
    *,
    subjects: "str | Iterable[Any] | None" = None,
    kinds: "str | Iterable[str] | None" = None,
    modalities: "str | Iterable[str] | None" = None,
    sources: "str | Iterable[str] | None" = None,
    columns: Sequence[str] | None = None,
    as_numpy: bool = False,
) -> Any:
    """Read an embedding dataset, filtered by subject/kind/modality/source without loading the rest.

    Filters are pushed down to Arrow (:mod:`pyarrow.dataset`): only matching row groups are
    decoded. ``columns`` picks columns (default all). Returns a pandas DataFrame (``embedding``
    holds one float32 array per row), or with ``as_numpy=True`` a dict column -> NumPy array
    where ``embedding`` is ``(N, 192)`` float32. Rows come in part order, then window, then kind.

    Raises:
        DatasetError: not a dataset, or a filter on a column the dataset does not have.
    """
    pa = _pa()
    pds = require("pyarrow.dataset", "io", "Embedding datasets (Parquet)")
    pq = require("pyarrow.parquet", "io", "Embedding datasets (Parquet)")
    files = dataset_parts(path)
    if not files:
        raise DatasetError(f"embedding dataset {str(path)!r} has no part files")
    schema = pa.unify_schemas([pq.read_schema(str(f)).remove_metadata() for f in files])
    data = pds.dataset([str(f) for f in files], schema=schema, format="parquet")
    expr = None
    for col, vals in (("subject", subjects), ("kind", kinds), ("modality", modalities), ("source", sources)):
        vals = _as_list(vals)
        if vals is None:
            continue
        if col not in schema.names:
            raise DatasetError(f"{str(path)!r} has no {col!r} column to filter on; columns: {schema.names}")
        e = pds.field(col).isin(vals)
        expr = e if expr is None else expr & e
    cols = list(columns) if columns is not None else None
    if cols is not None:
        bad = [c for c in cols if c not in schema.names]
        if bad:
            raise DatasetError(f"{str(path)!r} has no column(s) {bad}; columns: {schema.names}")
    table = data.to_table(columns=cols, filter=expr)
    if not as_numpy:
        return table.to_pandas()
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        if name == "embedding":
            dim = schema.field("embedding").type.list_size
            out[name] = col.flatten().to_numpy().reshape(len(col), dim).astype(np.float32, copy=False)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out
