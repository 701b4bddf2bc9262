"""The ``biomoe`` command line: a thin layer over the Python API.

Every sub-command parses its arguments, calls one public function of the package and prints
where its outputs went. Errors caused by user input (:class:`~tiny_biomoe.errors.TinyBioMoEError`)
are printed as one clear message and give exit code 2; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from ._allocator import use_heap_allocator
from .errors import OutputError, TinyBioMoEError


def _add_weights_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--weights",
        default="tiny-biomoe",
        help="checkpoint: a .pth (official layout) or .safetensors path, or 'tiny-biomoe' "
        "to resolve the official weights (TINY_BIOMOE_WEIGHTS, cache, download)",
    )


def _add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="'auto' (CUDA if available, else CPU), 'cpu', 'cuda', 'cuda:1', ...")


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    """--backend / --precision: the model's inference form (tiny_biomoe.model.runtime)."""
    p.add_argument("--backend", choices=["torch", "onnx"], default=None,
                   help="inference backend: torch (the fast form of the model) or onnx (ONNX Runtime, exported once "
                   "per weights into the cache; needs tiny-biomoe[export]) (default: $TINY_BIOMOE_BACKEND, else torch)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None,
                   help="fp32, bf16 (CPUs with AVX-512 BF16/AMX, or CUDA; its error vs fp32 goes into the metadata) "
                   "or fp16 (CUDA only) (default: $TINY_BIOMOE_PRECISION, else fp32)")


def _thread_policy() -> None:
    """Decide how idle OpenMP threads wait, before torch (and its OpenMP runtime) is loaded.

    ``OMP_WAIT_POLICY=PASSIVE``: idle threads sleep instead of spinning. On an idle machine this
    costs a few % (each parallel region wakes its threads); on a machine that other processes
    share, spinning threads take the cores the others need and commands became 5-20x slower
    (docs/performance.md). Set ``OMP_WAIT_POLICY`` yourself (e.g. ``ACTIVE``) to override.
    """
    import os

    if "torch" not in sys.modules:  # once torch is loaded, the OpenMP runtime has read its settings
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


#: set by :func:`main` when it runs as the process's entry point (it read ``sys.argv``)
_ENTRY_POINT = False


def _settle() -> None:
    """Move every object alive now (modules, classes, functions: the imports) out of the garbage
    collector's view (:func:`gc.freeze`), when ``main`` is the process's entry point.

    torch, scikit-learn, NeuroKit2 and matplotlib bring ~320 000 objects that live until the process
    ends; each full collection walked them again (1.2 s of ``biomoe demo``), and so did the final
    collections at exit (~1 s). Called after the command's imports and before exit; objects made
    later are collected as usual. A process-wide choice: never made when ``main([...])`` is called
    from Python (a notebook, the tests), where frozen objects would never be collected.
    """
    if _ENTRY_POINT:
        import gc

        gc.freeze()


def _run_with_runtime(args: argparse.Namespace) -> int:
    """Run the command with --backend/--precision as the defaults of every embedding it makes (restored
    afterwards); with -v, log the time per stage (read, condition, render, model, write)."""
    import contextlib

    settings: Any = contextlib.nullcontext()
    if getattr(args, "backend", None) is not None or getattr(args, "precision", None) is not None:
        from .model.runtime import inference_settings

        settings = inference_settings(backend=args.backend, precision=args.precision)
    _settle()
    with settings:
        if not getattr(args, "verbose", 0):
            return int(args.func(args) or 0)
        import time

        from ._timing import format_stage_times, reset_stage_times

        reset_stage_times()
        t0 = time.perf_counter()
        code = int(args.func(args) or 0)
        _LOG.info(format_stage_times(time.perf_counter() - t0))
        return code


# ----------------------------------------------------------------------------- info (model)
def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="version, parameter count, device and where weights are looked for")
    _add_device_arg(p)
    p.set_defaults(func=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from .info import info_text

    print(info_text(device=args.device))
    return 0


# ----------------------------------------------------------------------------- render / embed (signals)
def _kinds_arg(values: Sequence[str] | None) -> list[str] | None:
    """Accept ``--kinds a b`` and ``--kinds a,b``."""
    if values is None:
        return None
    kinds = [k.strip() for v in values for k in v.split(",") if k.strip()]
    if not kinds:
        from .errors import InputError

        raise InputError(f"--kinds {' '.join(values)!r} names no representation kind; e.g. --kinds waveform psd")
    return kinds


def _add_signal_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="signal file: .csv/.tsv/.txt (.gz/.bz2), .npy/.npz, .edf/.bdf, WFDB record (.hea), "
                   "OpenSignals .txt/.h5, Empatica E4 folder/.zip, BIDS _physio.tsv.gz, .xdf, .acq, .fif")
    p.add_argument("--modality", required=True, help="eda (gsr), bvp (ppg), resp, spo2, ecg, emg, eeg")
    p.add_argument("--column", default=None, help="channel/column name or 0-based index (default: the only one, "
                   "or the one named like the modality)")
    p.add_argument("--fs", "--sampling-rate", dest="fs", type=float, default=None, help="sampling rate in Hz (default: "
                   "from a time column or the file header)")
    p.add_argument("--time-column", default=None, help="name or index of the time column (default: auto-detect "
                   "time/timestamp/sec/time_ms...; 'none': use --fs instead)")
    p.add_argument("--time-unit", default="auto", choices=["auto", "s", "ms", "us", "ns", "clock", "datetime"],
                   help="unit of the time column when its name and values do not tell (default: auto)")
    p.add_argument("--kinds", nargs="+", default=None, help="representation kinds (default: waveform "
                   "spectrogram_psd); known: waveform, spectrogram_psd, spectrogram_angle, "
                   "spectrogram_phase, psd, multi")
    p.add_argument("--window", "--window-s", dest="window", type=float, default=None,
                   help="window length in s (default: the modality's)")
    p.add_argument("--stride", type=float, default=None, help="stride in s (default: the window, no overlap)")
    p.add_argument("--no-preprocess", action="store_true", help="skip the modality's default filter")
    p.add_argument("--resample", type=_resample_arg, default="model", metavar="HZ|model|native",
                   help="rate the recording is resampled to after filtering (scipy resample_poly): 'model' (default: "
                   "the modality's model rate, 100 Hz for EDA/BVP/RESP/SpO2, 250 Hz ECG/EEG, 1000 Hz EMG), 'native' "
                   "(keep the recording's rate) or Hz")
    p.add_argument("--max-missing", type=float, default=0.5, help="drop windows more than this fraction missing "
                   "(default 0.5)")


def _resample_arg(value: str) -> "str | float":
    """``--resample``: ``model``, ``native`` or a rate in Hz."""
    v = value.strip().lower()
    if v in ("model", "native"):
        return v
    try:
        return float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'model', 'native' or a rate in Hz, got {value!r}") from None


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render signal windows to PNG previews (one folder per kind + a sheet)")
    _add_signal_args(p)
    p.add_argument("--max-windows", type=int, default=16, help="render at most N windows (default 16)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(func=_run_render)


def _run_render(args: argparse.Namespace) -> int:
    from .previews import render_file

    paths = render_file(
        args.input, args.modality, args.output, sampling_rate=args.fs, column=args.column,
        time_column=args.time_column, time_unit=args.time_unit, kinds=_kinds_arg(args.kinds) or ("waveform", "spectrogram_psd"),
        window=args.window, stride=args.stride, preprocess=not args.no_preprocess, max_windows=args.max_windows,
        resample=args.resample, max_missing=args.max_missing,
    )
    sheets = [str(p) for p in paths if p.name.endswith("_sheet.png")]
    pngs = [p for p in paths if p.suffix == ".png"]
    settings = json.loads((Path(args.output) / "previews.json").read_text())["settings"]
    shown, total = settings["windows_rendered"], settings["windows_in_recording"]
    of = f"the first {shown} of {total} windows (--max-windows to change)" if shown < total else f"all {total} windows"
    print(f"wrote {len(pngs)} PNG files of {of} and previews.json to {args.output} (contact sheets: {', '.join(sheets)})")
    return 0


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embed signal windows with Tiny-BioMoE: one file -> .npz/.parquet, many "
                       "recordings (files, globs, folders, a manifest, a BIDS root) -> a Parquet dataset folder",
                       epilog="Exit code 3: some recordings of a dataset failed (path and reason in the summary and in "
                       "<output>/_errors.csv); the others were embedded. Under torchrun --nproc_per_node=N the "
                       "recordings are shared out over the processes (docs/embeddings.md).")
    _add_signal_args(p)
    for a in p._actions:  # embed takes many inputs
        if a.dest == "input":
            a.nargs = "*"
            a.metavar = "INPUT"
            a.help = ("signal file(s), glob(s), folder(s) (searched recursively) or a BIDS root; one file keeps the "
                      "single-file output, anything else writes a Parquet dataset folder (-o study.parquet)")
        elif a.dest == "modality":
            a.help = "eda (gsr), bvp (ppg), resp, spo2, ecg, emg, eeg (a manifest's modality column overrides it)"
    p.add_argument("--manifest", default=None, metavar="CSV", help="CSV of recordings: file (relative to the CSV), "
                   "modality, column, rate, and metadata columns (e.g. subject, session) carried into the dataset")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    p.add_argument("--max-windows", type=int, default=None, help="embed only the first N windows (of each recording)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--chunk-windows", type=int, default=512, metavar="N",
                   help="dataset: windows conditioned and embedded at a time (bounds memory; results do not change)")
    p.add_argument("--dry-run", action="store_true", help="dataset: list what would be embedded, skipped or redone")
    _add_weights_arg(p)
    _add_device_arg(p)
    _add_runtime_args(p)
    p.add_argument("-o", "--output", default=None, help="output .npz or .parquet for one file (default: "
                   "<input>.<modality>.embeddings.npz beside it, e.g. rec.eda.embeddings.npz); the dataset folder "
                   "(e.g. study.parquet) for many, resumed when it exists (--force redoes every recording)")
    p.set_defaults(func=_run_embed)


def _embed_dataset_mode(args: argparse.Namespace) -> bool:
    """``biomoe embed`` writes a dataset for anything but one recording (and no manifest).

    One recording is one path that is not a folder (a file, also a FIFO or device, which the reader
    refuses), an Empatica E4 session or EmbracePlus folder, or a missing path without glob characters (the reader
    names it)."""
    from pathlib import Path

    inputs = list(args.input or [])
    if getattr(args, "manifest", None) or len(inputs) != 1:
        return True
    one = Path(inputs[0])
    if one.is_dir():
        from .dataset_embed import _is_session_folder

        return not _is_session_folder(one)
    return one.exists() is False and any(c in inputs[0] for c in "*?[")


def _run_embed(args: argparse.Namespace) -> int:
    if _embed_dataset_mode(args):
        return _run_embed_dataset(args)
    from .embed import embed_file

    _settle()

    res, path = embed_file(
        args.input[0], modality=args.modality, output=args.output, sampling_rate=args.fs, column=args.column,
        time_column=args.time_column, time_unit=args.time_unit, kinds=_kinds_arg(args.kinds) or ("waveform", "spectrogram_psd"),
        weights=args.weights, window=args.window, stride=args.stride, batch_size=args.batch_size,
        device=args.device, preprocess=not args.no_preprocess, max_windows=args.max_windows,
        progress=_progress(args), resample=args.resample, max_missing=args.max_missing,
    )
    q = (res.metadata.get("quality") or {}).get("counts")
    qtext = (f"; quality: {q['flagged']} of {q['windows']} windows flagged (flat-line {q['flatline']}, clipped "
             f"{q['clipped']}, low SQI {q['low_sqi']})" if q else "")
    _emit(args, f"wrote {len(res)} windows x {len(res.kinds)} kinds ({', '.join(res.kinds)}) of "
          f"{res.metadata['embed_dim']}-D embeddings at {res.metadata.get('sampling_rate'):g} Hz to {path}{qtext}",
          {"output": str(path), "windows": len(res), "kinds": list(res.kinds), "embed_dim": res.metadata["embed_dim"],
           "starts_s": [float(x) for x in res.starts], "sampling_rate": res.metadata.get("sampling_rate"),
           "quality": q})
    return 0


#: exit code of ``biomoe embed`` when some recordings of a dataset failed (the others were embedded)
EXIT_SOME_FAILED = 3


def _run_embed_dataset(args: argparse.Namespace) -> int:
    import os

    from .dataset_embed import embed_dataset
    from .errors import InputError

    _settle()

    if not args.output:
        raise InputError("embedding many recordings writes a dataset folder: give -o/--output, e.g. -o study.parquet")
    if args.time_unit not in (None, "auto"):
        raise InputError("--time-unit is only for one file; the readers detect it for each recording of a dataset")
    res = embed_dataset(
        list(args.input or []), args.output, modality=args.modality, manifest=args.manifest,
        kinds=_kinds_arg(args.kinds) or ("waveform", "spectrogram_psd"), weights=args.weights, column=args.column,
        sampling_rate=args.fs, time_column=args.time_column, window=args.window, stride=args.stride,
        preprocess=not args.no_preprocess, resample="model" if args.resample is None else args.resample,
        max_windows=args.max_windows, chunk_windows=args.chunk_windows, batch_size=args.batch_size,
        device=args.device, backend=args.backend, precision=args.precision, force=bool(getattr(args, "force", False)),
        dry_run=args.dry_run, progress=_progress(args),
    )
    if res.dry_run:
        text = "\n".join(f"{p['action']:<5}  {p['path']}" for p in res.plan)
        counts = {a: sum(p["action"] == a for p in res.plan) for a in ("embed", "redo", "skip")}
        text += f"\ndry run: {counts['embed']} to embed, {counts['redo']} to redo, {counts['skip']} up to date"
    else:
        text = f"{res.summary_table()}\ndataset: {res.path}"
    from .dataset_embed import _asdict

    if int(os.environ.get("RANK", "0") or 0) == 0:  # under torchrun every rank has the totals; rank 0 prints them
        _emit(args, text, _asdict(res))
    return EXIT_SOME_FAILED if res.n_failed else 0


# ----------------------------------------------------------------------------- inspect (what a file holds)
def _add_inspect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="what a recording file holds: format, channels, sensors, units, rate and its "
                       "source, duration, NaN share, and the channel each --modality would take")
    p.add_argument("input", nargs="+", help="recording files, E4/EmbracePlus session folders, or a dataset folder "
                   "(one line per recording found in it, as `biomoe embed` finds them)")
    p.add_argument("--fs", "--sampling-rate", dest="fs", type=float, default=None,
                   help="sampling rate in Hz if the file states none (default: from the file)")
    p.add_argument("--time-column", default=None, help="name or index of the time column (default: auto-detect; 'none': no time column)")
    p.add_argument("--time-unit", default="auto", choices=["auto", "s", "ms", "us", "ns", "clock", "datetime"],
                   help="unit of the time column (default: auto)")
    p.add_argument("--raw", action="store_true", help="keep raw ADC values (PLUX files; default: converted to physical units)")
    p.set_defaults(func=_run_inspect)


def _inspect_inputs(inputs: Sequence[str]) -> tuple[list[tuple[str, str]], bool]:
    """The recordings to inspect as ``(path, name shown)``, and whether a dataset folder was among the inputs:
    its recordings are those :func:`~tiny_biomoe.dataset_embed.list_inputs` finds for `biomoe embed`, named
    relative to the folder when it is the only input; an E4, EmbracePlus or Unisens session folder is one recording."""
    from .dataset_embed import _is_session_folder, list_inputs

    out, folders = [], False
    for f in inputs:
        if Path(f).is_dir() and not _is_session_folder(Path(f)):
            out += [(str(r.path), r.name if len(inputs) == 1 else str(r.path)) for r in list_inputs([f])]
            folders = True
        else:
            out.append((f, f))
    return out, folders


def _run_inspect(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .signals.inspection import format_inspection, format_inspection_table, inspect

    def one(f: str) -> dict:
        return inspect(f, sampling_rate=args.fs, time_column=args.time_column, time_unit=args.time_unit,
                       convert=not args.raw)

    found, folders = _inspect_inputs(args.input)
    files = [f for f, _ in found]
    if len(files) == 1 and not folders:
        rep = one(files[0])  # its error is the command's
        _emit(args, format_inspection(rep), rep)
        return 0
    reps, texts, failed = [], [], 0
    bar = tqdm(files, desc="inspecting", unit="file", leave=False, disable=not _progress(args) or len(files) < 5)
    for f in bar:  # one unreadable file is reported, and the others still are
        try:
            rep = one(f)
            texts.append(format_inspection(rep))
        except (TinyBioMoEError, OSError) as exc:
            rep = {"path": f, "error": str(exc)}
            texts.append(f"file:      {f}\nerror:     {exc}")
            print(f"biomoe inspect: error: {exc}", file=sys.stderr)
            failed += 1
        reps.append(rep)
    _emit(args, format_inspection_table(reps, [name for _, name in found]) if folders else "\n\n".join(texts), reps)
    if failed:
        print(f"biomoe inspect: {failed} of {len(reps)} files could not be read", file=sys.stderr)
    return 2 if failed else 0


# ----------------------------------------------------------------------------- pretrain / prepare-shards (pretraining)
def _add_pretrain_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="pretraining YAML config, or 'tiny' for the packaged synthetic example")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.steps=100 --set tasks.0.weight=2 (repeatable)")


def _add_prepare_shards(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare-shards", help="cut the pretraining sources into memory-mappable window shards (resumable)")
    _add_pretrain_common(p)
    p.add_argument("--task", action="append", default=None, help="only this task (repeatable); default: all")
    p.add_argument("--force", action="store_true", help="rebuild finished shards too")
    p.add_argument("--workers", type=int, default=1, help="processes building shards in parallel (file sources)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_prepare_shards)


def _run_prepare_shards(args: argparse.Namespace) -> int:
    from .pretrain import load_config, prepare_shards

    cfg = load_config(args.config, args.overrides)
    for name, folder in prepare_shards(cfg, tasks=args.task, force=args.force, progress=_progress(args), workers=args.workers).items():
        print(f"{name}: {folder}")
    return 0


def _add_pretrain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="multi-task pretraining of the backbone (one process, or DDP under torchrun)",
        description="Multi-GPU: torchrun --nproc_per_node=N --module tiny_biomoe.cli pretrain --config CONFIG.yaml",
    )
    _add_pretrain_common(p)
    p.add_argument("--resume", default="auto", help="'auto' (newest checkpoint in the output folder), 'never', or a checkpoint folder")
    p.add_argument("--output", default=None, help="run folder (overrides train.output_dir)")
    p.add_argument("--stop-at-step", type=int, default=None, help="checkpoint and stop after this many steps (resume later)")
    p.set_defaults(func=_run_pretrain)


def _run_pretrain(args: argparse.Namespace) -> int:
    from .pretrain import load_config, pretrain

    _settle()

    cfg = load_config(args.config, args.overrides)
    res = pretrain(cfg, resume=args.resume, stop_at_step=args.stop_at_step, output_dir=args.output)
    if res.rank != 0:  # under torchrun only rank 0 reports
        return 0
    if res.export_dir is not None:
        print(f"pretrained backbone: {res.export_dir} (TinyBioMoE.from_pretrained loads it)")
    else:
        print(f"stopped at step {res.step}; checkpoint {res.checkpoint}; run again with --resume auto to continue")
    return 0


# ----------------------------------------------------------------------------- demo / evaluate / train (pain)
def _add_pain_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=["ai4pain", "biovid", "manifest", "synthetic"], help="dataset adapter")
    p.add_argument("--root", help="dataset folder (ai4pain: holds train/ validation/ test/, or the folder the zip unpacked "
                   "to; biovid: the database folder or its biosignals_filtered/)")
    p.add_argument("--manifest", help="manifest CSV (columns subject, label, file, modality, column, fs)")
    p.add_argument("--modalities", nargs="+", help="modalities to use (default: all found), e.g. EDA BVP")
    p.add_argument("--classes", nargs="+", help="class selection/order, e.g. BL1 PA4 for BioVid binary")
    p.add_argument("--sampling-rate", "--fs", dest="sampling_rate", type=float,
                   help="nominal rate in Hz when files have no time column")
    _add_ai4pain_args(p)
    p.add_argument("--kinds", nargs="+", default=["waveform", "spectrogram_psd"], help="representation kinds")
    p.add_argument("--window-s", "--window", dest="window_s", type=float, help="window length in seconds (default: the dataset's trial length, "
                   "e.g. 5.5 for BioVid, else the modality default)")
    p.add_argument("--no-preprocess", action="store_true", help="skip the per-modality filters")
    p.add_argument("--head", choices=["mlp", "logreg"], default="mlp", help="classifier on the frozen embeddings")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", help="embedding cache folder (default $TINY_BIOMOE_CACHE/embeddings)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--allow-random-weights", action="store_true",
                   help="if the official weights are not found, continue with a seeded random-init model (labelled as such)")
    _add_weights_arg(p)
    _add_device_arg(p)
    _add_runtime_args(p)


def _add_ai4pain_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("AI4PAIN segments (--dataset ai4pain)")
    g.add_argument("--edition", choices=["auto", "2025", "2026"], default=None,
                   help="AI4PAIN edition (default auto: LOW/HIGH columns are 2025, ARM/HAND 2026)")
    g.add_argument("--rest", choices=["exclude", "no-pain"], default=None,
                   help="REST periods: exclude (default) or no-pain: their last --segment-s seconds as further No_Pain")
    g.add_argument("--segment-s", type=float, default=None,
                   help="length of the segments cut from the baseline and REST periods (default 10)")
    g.add_argument("--baseline-segments", type=int, default=None,
                   help="non-overlapping segments cut from the 2025 baseline (default 6)")
    g.add_argument("--rest-periods", type=int, default=None, help="with --rest no-pain: how many REST periods (default 6)")
    g.add_argument("--length-tolerance", type=int, default=None, metavar="SAMPLES",
                   help="samples by which one segment may differ across modalities, cropped to the shortest (default 0: "
                   "an error)")


def _ai4pain_options(args: argparse.Namespace) -> dict:
    rest = getattr(args, "rest", None)
    return {"edition": getattr(args, "edition", None), "rest": rest.replace("-", "_") if rest else None,
            "segment_s": getattr(args, "segment_s", None), "baseline_segments": getattr(args, "baseline_segments", None),
            "rest_periods": getattr(args, "rest_periods", None),
            "length_tolerance": getattr(args, "length_tolerance", None)}


def _pain_setup(args: argparse.Namespace, **pipeline: object):
    from .data.load import load_dataset
    from .pain import HeadConfig, PipelineConfig

    ds = load_dataset(args.dataset, root=args.root, manifest=args.manifest, modalities=args.modalities,
                      classes=args.classes, sampling_rate=args.sampling_rate, seed=args.seed, **_ai4pain_options(args))
    window_s = args.window_s if args.window_s is not None else ds.window_s  # the adapter's trial length (BioVid 5.5 s)
    cfg = PipelineConfig(modalities=args.modalities, kinds=list(args.kinds), window_s=window_s,
                         preprocess=not args.no_preprocess, head=HeadConfig(kind=args.head, seed=args.seed),
                         seed=args.seed, **pipeline)
    return ds, cfg


def _add_finetune_args(p: argparse.ArgumentParser, steps_help: str, from_scratch_help: str) -> None:
    p.add_argument("--finetune-steps", type=int, default=0, help=steps_help)
    p.add_argument("--from-scratch", action="store_true", help=from_scratch_help)
    p.add_argument("--lr", type=float, default=1e-4, help="backbone learning rate for --finetune-steps")
    p.add_argument("--batch-size", type=int, default=16, help="images per step for --finetune-steps")
    p.add_argument("--finetune-precision", choices=("fp32", "bf16"), default="fp32",
                   help="training precision for --finetune-steps: bf16 autocast (about 1.7-2x faster where the CPU "
                        "has AVX-512 BF16/AMX or on a bf16 GPU; refused elsewhere)")


def _finetune_config(args: argparse.Namespace):
    """The FineTuneConfig of the --finetune-* arguments, or None without --finetune-steps."""
    if args.finetune_steps <= 0:
        return None
    from .pain import FineTuneConfig

    return FineTuneConfig(steps=args.finetune_steps, lr=args.lr, batch_size=args.batch_size,
                          pretrained=not args.from_scratch, seed=args.seed, precision=args.finetune_precision)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="whole pain pipeline on built-in SYNTHETIC data (about half a minute on 2 CPU cores)")
    p.add_argument("--out", default="biomoe-demo", help="report folder (an earlier report there is replaced only with --force; a folder of other files never)")
    p.add_argument("--quick", action="store_true", help="reduced size (4 subjects, 2 modalities): well under a minute")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", help="embedding cache folder (default $TINY_BIOMOE_CACHE/embeddings)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    _add_weights_arg(p)
    _add_device_arg(p)
    _add_runtime_args(p)
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .pain.demo import run_demo

    _settle()  # the pipeline's imports (torch, scikit-learn, NeuroKit2, pandas)
    folder = run_demo(args.out, weights=args.weights, quick=args.quick, seed=args.seed, device=args.device,
                      cache_dir=args.cache_dir, use_cache=not args.no_cache, log=_LOG.info)  # progress: stderr, -q hides it
    print(folder.resolve())
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="subject-wise evaluation of heads on embeddings, with fusion; writes a report")
    _add_pain_data_args(p)
    p.add_argument("--protocol", choices=["split", "loso", "kfold"], default=None,
                   help="split: the dataset's own partitions (train on train, report on validation, as the AI4PAIN "
                   "challenge); loso: leave-one-subject-out; kfold: k folds of subjects (default: kfold, as "
                   "PipelineConfig in Python)")
    p.add_argument("--folds", type=int, default=5, help="k for --protocol kfold")
    p.add_argument("--levels", nargs="+", default=["single", "representations", "modalities"],
                   choices=["single", "representations", "modalities"], help="fusion levels to run")
    p.add_argument("--fusion", nargs="+", default=["add", "concat"], choices=["add", "mean", "concat"], help="fusion methods")
    p.add_argument("--out", default="biomoe-evaluate", help="report folder (an earlier report there is replaced only with --force; a folder of other files never)")
    _add_finetune_args(p, "also fine-tune backbone + classifier end to end for this many steps in every fold (one "
                          "modality/kind, see --finetune-on); reported as its own row",
                       "with --finetune-steps: start from a seeded random init")
    p.add_argument("--finetune-on", default=None, metavar="MODALITY/KIND",
                   help="what to fine-tune on, e.g. BVP/waveform (default: the first modality and kind)")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from .pain.run import run_evaluation

    _settle()

    proto = {} if args.protocol is None else {"protocol": args.protocol}  # one default: PipelineConfig's
    ds, cfg = _pain_setup(args, n_folds=args.folds, fusion_levels=list(args.levels),
                          fusion_methods=list(args.fusion), **proto)
    folder = run_evaluation(ds, cfg, args.out, weights=args.weights, device=args.device, allow_random=args.allow_random_weights,
                            cache_dir=args.cache_dir, use_cache=not args.no_cache, finetune_config=_finetune_config(args),
                            finetune_on=args.finetune_on)
    _emit(args, f"report: {folder.resolve()}", _report_summary(folder))
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one head on all labelled trials and save it (safetensors + JSON)")
    _add_pain_data_args(p)
    p.add_argument("--fusion", choices=["add", "mean", "concat"], default="add",
                   help="how the chosen modalities x kinds are fused into one input")
    p.add_argument("--partitions", nargs="+", help="train only on these partitions (e.g. train)")
    p.add_argument("--out", default="biomoe-head", help="folder for head.safetensors + head.json")
    _add_finetune_args(p, "instead of a head on frozen embeddings, fine-tune backbone + classifier end to end for this "
                          "many steps (one modality, one kind); saves out/backbone too",
                       "with --finetune-steps: start the backbone from a seeded random init")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from .pain.run import run_finetune, run_training

    _settle()

    ds, cfg = _pain_setup(args)
    ft = _finetune_config(args)
    if ft is not None:
        folder = run_finetune(ds, cfg, args.out, finetune_config=ft, train_partitions=args.partitions, weights=args.weights,
                              device=args.device, allow_random=args.allow_random_weights)
        print(f"fine-tuned: {folder.resolve()}")
        return 0
    folder = run_training(ds, cfg, args.out, fusion_method=args.fusion, train_partitions=args.partitions, weights=args.weights,
                          device=args.device, allow_random=args.allow_random_weights, cache_dir=args.cache_dir,
                          use_cache=not args.no_cache)
    print(f"head: {folder.resolve()}")
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="apply a head saved by `biomoe train` to new recordings; writes a CSV")
    p.add_argument("--head", required=True, help="folder with head.safetensors + head.json (from `biomoe train`)")
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="recordings: .csv/.tsv/.txt, .npy/.npz, .edf/.bdf, WFDB .hea "
                   "(or --dataset/--root/--partition instead)")
    p.add_argument("--dataset", choices=["ai4pain", "biovid", "manifest", "synthetic"], default=None,
                   help="predict every segment of one partition of a dataset (e.g. the AI4PAIN test set) instead of INPUTs; "
                   "writes one row per segment: subject, segment, predicted (a submission)")
    p.add_argument("--root", help="dataset folder (with --dataset)")
    p.add_argument("--manifest", help="manifest CSV (with --dataset manifest)")
    p.add_argument("--partition", default="test", help="with --dataset: the partition to predict (default test; 'all': every trial)")
    p.add_argument("--probabilities", action="store_true", help="with --dataset: also write the p_<class> columns")
    _add_ai4pain_args(p)
    p.add_argument("--column", default=None, help="channel name or 0-based index (single-modality heads; default: the "
                   "only one, or the one named like the modality)")
    p.add_argument("--fs", "--sampling-rate", dest="fs", type=float, default=None,
                   help="sampling rate in Hz of inputs (or a dataset's files) without a time column or header rate")
    p.add_argument("--time-column", default=None, help="name of the time column in seconds (default: auto-detect)")
    p.add_argument("--modality", default=None, help="modality of the input (default: the head's; must match it)")
    p.add_argument("--stride", type=float, default=None, help="sliding windows every S seconds (default: the centred "
                   "window of each recording, exactly as in training)")
    p.add_argument("--weights", default=None, help="backbone weights (default: the ones recorded in the head, "
                   "else HEAD/backbone, else the official ones)")
    p.add_argument("--allow-weights-mismatch", action="store_true",
                   help="use weights whose sha256 differs from the one the head was trained on (predictions unreliable)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    _add_device_arg(p)
    _add_runtime_args(p)
    p.add_argument("-o", "--output", default="predictions.csv", help="output .csv or .tsv (written atomically)")
    p.set_defaults(func=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    from .errors import InputError
    from .pain.predict import predict, write_predictions

    _settle()

    if not args.output.lower().endswith((".csv", ".tsv")):  # checked before any work
        raise InputError(f"--output {args.output!r} must end in .csv or .tsv")
    if args.dataset is not None:
        return _run_predict_dataset(args)
    if not args.inputs:
        raise InputError("give recordings to predict (INPUT ...), or a dataset partition with --dataset/--root/--partition")
    df = predict(args.head, list(args.inputs), sampling_rate=args.fs, column=args.column, time_column=args.time_column,
                 modality=args.modality, stride=args.stride, weights=args.weights, device=args.device,
                 allow_weights_mismatch=args.allow_weights_mismatch, batch_size=args.batch_size, log=_LOG.info)
    path = write_predictions(df, args.output)
    counts = ", ".join(f"{c}={n}" for c, n in df["predicted"].value_counts().items())
    print(f"wrote {len(df)} predictions ({counts}) to {path}")
    return 0


def _run_predict_dataset(args: argparse.Namespace) -> int:
    from .data.load import load_dataset
    from .errors import InputError
    from .pain.predict import predict_dataset, write_submission

    _settle()

    if args.inputs:
        raise InputError("give either recordings (INPUT ...) or --dataset, not both")
    part = None if args.partition == "all" else args.partition
    ds = load_dataset(args.dataset, root=args.root, manifest=args.manifest, sampling_rate=args.fs,
                      **_ai4pain_options(args))
    print(ds.summary_text())
    df = predict_dataset(args.head, ds, partition=part, weights=args.weights, device=args.device,
                         allow_weights_mismatch=args.allow_weights_mismatch, batch_size=args.batch_size, log=print)
    path = write_submission(df, args.output, probabilities=args.probabilities)
    counts = ", ".join(f"{c}={n}" for c, n in df["predicted"].value_counts().items())
    print(f"wrote {len(df)} predictions, one per segment of {args.partition} ({counts}) to {path}")
    return 0


# ----------------------------------------------------------------------------- export / bench (fast inference)
def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the model to ONNX (float32; optionally also int8-quantised)")
    _add_weights_arg(p)
    p.add_argument("-o", "--output", required=True, help="output .onnx file (written atomically)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 18)")
    p.add_argument("--static-batch", action="store_true", help="fix the batch axis to 1 (default: dynamic)")
    p.add_argument(
        "--quantize", choices=["int8"], default=None,
        help="also write <output stem>.int8.onnx with int8 linear-layer weights (dynamic quantisation; less accurate, see docs/performance.md)",
    )
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .model import load_model
    from .model.export import DEFAULT_OPSET, export_onnx, quantize_onnx

    model, info = load_model(args.weights, device="cpu")
    out = Path(args.output)
    export_onnx(model, out, opset=args.opset or DEFAULT_OPSET, dynamic_batch=not args.static_batch,
                metadata={"weights": info.source, "weights_sha256": info.sha256 or ""})
    print(f"wrote {out}")
    if args.quantize == "int8":
        q = quantize_onnx(out, out.with_name(f"{out.stem}.int8.onnx"))
        print(f"wrote {q}")
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure inference, rendering and end-to-end throughput")
    p.add_argument("--quick", action="store_true", help="a tiny run (seconds) to check that everything works")
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="also write the results to this JSON file; --json alone prints them as JSON instead of text")
    p.add_argument("--threads", type=int, default=2, help="torch / onnxruntime threads (default 2)")
    p.add_argument("--weights", default=None, help="checkpoint to time (default: seeded random weights; speed is the same)")
    p.add_argument("--forms", default=None, help="comma-separated model forms, e.g. eager,fast,onnx (default: all)")
    p.add_argument("--sections", default=None, help="comma-separated: inference,render,end_to_end (default: all)")
    p.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from ._bench import BenchConfig, format_report, run_benchmarks

    over: dict = {"threads": args.threads, "weights": args.weights}
    if args.forms:
        over["forms"] = tuple(f.strip() for f in args.forms.split(",") if f.strip())
    if args.sections is not None:
        over["sections"] = tuple(f.strip() for f in args.sections.split(",") if f.strip())
        if not over["sections"]:
            from .errors import InputError

            raise InputError(f"--sections {args.sections!r} names no section; e.g. --sections inference,render "
                             "(leave --sections out to run all)")
    cfg = BenchConfig.quick_config(**over) if args.quick else BenchConfig(**over)
    to_stdout = args.json == "-"
    report = run_benchmarks(cfg, json_path=None if to_stdout else args.json)
    if to_stdout:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(format_report(report))
    if args.json:
        print(f"wrote {args.json}")
    return 0


def _add_completion(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("completion", help="print a shell completion script: eval \"$(biomoe completion bash)\" in "
                       "~/.bashrc (zsh: biomoe completion zsh in ~/.zshrc)")
    from ._completion import SHELLS

    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.set_defaults(func=_run_completion)


def _run_completion(args: argparse.Namespace) -> int:
    from ._completion import completion_script

    sys.stdout.write(completion_script(build_parser(), args.shell))
    return 0


# ----------------------------------------------------------------------------- end of sections

_SECTIONS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_info,
    _add_inspect,
    _add_render,
    _add_embed,
    _add_prepare_shards,
    _add_pretrain,
    _add_demo,
    _add_evaluate,
    _add_train,
    _add_predict,
    _add_export,
    _add_bench,
    _add_completion,
]


# ----------------------------------------------------------------------------- conventions of every command
_LOG = logging.getLogger("tiny_biomoe")


class _HelpFormatter(argparse.HelpFormatter):
    """Show every option's default in ``--help`` (unless its help text already states it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or not action.option_strings:
            return text
        if action.default in (None, False, argparse.SUPPRESS) or isinstance(action, argparse._HelpAction):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every (sub-)parser shows defaults in its help; a usage error is one line and where help is."""

    def __init__(self, *a: Any, **k: Any) -> None:
        k.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*a, **k)

    def error(self, message: str) -> NoReturn:
        """Exit 2 with the problem and the help command, not argparse's whole usage block above it (15
        lines for ``biomoe embed``, which pushed the one line that matters out of sight)."""
        self.exit(2, f"{self.prog}: error: {message}\n(run `{self.prog} -h` for help)\n")


#: command -> (attribute, "file"/"dir", allowed suffixes): outputs checked before any work (see _check_outputs)
_OUTPUTS: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "render": ("output", "dir", None),
    "embed": ("output", "file", (".npz", ".parquet")),
    "demo": ("out", "dir", None),
    "evaluate": ("out", "dir", None),
    "train": ("out", "dir", None),
    "predict": ("output", "file", (".csv", ".tsv")),
    "export": ("output", "file", (".onnx",)),
    "bench": ("json", "file", (".json",)),
}
#: commands that print a summary and take --json for a machine-readable one
_JSON_COMMANDS = ("embed", "evaluate", "inspect")

_SECONDS = {"min": 0, "min_inclusive": False, "max": 7 * 86400}
#: options in Hz, checked by the signals' own plausibility check
_RATES = ("fs", "sampling_rate", "resample")
#: option dest -> bounds (see tiny_biomoe._validate.check_number); every float option must also be finite
_BOUNDS: dict[str, dict[str, Any]] = {
    "window": _SECONDS, "window_s": _SECONDS, "max_missing": {"min": 0.0, "max": 1.0}, "stride": _SECONDS, "segment_s": _SECONDS,
    "max_windows": {"min": 1, "max": 1_000_000}, "batch_size": {"min": 1, "max": 4096},
    "seed": {"min": 0, "max": 2**32 - 1}, "lr": {"min": 0, "min_inclusive": False, "max": 10.0},
    "folds": {"min": 2, "max": 10_000}, "finetune_steps": {"min": 0, "max": 10_000_000},
    "threads": {"min": 1, "max": 1024}, "workers": {"min": 1, "max": 1024}, "stop_at_step": {"min": 1},
    "baseline_segments": {"min": 1, "max": 10_000}, "rest_periods": {"min": 1, "max": 10_000},
    "length_tolerance": {"min": 0, "max": 1_000_000},
}


def _emit(args: argparse.Namespace, text: str, data: dict) -> None:
    """Print the command's summary: ``text``, or ``data`` as one JSON object with ``--json``."""
    if getattr(args, "json", None) is True:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text)


def _report_summary(folder: Any) -> dict:
    """Machine-readable summary of a report folder (its results.json, without the per-fold details)."""
    from pathlib import Path

    out: dict[str, Any] = {"report": str(Path(folder).resolve())}
    try:
        res = json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return out
    out["protocol"] = res.get("protocol")
    out["classes"] = res.get("classes")
    out["experiments"] = [{"name": e.get("name"), "level": e.get("level"), "aggregate": e.get("aggregate")}
                          for e in res.get("experiments", [])]
    return out


def _add_conventions(p: argparse.ArgumentParser, top: bool) -> None:
    """-q/-v/--debug on the main parser and (without defaults, so either place works) on each command."""
    d = {} if top else {"default": argparse.SUPPRESS}
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr", **d)
    p.add_argument("-v", "--verbose", action="count", help="more detail on stderr: debug messages and the time per stage",
                   **({"default": 0} if top else d))
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error", **d)


def _option_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """dest -> the option's long name, for messages."""
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction) and command in a.choices:
            return {x.dest: next((o for o in x.option_strings if o.startswith("--")), x.option_strings[0])
                    for x in a.choices[command]._actions if x.option_strings}  # the first long name
    return {}


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Numbers of every command: finite, in range (before any work)."""
    from ._validate import check_number
    from .errors import InputError

    names = _option_names(parser, args.command)
    for dest, value in vars(args).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        opt = names.get(dest, dest)
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{opt} must be a finite number, got {value!r}")
        if dest in _BOUNDS:
            check_number(value, opt, integer=isinstance(value, int), **_BOUNDS[dest])
        elif dest in _RATES:
            from .signals.processing import check_sampling_rate

            check_sampling_rate(value)


def _check_outputs(args: argparse.Namespace) -> None:
    """Where the command writes must be usable, and an existing output is replaced only with --force."""
    from ._io import check_output

    spec = _OUTPUTS.get(args.command)
    if spec is None:
        return
    attr, kind, suffixes = spec
    value = getattr(args, attr, None)
    if args.command == "bench" and value in (None, "-"):
        return
    if args.command == "embed" and _embed_dataset_mode(args):  # a dataset folder: resumed when it exists
        if value:
            check_output(value, kind="dir", force=True, option="-o/--output")
        return
    if args.command == "embed" and value is None:
        from .embed import default_output_path

        value = args.output = str(default_output_path(args.input[0], modality=args.modality))
    option = {"output": "-o/--output", "out": "--out", "json": "--json"}[attr]
    force = bool(getattr(args, "force", False))
    path = check_output(value, kind=kind, force=force, suffixes=suffixes, option=option)
    _check_not_an_input(args, path, kind, option)
    if args.command == "export" and getattr(args, "quantize", None) == "int8":
        check_output(path.with_name(f"{path.stem}.int8.onnx"), force=force, option="--quantize (int8 file)")


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars unless --no-progress or -q (quiet: only warnings and errors on stderr)."""
    return not (getattr(args, "no_progress", False) or getattr(args, "quiet", False))


#: arguments that name files or folders a command reads
_INPUT_ARGS = ("input", "inputs", "weights", "head", "root", "manifest", "embeddings", "config")


def _check_not_an_input(args: argparse.Namespace, out: Path, kind: str, option: str) -> None:
    """An output never replaces what the command reads (``-o rec.npz --force`` on ``rec.npz``; a report
    folder that holds the dataset)."""
    if not (out.exists() or out.is_symlink()):
        return
    target = out.resolve()
    for attr in _INPUT_ARGS:
        value = getattr(args, attr, None)
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(v, str) or not v or not os.path.exists(v):
                continue
            src = Path(v).resolve()
            if src == target or (kind == "dir" and src.is_relative_to(target)):
                raise OutputError(f"{option} {str(out)!r} {'is' if src == target else 'holds'} the input {v!r}; "
                                  "writing there would destroy it: choose another output")


def _setup_logging(args: argparse.Namespace) -> Callable[[], None]:
    """Log to stderr at the chosen level (-q: warnings; default: info; -v: debug); warnings on one line.
    Returns a function that undoes it (main may run many times in one process)."""
    level = logging.WARNING if getattr(args, "quiet", False) else (
        logging.DEBUG if getattr(args, "verbose", 0) else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    prev = (_LOG.level, _LOG.propagate, warnings.formatwarning)
    _LOG.addHandler(handler)
    _LOG.setLevel(level)
    _LOG.propagate = False

    def one_line(message, category, filename, lineno, line=None):  # no Python source lines
        return f"warning: {message} ({category.__name__})\n"

    warnings.formatwarning = one_line

    def undo() -> None:
        _LOG.removeHandler(handler)
        _LOG.setLevel(prev[0])
        _LOG.propagate = prev[1]
        warnings.formatwarning = prev[2]

    return undo


def build_parser() -> argparse.ArgumentParser:
    """Return the ``biomoe`` argument parser with all sub-commands."""
    from ._version import __version__

    parser = _Parser(
        prog="biomoe",
        description="Tiny-BioMoE: biosignals -> images -> 192-D embeddings -> pain recognition.",
        epilog="Exit codes: 0 done, 2 bad input or environment (one line on stderr; --debug shows the "
        "traceback), 1 internal error (a bug: please report it).",
    )
    parser.add_argument("--version", action="version", version=f"tiny-biomoe {__version__}")
    _add_conventions(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in _SECTIONS:
        add(sub)
    for name, p in sub.choices.items():
        _add_conventions(p, top=False)
        if name in _OUTPUTS and "--force" not in p._option_string_actions:
            p.add_argument("--force", action="store_true",
                           help="replace an existing output (never done without it, even for our own outputs)")
        if name in _JSON_COMMANDS and "--json" not in p._option_string_actions:
            p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0 ok, 2 bad input or environment, 1 internal error).

    Every error of ours is printed as one line without a traceback (``--debug`` shows it); outputs are
    checked before any work, and nothing is left half-written.
    """
    global _ENTRY_POINT
    _ENTRY_POINT = argv is None
    _thread_policy()
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    undo = _setup_logging(args)
    cmd = f"biomoe {args.command}"
    try:
        _check_args(parser, args)
        _check_outputs(args)
        # large tensors stay in the heap between model calls ($TINY_BIOMOE_ALLOCATOR=system: glibc's defaults)
        use_heap_allocator()
        return _run_with_runtime(args)
    except TinyBioMoEError as exc:
        if debug:
            raise
        print(f"{cmd}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        if debug:
            raise
        print(f"{cmd}: system error: out of memory; ask for less (fewer windows with --max-windows, a larger --stride, a "
              "smaller --batch-size)", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's, not ours: one line, no traceback
        if debug:
            raise
        print(f"{cmd}: system error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so, traceback only with --debug
        if debug:
            raise
        print(f"{cmd}: internal error: {type(exc).__name__}: {exc}\n{cmd}: this is a bug in tiny-biomoe; rerun with "
              "--debug for the traceback and report it", file=sys.stderr)
        return 1
    finally:
        undo()
        _settle()  # exit without walking every imported object again


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
