"""Embedding whole datasets: many recordings -> one Parquet dataset, resumable, on torchrun.

:func:`list_inputs` turns what the user gave (files, globs, folders searched recursively by the
readers' file types, a manifest CSV, a BIDS root) into :class:`InputRecording` s;
:func:`embed_dataset` embeds each into its own part file of the dataset
(:mod:`tiny_biomoe.embeddings_io`), conditioning long recordings in chunks of windows
(:func:`tiny_biomoe.signals.chunked.iter_condition`, equal to conditioning them whole) so that
memory does not grow with a recording's length.

* **Resumable, idempotent**: a part is skipped when it exists and records the same input content
  SHA-256 and settings SHA-256; ``force=True`` redoes it. A killed run loses only the recordings
  in flight (parts are written atomically; temporaries of dead writers are removed).
* **Failures**: a recording that cannot be read or embedded is recorded (path, reason) in the
  result, in ``_errors.csv`` and ``_dataset.json``; the others go on.
* **Scale-out**: under ``torchrun --nproc_per_node=N`` (any number of nodes) the recordings are
  sharded over the ranks (``torch.distributed``, gloo for the small exchanges; one GPU per rank
  where there are GPUs, ``cuda:LOCAL_RANK``); each rank writes its own parts and rank 0 writes
  the index after gathering every rank's results.

>>> res = embed_dataset(["study/"], "study.parquet", modality="eda", weights="Tiny-BioMoE.pth")  # doctest: +SKIP
>>> res.n_failed, res.n_windows  # doctest: +SKIP
(0, 5321)
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ._io import atomic_path, atomic_write_text, cleanup_stale
from .embeddings_io import ERRORS_NAME, FIXED_COLUMNS, INDEX_NAME, part_schema, part_table, read_part_info
from .errors import DatasetError, InputError, require

__all__ = ["InputRecording", "DatasetEmbedResult", "list_inputs", "embed_dataset", "settings_hash",
           "DATASET_FORMAT_VERSION", "MANIFEST_COLUMNS"]

_LOG = logging.getLogger("tiny_biomoe")
#: Version of the dataset layout (``_dataset.json`` + parts).
DATASET_FORMAT_VERSION = 1
#: Manifest columns that describe the recording (every other column is metadata carried into the rows).
MANIFEST_COLUMNS = {"file": ("file", "path"), "modality": ("modality",), "column": ("column", "channel"),
                    "rate": ("rate", "fs", "sampling_rate")}
_GLOB_CHARS = re.compile(r"[*?\[]")
#: never recordings in a folder scan; spreadsheets there are mostly a study's notes (participants.xlsx): a
#: sheet of samples is embedded when named as a file or a glob
_SKIP_SUFFIXES = {".dat", ".json", ".md", ".parquet", ".tmp", ".xlsx", ".xlsm", ".xls", ".ods"}


@dataclass(frozen=True)
class InputRecording:
    """One recording to embed.

    Attributes:
        path: the file (WFDB: the ``.hea``).
        name: its name in the dataset (``source`` column): the path relative to the folder,
            manifest or BIDS root it was found in, else the path as given.
        modality, column, sampling_rate: per-recording overrides (manifest, BIDS sidecar).
        metadata: strings carried into every row (manifest columns; BIDS subject/session/task/run).
    """

    path: Path
    name: str
    modality: str | None = None
    column: "str | int | None" = None
    sampling_rate: float | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identity of this input in the dataset (name + channel choice + modality)."""
        return f"{self.name}|{self.modality or ''}|{'' if self.column is None else self.column}"

    @property
    def part_name(self) -> str:
        """``part-<name>-<hash of key>.parquet`` (stable across runs and ranks)."""
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._")[:80] or "recording"
        return f"part-{slug}-{hashlib.sha1(self.key.encode()).hexdigest()[:12]}.parquet"


@dataclass
class DatasetEmbedResult:
    """What :func:`embed_dataset` did (for this run, over all ranks).

    Attributes:
        path: the dataset folder.
        recordings: inputs listed.
        embedded, skipped: recordings embedded now / already up to date.
        failures: ``[{"path", "reason"}]`` of the recordings that failed.
        n_windows: windows in the dataset (every listed recording that succeeded).
        seconds: wall time of the run.
        dry_run: nothing was done; ``plan`` says what would be.
        plan: ``[{"path", "action"}]`` with action ``embed``/``redo``/``skip`` (dry run only).
    """

    path: Path
    recordings: int = 0
    embedded: int = 0
    skipped: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    n_windows: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    plan: list[dict[str, str]] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return len(self.failures)

    def summary_table(self) -> str:
        """A small text table: recordings, embedded, skipped, failed, windows, time."""
        rows = [("recordings", self.recordings), ("embedded", self.embedded), ("skipped (up to date)", self.skipped),
                ("failed", self.n_failed), ("windows", self.n_windows), ("time", f"{self.seconds:.1f} s")]
        w = max(len(r[0]) for r in rows)
        lines = [f"{a:<{w}}  {b}" for a, b in rows]
        for f in self.failures:
            lines.append(f"failed: {f['path']}: {f['reason']}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- inputs
def _readable_suffixes() -> set[str]:
    from .signals.readers import SUPPORTED_SUFFIXES

    return {s for s in SUPPORTED_SUFFIXES if s not in _SKIP_SUFFIXES}


def _is_signal_file(p: Path, suffixes: set[str]) -> bool:
    if p.name.startswith((".", "_")) or not p.is_file():
        return False
    sfx = p.suffix.lower()
    if sfx in (".gz", ".bz2"):  # recording.csv.gz, sub-01_physio.tsv.gz
        return Path(p.stem).suffix.lower() in (".csv", ".tsv", ".txt")
    return sfx in suffixes and not (sfx == ".npz" and _is_embeddings_npz(p))


def _is_embeddings_npz(p: Path) -> bool:
    """Whether ``p`` is an embeddings file written by ``biomoe embed`` (its ``emb__<kind>`` arrays),
    e.g. ``rec.eda.embeddings.npz`` beside ``rec.csv``: an output, never a recording to embed again."""
    import zipfile

    from .embed import _PREFIX

    try:
        with zipfile.ZipFile(p) as z:
            return any(n.startswith(_PREFIX) for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _is_session_folder(folder: Path) -> bool:
    """Whether ``folder`` is one recording of several files: an Empatica E4 session (its sensor CSVs
    directly inside), an EmbracePlus participant's Avro files (inside, or in ``raw_data/v6``) or a
    Unisens folder (``unisens.xml`` and its data files)."""
    from .signals.embraceplus import is_embraceplus_folder
    from .signals.empatica import is_empatica_csv
    from .signals.unisens import is_unisens_folder

    return (any(is_empatica_csv(f) for f in folder.glob("*.csv")) or is_embraceplus_folder(folder)
            or is_unisens_folder(folder))


def _folder_files(root: Path) -> list[Path]:
    """Signal files under ``root``; a session folder (:func:`_is_session_folder`) is one recording, the folder itself."""
    if _is_session_folder(root):
        return [root]
    suffixes = _readable_suffixes()
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        kept = sorted(d for d in dirnames if not d.startswith((".", "_")) and not d.endswith(".parquet"))
        sessions = [d for d in kept if _is_session_folder(Path(dirpath) / d)]
        dirnames[:] = [d for d in kept if d not in sessions]
        segments = _wfdb_segment_headers(Path(dirpath), filenames)
        out += [Path(dirpath) / f for f in sorted(filenames)
                if f not in segments and _is_signal_file(Path(dirpath) / f, suffixes)]
        out += [Path(dirpath) / d for d in sessions]
    return sorted(out)


def _wfdb_segment_headers(folder: Path, filenames: Sequence[str]) -> set[str]:
    """Headers that are segments (or the layout) of a multi-segment WFDB record in ``folder``: the
    master header (first line ``<record>/<segments> ...``, as in MIMIC and other PhysioNet databases)
    is the recording; its segments are read through it, not listed again."""
    out: set[str] = set()
    for f in filenames:
        if not f.lower().endswith(".hea"):
            continue
        try:
            with open(folder / f, "r", encoding="latin-1") as fh:
                lines = [ln.strip() for ln in fh.read(1 << 16).splitlines()]
        except OSError:
            continue
        lines = [ln for ln in lines if ln and not ln.startswith("#")]
        if not lines or "/" not in lines[0].split()[0]:
            continue
        out |= {ln.split()[0] + ".hea" for ln in lines[1:] if ln.split()[0] != "~"}
    return out


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


_BIDS_ENTITIES = {"sub": "subject", "ses": "session", "task": "task", "run": "run", "acq": "acquisition",
                  "recording": "recording"}


def _bids_entities(name: str) -> dict[str, str]:
    out = {}
    for part in name.split(".")[0].split("_"):
        k, sep, v = part.partition("-")
        if sep and k in _BIDS_ENTITIES:
            out[_BIDS_ENTITIES[k]] = v
    return out


def _bids_inputs(root: Path) -> list[InputRecording]:
    """Recordings of a BIDS root (``sub-*`` physio files and other signal files; not events/channels
    tables): subject/session/task/run from the names; rate and channel names come from the sidecar
    JSON through the reader (:mod:`tiny_biomoe.signals.bids`)."""
    recs = []
    for p in _folder_files(root):
        low = p.name.lower()
        if not low.startswith("sub-"):
            continue
        if ".tsv" in low and not re.search(r"_(physio|stim)\.tsv(\.gz)?$", low):
            continue  # _events.tsv, _channels.tsv, _scans.tsv ...
        recs.append(InputRecording(p, _rel(p, root), metadata=_bids_entities(p.name)))
    if not recs:
        raise DatasetError(f"BIDS root {str(root)!r} has no sub-* recordings the readers know")
    return recs


def _manifest_inputs(path: Path) -> list[InputRecording]:
    """Rows of a manifest CSV: file (relative to the manifest), modality, column, rate + metadata columns."""
    pd = require("pandas", "io", "Manifests")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"manifest {str(path)!r} cannot be read ({exc})") from exc
    lower = {c.lower().strip(): c for c in df.columns}
    pick = {k: next((lower[a] for a in names if a in lower), None) for k, names in MANIFEST_COLUMNS.items()}
    if pick["file"] is None:
        raise DatasetError(f"manifest {str(path)!r} has no 'file' column (columns: {list(df.columns)}); "
                           "give one path per row, relative to the manifest")
    used = {c for c in pick.values() if c is not None}
    meta_cols = [c for c in df.columns if c not in used]
    clash = [c for c in meta_cols if c in (*FIXED_COLUMNS, "embedding")]
    if clash:
        raise DatasetError(f"manifest {str(path)!r}: metadata column(s) {clash} clash with the dataset's own "
                           "columns; rename them")
    recs = []
    for i, row in df.iterrows():
        f = Path(row[pick["file"]])
        f = f if f.is_absolute() else path.parent / f
        rate = row[pick["rate"]] if pick["rate"] else ""
        try:
            rate_v = float(rate) if str(rate).strip() else None
        except ValueError:
            raise DatasetError(f"manifest {str(path)!r} row {i + 2}: rate {rate!r} is not a number in Hz") from None
        col = (row[pick["column"]] or None) if pick["column"] else None
        mod = (row[pick["modality"]] or None) if pick["modality"] else None
        recs.append(InputRecording(f, _rel(f, path.parent), mod, col, rate_v, {c: str(row[c]) for c in meta_cols}))
    if not recs:
        raise DatasetError(f"manifest {str(path)!r} lists no recordings")
    return recs


def list_inputs(inputs: "str | os.PathLike | Sequence[str | os.PathLike]", *,
                manifest: "str | os.PathLike | None" = None) -> list[InputRecording]:
    """The recordings named by ``inputs`` (and/or a ``manifest`` CSV), in a stable order.

    Each input is a file, a glob (``"data/**/*.csv"``), a folder (searched recursively for the
    readers' file types; hidden and ``_`` names skipped) or a BIDS root (a folder with
    ``dataset_description.json``: subject/session/task/run parsed from the names, the sampling
    rate from a ``*_physio.json`` sidecar). The same file listed twice (also once relative, once
    absolute, or a folder given twice) is kept once (by resolved path, modality and channel).

    Names (the ``source`` column and the part's key) are relative to the folder found in. When
    different files get the same name from different roots (``studyA/rec.csv`` and
    ``studyB/rec.csv`` given as ``studyA studyB``), each of those gets its root folder's name in
    front (``studyA/rec.csv``, ``studyB/rec.csv``); names without a clash are unchanged. If that
    does not separate them (two roots with the same folder name), it is a :class:`DatasetError`
    naming both files.

    Raises:
        DatasetError: nothing found, a missing path, or a broken manifest.
    """
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    recs: list[tuple[InputRecording, Path | None]] = []  # (recording, the folder/BIDS/manifest root it was found in)
    if manifest is not None:
        mp = Path(manifest)
        if not mp.is_file():
            raise DatasetError(f"manifest {str(manifest)!r} does not exist")
        recs += [(r, mp.parent) for r in _manifest_inputs(mp)]
    for item in items:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            if (p / "dataset_description.json").is_file():
                recs += [(r, p) for r in _bids_inputs(p)]
            else:
                found = _folder_files(p)
                if not found:
                    raise DatasetError(f"folder {s!r} holds no recordings of a known type "
                                       f"({', '.join(sorted(_readable_suffixes()))})")
                recs += [(InputRecording(f, _rel(f, p) if f != p else p.name), p) for f in found]
        elif p.exists() or p.with_suffix(".hea").exists():
            recs.append((InputRecording(p, p.as_posix()), None))
        elif _GLOB_CHARS.search(s):
            suffixes = _readable_suffixes()
            found = [Path(f) for f in sorted(glob.glob(s, recursive=True)) if _is_signal_file(Path(f), suffixes)]
            if not found:
                raise DatasetError(f"the pattern {s!r} matches no recordings")
            recs += [(InputRecording(f, f.as_posix()), None) for f in found]
        else:
            raise DatasetError(f"input {s!r} does not exist (give files, folders, globs or --manifest)")
    unique = _unique_names(_dedupe(recs))
    if not unique:
        raise DatasetError("no recordings to embed")
    return unique


def _resolved(p: Path) -> str:
    try:
        return str(p.resolve())
    except OSError:
        return str(p.absolute())


def _dedupe(recs: list[tuple[InputRecording, "Path | None"]]) -> list[tuple[InputRecording, "Path | None"]]:
    """Keep the first of recordings that are the same file (resolved path) with the same modality and channel."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for r, root in recs:
        ident = (_resolved(r.path), r.modality or "", "" if r.column is None else str(r.column))
        if ident not in seen:
            seen.add(ident)
            out.append((r, root))
    return out


def _unique_names(recs: list[tuple[InputRecording, "Path | None"]]) -> list[InputRecording]:
    """Make ``source`` names unique: different files that share a relative name (``a/rec.csv`` and
    ``b/rec.csv`` given as folders ``a`` and ``b``) get their root's name in front (``a/rec.csv``);
    a clash that remains (two roots of the same name) is a :class:`DatasetError`."""
    def clashes(named: list[InputRecording]) -> dict[str, set[str]]:
        by_name: dict[str, set[str]] = {}
        for r in named:
            by_name.setdefault(r.name, set()).add(_resolved(r.path))
        return {n: ps for n, ps in by_name.items() if len(ps) > 1}

    first = clashes([r for r, _ in recs])
    if not first:
        return [r for r, _ in recs]
    named = []
    for r, root in recs:
        if r.name in first and root is not None:
            prefix = Path(_resolved(root)).name
            r = replace(r, name=f"{prefix}/{r.name}")
        named.append(r)
    left = clashes(named)
    if left:
        name, paths = sorted(left.items())[0]
        raise DatasetError(f"different files get the same name {name!r} in the dataset: {sorted(paths)}; give "
                           "their folders distinct names, or list them in a manifest with distinct relative paths")
    return named


# ----------------------------------------------------------------------------- hashing
def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    files = [path]
    if path.is_dir():  # an E4 session folder: its CSVs, by name and content
        files = sorted(path.glob("*.csv"))
        for f in files:
            h.update(f.name.encode() + b"\0")
    elif path.suffix.lower() == ".hea":  # a WFDB record is the header plus its signal file(s)
        files += sorted(path.parent.glob(path.stem + ".dat"))
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def settings_hash(settings: Mapping[str, Any]) -> str:
    """SHA-256 of the settings that change the embeddings (JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def _weights_identity(info: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a weights record that identifies the tensors (not where the file lies)."""
    keep = ("kind", "sha256", "tensors_sha256", "seed", "init")
    return {k: info.get(k) for k in keep if info.get(k) is not None}


# ----------------------------------------------------------------------------- distributed
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owned: bool = False  # we initialised the process group (and tear it down)

    def gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owned:
            import torch.distributed as dist

            dist.destroy_process_group()


def _distributed() -> _Dist:
    """Rank and world size from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    owned = False
    if not dist.is_initialized():  # gloo: only small Python objects are exchanged (works with or without GPUs)
        dist.init_process_group(backend="gloo")
        owned = True
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0") or 0), owned)


def _rank_device(device: Any, d: _Dist) -> Any:
    """One GPU per rank where there are GPUs (``cuda:LOCAL_RANK``), else the given device."""
    import torch

    if d.world > 1 and device in (None, "auto", "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        return f"cuda:{d.local_rank % n}"
    return device


# ----------------------------------------------------------------------------- one recording
def _embed_one(rec: InputRecording, part: Path, *, part_meta: dict[str, Any], meta_keys: list[str], model: Any,
               modality: str, kinds: list[str], kind_params: dict, time_column: Any, window: float | None,
               stride: float | None, preprocess: bool, resample: Any, max_missing: float, max_windows: int | None,
               chunk_windows: int, batch_size: int, backend: str | None, precision: str | None,
               on_windows: Callable[[int], None]) -> int:
    """Read, condition (in chunks), embed and write one recording's part atomically; return its windows."""
    pq = require("pyarrow.parquet", "io", "Embedding datasets (Parquet)")
    from .embed import embed_windows
    from .signals.chunked import iter_condition
    from .signals.modalities import get_modality
    from .signals.readers import read_signal

    m = get_modality(modality)
    col = rec.column
    if isinstance(col, str) and col.strip().lstrip("-").isdigit():
        col = int(col)
    r = read_signal(rec.path, columns=None if col is None else [col], sampling_rate=rec.sampling_rate,
                    time_column=time_column)
    channel, samples, fs = r.pick(col, m.name)
    del r
    dim = int(part_meta["embed_dim"])
    schema = part_schema(meta_keys, dim, part_meta)
    n = 0
    with atomic_path(part) as tmp:
        writer = pq.ParquetWriter(str(tmp), schema)
        try:
            for chunk in iter_condition(samples, fs, m, chunk_windows=chunk_windows, window_s=window, stride_s=stride,
                                        resample=resample, preprocess=preprocess, max_missing=max_missing,
                                        max_windows=max_windows):
                if not len(chunk):
                    continue
                emb = embed_windows(chunk.data, sampling_rate=chunk.sampling_rate, modality=m, kinds=kinds,
                                    model=model, batch_size=batch_size, device="auto", progress=False,
                                    kind_params=kind_params, backend=backend, precision=precision)
                writer.write_table(part_table(schema, source=rec.name, channel=str(channel), modality=m.name, window0=n,
                                              starts=chunk.starts, window_s=chunk.window_s, embeddings=emb,
                                              metadata=dict(rec.metadata)))
                n += len(chunk)
                on_windows(len(chunk))
        finally:
            writer.close()
    return n


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


# ----------------------------------------------------------------------------- the dataset
def embed_dataset(
    inputs: "str | os.PathLike | Sequence[Any]",
    output: str | os.PathLike,
    *,
    modality: str | None = None,
    manifest: "str | os.PathLike | None" = None,
    kinds: "str | Sequence[str]" = ("waveform", "spectrogram_psd"),
    weights: Any = "tiny-biomoe",
    column: "str | int | None" = None,
    sampling_rate: float | None = None,
    time_column: "str | int | None" = None,
    window: float | None = None,
    stride: float | None = None,
    preprocess: bool = True,
    resample: "str | float | None" = "model",
    max_missing: float = 0.5,
    max_windows: int | None = None,
    kind_params: Mapping[str, Mapping[str, Any]] | None = None,
    chunk_windows: int = 512,
    batch_size: int = 32,
    device: Any = "auto",
    backend: str | None = None,
    precision: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    progress: bool = False,
) -> DatasetEmbedResult:
    """Embed every recording of ``inputs`` into the Parquet dataset folder ``output``.

    Args:
        inputs: files, globs, folders, a BIDS root (see :func:`list_inputs`).
        output: the dataset folder (e.g. ``study.parquet``); an existing one is resumed.
        modality: the modality of recordings that do not name their own (manifest column).
        manifest: a CSV with ``file``, ``modality``, ``column``, ``rate`` and metadata columns.
        kinds: as :func:`tiny_biomoe.embed.embed_signal`.
        weights: as :func:`tiny_biomoe.embed.embed_signal`.
        window: as :func:`tiny_biomoe.embed.embed_signal`.
        stride: as :func:`tiny_biomoe.embed.embed_signal`.
        preprocess: as :func:`tiny_biomoe.embed.embed_signal`.
        kind_params: as :func:`tiny_biomoe.embed.embed_signal`.
        batch_size: as :func:`tiny_biomoe.embed.embed_signal`.
        device: as :func:`tiny_biomoe.embed.embed_signal`.
        backend: as :func:`tiny_biomoe.embed.embed_signal`.
        precision: as :func:`tiny_biomoe.embed.embed_signal`.
        column: the channel of recordings that do not name their own.
        sampling_rate: the rate of recordings that do not state their own.
        time_column: the time column of recordings that do not name their own.
        resample: conditioning rate (``"model"``: the modality's model rate, ``"native"``, or Hz).
        chunk_windows: windows conditioned and embedded at a time (bounds memory; not a setting:
            chunked equals whole).
        force: redo recordings whose part is up to date.
        dry_run: list what would be done (``result.plan``) and do nothing.
        progress: a progress bar over recordings with windows/s.

    Returns:
        A :class:`DatasetEmbedResult`; ``failures`` lists the recordings that failed (the others
        are in the dataset). Under ``torchrun`` every rank returns the same totals.

    Raises:
        DatasetError / InputError: nothing to embed, a missing modality, an output that is a file.
    """
    from ._version import __version__
    from .representations.base import kind_list, render_info
    from .signals.modalities import get_modality

    t0 = time.perf_counter()
    if isinstance(chunk_windows, bool) or int(chunk_windows) < 1:
        raise InputError(f"chunk_windows must be a whole number >= 1, got {chunk_windows!r}")
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise InputError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {str(out)!r} is a file; an embedding dataset is a folder (e.g. study.parquet)")
    recs = list_inputs(inputs if inputs else [], manifest=manifest) if (inputs or manifest) else []
    if not recs:
        raise DatasetError("no recordings to embed; give files, folders, globs or --manifest")
    recs = [InputRecording(r.path, r.name, r.modality or modality, r.column if r.column is not None else column,
                           r.sampling_rate if r.sampling_rate is not None else sampling_rate, r.metadata) for r in recs]
    missing = [r.name for r in recs if not r.modality]
    if missing:
        raise InputError(f"no modality for {missing[:3]}{' ...' if len(missing) > 3 else ''}; pass --modality or a "
                         "manifest 'modality' column")
    for mod in sorted({r.modality for r in recs}):
        get_modality(mod)  # unknown names fail before any work
    kinds = kind_list(kinds)
    kind_params = {k: dict(v) for k, v in dict(kind_params or {}).items()}
    meta_keys = sorted({k for r in recs for k in r.metadata})
    clash = [k for k in meta_keys if k in (*FIXED_COLUMNS, "embedding")]
    if clash:
        raise DatasetError(f"metadata column(s) {clash} clash with the dataset's own columns; rename them")

    d = _distributed()
    try:
        from .model.runtime import load_model_cached

        net, info = load_model_cached(weights, device=_rank_device(device, d))
        winfo = info.as_dict()
        settings = {"format_version": DATASET_FORMAT_VERSION, "kinds": kinds, "kind_params": kind_params,
                    "kind_versions": {k: render_info(k, 100.0, 1000, "eda", **kind_params.get(k, {})).get("version")
                                      for k in kinds},
                    "window_s": window, "stride_s": stride, "preprocess": bool(preprocess), "resample": resample,
                    "max_missing": float(max_missing), "max_windows": max_windows, "time_column": time_column,
                    "weights": _weights_identity(winfo), "backend": backend, "precision": precision,
                    "conditioning": _conditioning_version()}
        s_hash = settings_hash(settings)
        mine = recs[d.rank :: d.world]
        local = _run_rank(mine, out, d, net=net, s_hash=s_hash, settings=settings, meta_keys=meta_keys,
                          kinds=kinds, kind_params=kind_params, time_column=time_column, window=window, stride=stride,
                          preprocess=preprocess, resample=resample, max_missing=max_missing, max_windows=max_windows,
                          chunk_windows=chunk_windows, batch_size=batch_size, backend=backend, precision=precision,
                          force=force, dry_run=dry_run, progress=progress, version=__version__)
        everyone = d.gather(local)
        by_key = {e["key"]: e for rank_entries in everyone for e in rank_entries}
        entries = [by_key[r.key] for r in recs]  # listing order, whatever the sharding
        res = DatasetEmbedResult(out, recordings=len(recs), dry_run=dry_run)
        for e in entries:
            if dry_run:
                res.plan.append({"path": e["source"], "action": e["action"]})
            elif e["status"] == "failed":
                res.failures.append({"path": str(e["path"]), "reason": e["reason"]})
            else:
                res.embedded += e["status"] == "embedded"
                res.skipped += e["status"] == "skipped"
                res.n_windows += int(e["n_windows"])
        res.seconds = time.perf_counter() - t0
        if d.rank == 0 and not dry_run:
            _write_index(out, recs, entries, settings, s_hash, winfo, __version__, res)
        d.barrier()  # every rank returns once the index is in place
        return res
    finally:
        d.close()


def _conditioning_version() -> Any:
    from .signals.conditioning import CONDITIONING

    return dict(CONDITIONING)


def _run_rank(mine: list[InputRecording], out: Path, d: _Dist, *, net: Any, s_hash: str, settings: dict,
              meta_keys: list[str], force: bool, dry_run: bool, progress: bool, version: str, chunk_windows: int,
              **kw: Any) -> list[dict[str, Any]]:
    """Embed this rank's recordings; return one entry per recording (status, windows, reason)."""
    from tqdm.auto import tqdm

    if not dry_run:
        out.mkdir(parents=True, exist_ok=True)
        cleanup_stale(out)  # temporaries of killed runs
    entries: list[dict[str, Any]] = []
    desc = "embedding" if d.world == 1 else f"embedding (rank {d.rank}/{d.world})"
    bar = tqdm(total=len(mine), disable=not progress or dry_run, desc=desc, unit="rec", leave=False)
    t_start, n_win = time.perf_counter(), 0

    def on_windows(k: int) -> None:
        nonlocal n_win
        n_win += k
        bar.set_postfix_str(f"{n_win / max(time.perf_counter() - t_start, 1e-9):.1f} windows/s", refresh=True)

    embed_dim = 192
    try:
        for rec in mine:
            part = out / rec.part_name
            e: dict[str, Any] = {"key": rec.key, "source": rec.name, "path": str(rec.path), "file": rec.part_name}
            try:
                h = _file_sha256(rec.path if rec.path.exists() else rec.path.with_suffix(".hea"))
            except OSError as exc:
                e.update(status="failed", reason=_reason(exc), action="embed (will fail: unreadable)", n_windows=0)
                entries.append(e)
                bar.update(1)
                continue
            info = read_part_info(part) if part.is_file() else None
            r_hash = settings_hash({"settings": s_hash, "modality": rec.modality, "column": rec.column,
                                    "sampling_rate": rec.sampling_rate, "metadata": dict(rec.metadata),
                                    "columns": meta_keys})
            up_to_date = (info is not None and info.get("input_sha256") == h and info.get("settings_sha256") == r_hash
                          and info.get("complete") is True)
            e["input_sha256"] = h
            if dry_run:
                e["action"] = "skip" if up_to_date and not force else ("redo" if part.is_file() else "embed")
                entries.append(e)
                continue
            if up_to_date and not force:
                e.update(status="skipped", n_windows=int(info.get("n_windows", 0)))
                if "n_windows" not in info:
                    e["n_windows"] = _count_windows(part)
                entries.append(e)
                bar.update(1)
                continue
            part_meta = {"input_sha256": h, "settings_sha256": r_hash, "dataset_settings_sha256": s_hash, "source": rec.name, "path": str(rec.path),
                         "modality": rec.modality, "column": rec.column, "sampling_rate": rec.sampling_rate,
                         "metadata": dict(rec.metadata), "package_version": version, "embed_dim": embed_dim,
                         "complete": True}
            try:
                n = _embed_one(rec, part, part_meta=part_meta, meta_keys=meta_keys, model=net, modality=rec.modality,
                               chunk_windows=chunk_windows, on_windows=on_windows, **kw)
                e.update(status="embedded", n_windows=n)
            except Exception as exc:  # one broken recording must not stop the others; it is reported
                _LOG.warning("failed: %s: %s", rec.path, _reason(exc))
                if part.is_file():  # an out-of-date part of a recording that now fails is not kept
                    part.unlink()
                e.update(status="failed", reason=_reason(exc), n_windows=0)
            entries.append(e)
            bar.update(1)
    finally:
        bar.close()
    return entries


def _count_windows(part: Path) -> int:
    pq = require("pyarrow.parquet", "io", "Embedding datasets (Parquet)")
    t = pq.read_table(str(part), columns=["window"])
    return len(set(t.column("window").to_pylist()))


def _write_index(out: Path, recs: list[InputRecording], entries: list[dict[str, Any]], settings: dict, s_hash: str,
                 winfo: dict, version: str, res: DatasetEmbedResult) -> None:
    """Rank 0: ``_errors.csv`` then ``_dataset.json`` (the index), both atomically."""
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "reason"])
    for f in res.failures:
        w.writerow([f["path"], f["reason"]])
    atomic_write_text(out / ERRORS_NAME, buf.getvalue())
    listed = {e["file"] for e in entries}
    stale = sorted(p.name for p in out.glob("part-*.parquet") if p.name not in listed)
    if stale:
        _LOG.info("%d part file(s) in %s belong to recordings not listed in this run; left out of the index", len(stale), out)
    parts = [{"file": e["file"], "source": e["source"], "path": e["path"], "input_sha256": e.get("input_sha256"),
              "n_windows": int(e["n_windows"])} for e in entries if e["status"] != "failed"]
    index = {"format_version": DATASET_FORMAT_VERSION, "package_version": version, "settings": settings,
             "settings_sha256": s_hash, "weights": winfo, "embedding": {"column": "embedding", "dtype": "float32",
                                                                         "layout": "fixed_size_list", "dim": 192},
             "row": "one per window and kind", "recordings": len(recs), "n_windows": res.n_windows,
             "parts": parts, "failures": res.failures, "errors_file": ERRORS_NAME}
    atomic_write_text(out / INDEX_NAME, json.dumps(index, indent=2, sort_keys=True, default=str) + "\n")


def _asdict(res: DatasetEmbedResult) -> dict[str, Any]:
    d = asdict(res)
    d["path"] = str(res.path)
    d["failed"] = res.n_failed
    return d
