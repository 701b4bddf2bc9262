"""Benchmarks of inference, rendering and the whole signal-to-embedding path (``biomoe bench``).

Private: only the ``biomoe bench`` command (and ``benchmarks/``) import this module, lazily; it is
not part of the library's API.

Everything is measured in one process with a fixed number of threads (default 2). Forms that are
compared are timed *interleaved* (one call of each form per round, several rounds, median per
form), so that load from other processes on a shared machine hits all forms alike. Speed is
never asserted by tests; the numbers go to the console and to a JSON file.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import tempfile
import threading
import time
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ._allocator import allocator_policy
from ._io import atomic_write_text
from .errors import InputError

__all__ = [
    "BenchConfig",
    "machine_info",
    "bench_inference",
    "bench_render",
    "bench_end_to_end",
    "run_benchmarks",
    "format_report",
    "matplotlib_render",
    "markdown_report",
]

_ALL_FORMS = ("eager", "fast", "fast_nchw", "fast_fft", "compiled", "bf16", "onnx", "onnx_int8")
_ALL_SECTIONS = ("inference", "render", "end_to_end")


@dataclass
class BenchConfig:
    """What ``biomoe bench`` measures.

    Attributes:
        quick: a tiny run (batches 1 and 2, two rounds, eager and fast forms only) for smoke tests.
        threads: torch / onnxruntime intra-op threads.
        batches: batch sizes for the inference benchmark.
        rounds: timed rounds per batch size (median reported), after ``warmup`` untimed rounds.
        forms: model forms to time (subset of ``eager, fast, fast_nchw, fast_fft, compiled, bf16,
            onnx, onnx_int8``); unavailable ones (no bf16 CPU, no onnxruntime) are skipped with a note.
        render_windows: windows rendered per kind in the rendering benchmark.
        e2e_seconds: length of the synthetic signal embedded end to end.
        weights: checkpoint to load; ``None`` uses seeded random weights (speed does not depend on them).
        seed: seed of the random weights and inputs.
        sections: which benchmarks to run (``inference``, ``render``, ``end_to_end``).
    """

    quick: bool = False
    threads: int = 2
    batches: tuple[int, ...] = (1, 8, 32)
    rounds: int = 7
    warmup: int = 2
    forms: tuple[str, ...] = _ALL_FORMS
    render_windows: int = 32
    e2e_seconds: float = 1200.0
    weights: str | None = None
    seed: int = 0
    sections: tuple[str, ...] = _ALL_SECTIONS

    @classmethod
    def quick_config(cls, **overrides: Any) -> "BenchConfig":
        """The ``--quick`` settings (seconds, not minutes)."""
        base = dict(quick=True, batches=(1, 2), rounds=2, warmup=1, forms=("eager", "fast"), render_windows=4, e2e_seconds=30.0)
        base.update(overrides)
        return cls(**base)

    def __post_init__(self) -> None:
        bad = [f for f in self.forms if f not in _ALL_FORMS]
        if bad:
            raise InputError(f"unknown benchmark form(s) {bad}; choose from {list(_ALL_FORMS)}")
        bad = [s for s in self.sections if s not in _ALL_SECTIONS]
        if bad:
            raise InputError(f"unknown benchmark section(s) {bad}; choose from {list(_ALL_SECTIONS)}")
        if self.threads < 1 or self.rounds < 1 or self.warmup < 0 or not self.batches or min(self.batches) < 1:
            raise InputError("threads, rounds and batch sizes must be positive and warmup >= 0")


# ----------------------------------------------------------------------------- machine and timing
def machine_info() -> dict[str, Any]:
    """CPU model (name, family and model numbers: :func:`~tiny_biomoe.model.runtime.cpu_model`), logical
    CPUs, threads used, library versions."""
    from .model.runtime import cpu_model

    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "allocator": allocator_policy(),
    }
    with contextlib.suppress(ImportError):
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    return info


def _time_interleaved(fns: dict[str, Callable[[], Any]], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per call for each function, calling them round-robin (one call each per round)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def _loadavg() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _rss_bytes() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``) so RSS peaks are comparable."""
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _peak_rss_during(fn: Callable[[], Any], interval: float = 0.001) -> int:
    """Peak resident memory above the level before the call, sampled every ``interval`` s.

    Freed memory is returned to the OS first; memory the allocator keeps from an earlier form
    can still hide part of a later form's peak, so treat the numbers as lower bounds.
    """
    _release_free_memory()
    base = _rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        fn()
    finally:
        done.set()
        th.join()
    return max(0, max(peak[0], _rss_bytes()) - base)


@contextlib.contextmanager
def _threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ----------------------------------------------------------------------------- inference
def _load(cfg: BenchConfig):
    from .model import TinyBioMoE

    if cfg.weights:
        return TinyBioMoE.from_pretrained(cfg.weights)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)
    try:
        return TinyBioMoE().eval()
    finally:
        torch.random.set_rng_state(gen_state)


def _build_forms(model: Any, cfg: BenchConfig, workdir: Path, notes: list[str]) -> dict[str, Callable[[torch.Tensor], Any]]:
    from .model.fast import bf16_supported, optimize_for_inference

    forms: dict[str, Callable[[torch.Tensor], Any]] = {}
    for name in cfg.forms:
        t0 = time.perf_counter()
        if name == "eager":
            forms[name] = model
        elif name == "fast":
            forms[name] = optimize_for_inference(model)
        elif name == "fast_nchw":
            forms[name] = optimize_for_inference(model, channels_last=False)
        elif name == "fast_fft":  # the spectral gating by FFTs, as the original (the default is the DFT)
            forms[name] = optimize_for_inference(model, spectral="fft")
        elif name == "compiled":
            fm = optimize_for_inference(model, compile=True)
            with torch.inference_mode():
                for b in sorted(set(min(b, fm.micro_batch or b) for b in cfg.batches)):
                    fm(torch.rand(b, 3, 224, 224))  # compile each distinct chunk shape now, not while timing
            forms[name] = fm
        elif name == "bf16":
            if not bf16_supported("cpu"):
                notes.append("bf16 skipped: this CPU has no fast bf16 kernels (AVX-512 BF16 / AMX)")
                continue
            forms[name] = optimize_for_inference(model, bf16=True)
        elif name in ("onnx", "onnx_int8"):
            try:
                from .model.export import OnnxEmbedder, export_onnx, quantize_onnx
            except ImportError as exc:  # pragma: no cover - export extra missing
                notes.append(f"{name} skipped: {exc}")
                continue
            path = workdir / "model.onnx"
            if not path.exists():
                export_onnx(model, path)
            if name == "onnx_int8":
                qpath = workdir / "model.int8.onnx"
                quantize_onnx(path, qpath)
                path = qpath
            # no spinning: idle onnxruntime threads would otherwise steal CPU from the forms timed next
            forms[name] = OnnxEmbedder(path, threads=cfg.threads, spin=False).embed
        notes.append(f"{name}: prepared in {time.perf_counter() - t0:.1f} s")
    return forms


def bench_inference(cfg: BenchConfig, model: Any = None) -> dict[str, Any]:
    """Images per second of each form at each batch size, their ratio to eager, error and memory."""
    model = _load(cfg) if model is None else model
    notes: list[str] = []
    gen = torch.Generator().manual_seed(cfg.seed)
    ref_x = torch.rand(2, 3, 224, 224, generator=gen)
    with _threads(cfg.threads), tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        forms = _build_forms(model, cfg, Path(tmp), notes)
        ref = model(ref_x)
        error = {}
        for name, fn in forms.items():
            out = torch.as_tensor(np.asarray(fn(ref_x))) if name.startswith("onnx") else fn(ref_x)
            error[name] = float((out.float() - ref).abs().max())
        results: dict[str, Any] = {}
        for b in cfg.batches:
            x = torch.rand(b, 3, 224, 224, generator=gen)
            calls = {name: (lambda fn=fn: fn(x)) for name, fn in forms.items()}
            times = _time_interleaved(calls, cfg.rounds, cfg.warmup)
            row = {}
            for name, ts in times.items():
                med = statistics.median(ts)
                row[name] = {
                    "images_per_s": b / med,
                    "images_per_s_best": b / min(ts),
                    "median_s": med,
                    "min_s": min(ts),
                    "rounds": len(ts),
                }
            if "eager" in row:
                for name in row:
                    row[name]["ratio_vs_eager"] = row[name]["images_per_s"] / row["eager"]["images_per_s"]
                    row[name]["ratio_vs_eager_best"] = row[name]["images_per_s_best"] / row["eager"]["images_per_s_best"]
            results[str(b)] = row
        bmax = max(cfg.batches)
        xm = torch.rand(bmax, 3, 224, 224, generator=gen)
        memory = {name: _peak_rss_during(lambda fn=fn: fn(xm)) / 2**20 for name, fn in forms.items()}
    return {
        "batches": results,
        "max_abs_error_vs_eager": error,
        "peak_rss_increase_mib": {"batch": bmax, **memory},
        "notes": notes,
    }


# ----------------------------------------------------------------------------- rendering
def _synthetic_windows(n: int, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float64)
    f = rng.uniform(0.002, 0.05, size=(n, 1))
    return (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(2 * np.pi * 3.1 * f * t) + 0.1 * rng.standard_normal((n, length))).astype(
        np.float32
    )


def matplotlib_render(windows: np.ndarray, kind: str, sampling_rate: float, reuse_figure: bool = True) -> np.ndarray:
    """The matplotlib baseline: each window drawn on an Agg figure of 224x224 px, no axes.

    ``waveform``: a line plot; ``spectrogram_psd``: ``Axes.specgram`` with matplotlib's defaults
    (NFFT 256, overlap 128). With ``reuse_figure`` one figure is cleared and redrawn per image;
    without it a new figure is made per image, as typical plotting scripts do. The benchmark's
    target ratio uses whichever of the two is faster. Returns ``(N, 3, 224, 224)`` float32 in ``[0, 1]``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if kind not in ("waveform", "spectrogram_psd"):
        raise InputError(f"the matplotlib baseline draws 'waveform' or 'spectrogram_psd', not {kind!r}")
    fig = Figure(figsize=(2.24, 2.24), dpi=100)
    canvas = FigureCanvasAgg(fig)
    out = np.empty((len(windows), 3, 224, 224), dtype=np.float32)
    for i, w in enumerate(windows):
        if not reuse_figure:
            fig = Figure(figsize=(2.24, 2.24), dpi=100)
            canvas = FigureCanvasAgg(fig)
        fig.clear()
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        if kind == "waveform":
            ax.plot(w, linewidth=1.0)
            ax.set_xlim(0, len(w) - 1)
        else:
            ax.specgram(w, NFFT=256, Fs=sampling_rate, noverlap=128)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        out[i] = rgba[..., :3].transpose(2, 0, 1) / 255.0
    return out


def bench_render(cfg: BenchConfig) -> dict[str, Any]:
    """Images per second of the torch renderer and of matplotlib for the same windows."""
    from .representations import render

    fs, seconds = 250.0, 10.0
    n = cfg.render_windows
    wins = _synthetic_windows(n, int(fs * seconds), cfg.seed)
    kinds: dict[str, Any] = {}
    with _threads(cfg.threads):
        for kind in ("waveform", "spectrogram_psd"):
            params = {"preset": "paper"} if kind != "waveform" else {}
            n_mpl = max(2, n // 4) if not cfg.quick else 2  # matplotlib is slow: time a quarter of the windows
            matplotlib_render(wins[:1], kind, fs)  # warm-up: fonts, caches
            calls = {
                "torch": lambda: render(wins, kind=kind, sampling_rate=fs, **params),
                "mpl": lambda: matplotlib_render(wins[:n_mpl], kind, fs),
                "mpl_new": lambda: matplotlib_render(wins[:n_mpl], kind, fs, reuse_figure=False),
            }
            ts = _time_interleaved(calls, max(2, cfg.rounds // 2), 1)
            tracemalloc.start()  # memory in a separate, untimed pass (tracing slows Python down)
            try:
                matplotlib_render(wins[:2], kind, fs)
                mpl_peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            count = {"torch": n, "mpl": n_mpl, "mpl_new": n_mpl}
            med = {k: count[k] / statistics.median(v) for k, v in ts.items()}
            best = {k: count[k] / min(v) for k, v in ts.items()}
            torch_ips, mpl_ips = med["torch"], med["mpl"]
            kinds[kind] = {
                "torch_images_per_s": torch_ips,
                "matplotlib_images_per_s": mpl_ips,
                "ratio_torch_vs_matplotlib": torch_ips / mpl_ips,
                "ratio_torch_vs_matplotlib_best": best["torch"] / best["mpl"],
                "matplotlib_new_figure_images_per_s": med["mpl_new"],
                "ratio_torch_vs_fastest_matplotlib": torch_ips / max(med["mpl"], med["mpl_new"]),
                "ratio_torch_vs_matplotlib_new_figure": torch_ips / med["mpl_new"],
                "windows": n,
                "matplotlib_windows": n_mpl,
                "matplotlib_peak_python_mib": mpl_peak / 2**20,
            }
    return {"sampling_rate": fs, "window_s": seconds, "kinds": kinds}


# ----------------------------------------------------------------------------- end to end
class _AsGiven(torch.nn.Module):
    """The eager model behind an interface the runtime uses as it is (no fast form): the baseline."""

    embed_dim, img_size = 192, 224

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def bench_end_to_end(cfg: BenchConfig, model: Any = None) -> dict[str, Any]:
    """Signal -> embeddings with :func:`tiny_biomoe.embed.embed_signal`; time per stage.

    The stages (condition, render, model) are the ones ``embed_signal`` itself times
    (:mod:`tiny_biomoe._timing`). Run with the eager model (the baseline), the default form
    (``precision="fp32"``) and, where the CPU has bf16 units, ``precision="bf16"``.
    """
    from . import embed as embed_mod
    from ._timing import reset_stage_times, stage_times
    from .model import runtime
    from .model.fast import bf16_supported

    model = _load(cfg) if model is None else model
    fs = 100.0
    rng = np.random.default_rng(cfg.seed)
    n = int(cfg.e2e_seconds * fs)
    t = np.arange(n) / fs
    signal = 5 + np.sin(2 * np.pi * 0.05 * t) + 0.2 * np.cumsum(rng.standard_normal(n)) / np.sqrt(n) + 0.05 * rng.standard_normal(n)
    kinds = ("waveform", "spectrogram_psd")
    out: dict[str, Any] = {"modality": "eda", "signal_s": cfg.e2e_seconds, "sampling_rate": fs, "kinds": list(kinds)}
    forms: dict[str, tuple[Any, str]] = {"eager": (_AsGiven(model), "fp32"), "fast": (model, "fp32")}
    if bf16_supported("cpu") and not cfg.quick:
        forms["bf16"] = (model, "bf16")
    runs: dict[str, list[tuple[float, dict[str, float], int]]] = {name: [] for name in forms}
    rounds = 1 if cfg.quick else 3  # interleaved repeats; the median run is reported
    with _threads(cfg.threads):
        for name, (net, prec) in forms.items():  # build each form and finish its micro-batch tuning before timing
            for _ in range(1 if cfg.quick else 12):
                embed_mod.embed_signal(signal[: int(min(cfg.e2e_seconds, 600.0) * fs)], sampling_rate=fs, modality="eda",
                                       kinds=kinds, model=net, batch_size=32, device="cpu", precision=prec)
                tuner = runtime.get_embedder(net, precision=prec).tuner  # None for the eager baseline
                if tuner is None or tuner.decided:
                    break
        for _ in range(rounds):
            for name, (net, prec) in forms.items():
                reset_stage_times()
                t0 = time.perf_counter()
                res = embed_mod.embed_signal(signal, sampling_rate=fs, modality="eda", kinds=kinds, model=net,
                                             batch_size=32, device="cpu",
                                             precision=prec)
                total = time.perf_counter() - t0
                n_img = sum(v.shape[0] for v in res.embeddings.values())
                runs[name].append((total, stage_times(), n_img))
        inference = {name: runtime.get_embedder(net, precision=prec).describe() for name, (net, prec) in forms.items()}
    for name, rs in runs.items():
        total, stages, n_img = sorted(rs, key=lambda r: r[0])[len(rs) // 2]
        render_s, model_s = stages.get("render", 0.0), stages.get("model", 0.0)
        out[name] = {
            "total_s": total,
            "render_s": render_s,
            "render_share": render_s / total,
            "model_s": model_s,
            "outside_model_share": 1.0 - model_s / total,
            "stages_s": stages,
            "images": n_img,
            "images_per_s": n_img / total,
            "rounds": len(rs),
            "all_total_s": [r[0] for r in rs],
            "inference": inference[name],
        }
    for name in out:
        if isinstance(out[name], dict) and "total_s" in out[name]:
            out[name]["speedup_vs_eager"] = out["eager"]["total_s"] / out[name]["total_s"]
    return out


# ----------------------------------------------------------------------------- all together
def run_benchmarks(cfg: BenchConfig | None = None, json_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Run the configured sections; optionally write the results as JSON (atomically)."""
    cfg = cfg or BenchConfig()
    t0 = time.perf_counter()
    with _threads(cfg.threads):
        report: dict[str, Any] = {"config": asdict(cfg), "machine": machine_info()}
    model = _load(cfg) if {"inference", "end_to_end"} & set(cfg.sections) else None
    load: dict[str, list[float]] = {}
    for name, fn in (
        ("inference", lambda: bench_inference(cfg, model)),
        ("render", lambda: bench_render(cfg)),
        ("end_to_end", lambda: bench_end_to_end(cfg, model)),
    ):
        if name in cfg.sections:
            before = _loadavg()
            report[name] = fn()
            load[name] = [before, _loadavg()]
    # 1-minute load average before/after each section: above the thread count, other processes
    # competed for the CPUs and the numbers (multi-threaded torch most of all) are pessimistic
    report["load_average"] = load
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["wall_s"] = time.perf_counter() - t0
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(report, indent=2, default=str) + "\n")
    return report


def format_report(report: dict[str, Any]) -> str:
    """A plain-text summary of :func:`run_benchmarks` output."""
    m = report["machine"]
    lines = [f"machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, {report['config']['threads']} threads, torch {m['torch']}"]
    inf = report.get("inference")
    if inf:
        forms = list(next(iter(inf["batches"].values())).keys())
        lines.append("inference (images/s, median of rounds [best round]; x = ratio to eager, median [best]):")
        lines.append("  " + "batch".ljust(7) + "".join(f.rjust(30) for f in forms))
        for b, row in inf["batches"].items():
            cells = []
            for f in forms:
                r = row[f]
                ratio = r.get("ratio_vs_eager")
                txt = f"{r['images_per_s']:.1f} [{r['images_per_s_best']:.1f}]"
                if ratio:
                    txt += f" {ratio:.2f}x [{r['ratio_vs_eager_best']:.2f}x]"
                cells.append(txt.rjust(30))
            lines.append("  " + b.ljust(7) + "".join(cells))
        lines.append("  max |error| vs eager: " + ", ".join(f"{k} {v:.1e}" for k, v in inf["max_abs_error_vs_eager"].items()))
        mem = inf["peak_rss_increase_mib"]
        lines.append(f"  peak RSS increase at batch {mem['batch']} (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in mem.items() if k != "batch"))
        for n in inf["notes"]:
            lines.append(f"  note: {n}")
    ren = report.get("render")
    if ren:
        lines.append("rendering (images/s):")
        for k, r in ren["kinds"].items():
            lines.append(
                f"  {k}: torch {r['torch_images_per_s']:.1f}, matplotlib {r['matplotlib_images_per_s']:.1f}, "
                f"ratio {r['ratio_torch_vs_matplotlib']:.1f}x [best rounds {r['ratio_torch_vs_matplotlib_best']:.1f}x] (vs a new figure per image: "
                f"{r['matplotlib_new_figure_images_per_s']:.1f} images/s, {r['ratio_torch_vs_matplotlib_new_figure']:.1f}x)"
            )
    e2e = report.get("end_to_end")
    if e2e:
        lines.append(f"end to end ({e2e['signal_s']:.0f} s of {e2e['modality']} at {e2e['sampling_rate']:.0f} Hz, kinds {', '.join(e2e['kinds'])}):")
        for name in ("eager", "fast", "bf16"):
            r = e2e.get(name)
            if r:
                ips = f"{r['images_per_s']:.1f} images/s, " if r.get("images_per_s") else ""
                lines.append(f"  {name}: {r['total_s']:.2f} s, {ips}{r['speedup_vs_eager']:.2f}x eager, rendering "
                             f"{100 * r['render_share']:.1f}%, outside the model {100 * r['outside_model_share']:.1f}% of the time")
    lines.append(f"peak RSS of the process: {report['peak_rss_mib']:.0f} MiB; wall time {report['wall_s']:.0f} s")
    busy = {k: v for k, v in report.get("load_average", {}).items() if max(v) > report["config"]["threads"] + 0.5}
    if busy:
        lines.append(
            "WARNING: the machine was busy (1-min load average "
            + ", ".join(f"{k} {v[0]:.1f}->{v[1]:.1f}" for k, v in busy.items())
            + f" with {report['config']['threads']} threads); numbers are pessimistic and noisy, rerun when idle"
        )
    return "\n".join(lines)


def markdown_report(report: dict[str, Any]) -> str:
    """The results as Markdown tables (for docs/performance.md)."""
    out: list[str] = []
    inf = report.get("inference")
    if inf:
        forms = list(next(iter(inf["batches"].values())).keys())
        out.append("Inference, images/s: median round [best round], and ratio to eager (median [best]):\n")
        out.append("| form | " + " | ".join(f"batch {b}" for b in inf["batches"]) + " | max abs error vs eager | peak RSS increase, MiB (batch " + str(inf["peak_rss_increase_mib"]["batch"]) + ") |")
        out.append("| --- | " + " | ".join("---" for _ in inf["batches"]) + " | --- | --- |")
        for f in forms:
            cells = []
            for row in inf["batches"].values():
                r = row[f]
                cells.append(
                    f"{r['images_per_s']:.1f} [{r['images_per_s_best']:.1f}], "
                    f"{r.get('ratio_vs_eager', float('nan')):.2f}x [{r.get('ratio_vs_eager_best', float('nan')):.2f}x]"
                )
            err = inf["max_abs_error_vs_eager"].get(f, float("nan"))
            mem = inf["peak_rss_increase_mib"].get(f, float("nan"))
            out.append(f"| {f} | " + " | ".join(cells) + f" | {err:.1e} | {mem:.0f} |")
        out.append("")
    ren = report.get("render")
    if ren:
        out.append(f"Rendering {ren['window_s']:.0f}-s windows at {ren['sampling_rate']:.0f} Hz to 224x224 images, images/s (median):\n")
        out.append("| kind | torch | matplotlib (reused figure) | ratio [best rounds] | matplotlib (new figure per image) | ratio | ratio vs the faster matplotlib |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for k, r in ren["kinds"].items():
            out.append(
                f"| {k} | {r['torch_images_per_s']:.0f} | {r['matplotlib_images_per_s']:.0f} | "
                f"{r['ratio_torch_vs_matplotlib']:.1f}x [{r['ratio_torch_vs_matplotlib_best']:.1f}x] | "
                f"{r['matplotlib_new_figure_images_per_s']:.0f} | {r['ratio_torch_vs_matplotlib_new_figure']:.1f}x | "
                f"{r['torch_images_per_s'] / max(r['matplotlib_images_per_s'], r['matplotlib_new_figure_images_per_s']):.1f}x |"
            )
        out.append("")
    e2e = report.get("end_to_end")
    if e2e:
        out.append(
            f"End to end (`embed_signal`, {e2e['signal_s']:.0f} s of {e2e['modality']} at {e2e['sampling_rate']:.0f} Hz, "
            f"kinds {', '.join(e2e['kinds'])}, batch 32):\n"
        )
        out.append("| model | total s | images/s | x eager | rendering s | rendering share | outside the model |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for name in ("eager", "fast", "bf16"):
            r = e2e.get(name)
            if r:
                out.append(f"| {name} | {r['total_s']:.2f} | {r['images_per_s']:.1f} | {r['speedup_vs_eager']:.2f}x | "
                           f"{r['render_s']:.2f} | {100 * r['render_share']:.1f}% | {100 * r['outside_model_share']:.1f}% |")
        out.append("")
    out.append(f"Peak RSS of the whole benchmark process: {report['peak_rss_mib']:.0f} MiB.")
    return "\n".join(out)
