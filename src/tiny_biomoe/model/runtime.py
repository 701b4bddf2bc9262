"""The inference runtime: which form of Tiny-BioMoE embeds images, built once per process.

Every path that embeds images (:func:`tiny_biomoe.embed.embed_windows` and what calls it:
``embed_signal``/``embed_file``, the pain pipeline, ``predict`` and the ``biomoe`` commands) asks
:func:`get_embedder` for the model's inference form instead of calling the eager module:

- ``backend="torch"`` (default): :class:`~tiny_biomoe.model.fast.FastTinyBioMoE` (batch norms
  folded, channels-last, attention biases gathered, on the CPU convolution/linear + activation as
  one oneDNN kernel), which meets the float32 tolerances of
  ``spec/MODEL.md``; ``backend="onnx"``: ONNX Runtime on the graph of
  :func:`~tiny_biomoe.model.export.export_onnx`, exported once per weights hash into
  ``<cache>/onnx/`` and reused by later processes.
- ``precision="fp32"`` (default) or ``"bf16"`` (the experts' weights and activations in bf16;
  only where :func:`bf16_supported`: CPUs with AVX-512 BF16 / AMX, CUDA), or ``"fp16"`` (CUDA
  only, autocast). A reduced-precision embedder measures its error against float32 on the first
  images it embeds (:meth:`Embedder.describe`).
- On the CPU, large batches run in micro-batches whose size is chosen by timing the first real
  batches (:class:`MicroBatchTuner`), then cached per CPU model, thread count, form version and
  allocator policy (:mod:`tiny_biomoe._allocator`) in ``<cache>/runtime/tuning.json``: the best
  size differs between CPUs (2 on AMD Zen 5, 8 on the Intel Xeon with AMX we measured). On CUDA
  there is no micro-batching (a CPU cache tuning); batches run whole, channels-last.

The embedder is cached per model object and is rebuilt when the model's tensors change (an
optimiser step, ``load_state_dict``, ``.to()``), so a fine-tuned model is never served stale.
The eager :class:`~tiny_biomoe.model.TinyBioMoE` stays the module for training and fine-tuning.

Process-wide defaults: :func:`set_defaults` (the CLI's ``--backend``/``--precision``),
``$TINY_BIOMOE_BACKEND``, ``$TINY_BIOMOE_PRECISION``, ``$TINY_BIOMOE_MICRO_BATCH``
(``auto``, ``none`` or an integer), or temporarily :func:`inference_settings`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import platform
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from .._allocator import allocator_policy, use_heap_allocator
from .._io import atomic_write_text
from ..errors import InputError
from .fast import FORM_VERSION, FastTinyBioMoE, bf16_supported
from .moe import TinyBioMoE, check_images

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "Embedder",
    "DevicePlan",
    "MicroBatchTuner",
    "get_embedder",
    "set_defaults",
    "inference_settings",
    "current_settings",
    "device_plan",
    "onnx_model_path",
    "cpu_model",
    "clear_cache",
    "load_model_cached",
]

BACKENDS = ("torch", "onnx")
PRECISIONS = ("fp32", "bf16", "fp16")
#: micro-batch sizes tried on the CPU (``None``: the whole batch at once)
CPU_CANDIDATES: tuple[int | None, ...] = (None, 8, 4, 2)
#: chunk sizes tried for ONNX Runtime (memory grows with the chunk: ~35 MB per image)
ONNX_CANDIDATES: tuple[int | None, ...] = (8, 4, 1)
#: batches smaller than this are never split and do not count as tuning trials
TUNE_MIN_BATCH = 16
TRIALS_PER_CANDIDATE = 2
#: the tuning procedure's version, in the tuning key: choices made by an earlier procedure are re-measured
#: (2: warm-up per input shape, not only per size; 3: calls that grew the heap are not timed)
TUNER_VERSION = 3
#: a call that touched more fresh pages than this (page faults; 8 MiB, a few ms of the kernel's
#: zero-filling) was still growing the heap and is not timed
FAULT_PAGES = 2048
#: after this many consecutive calls of one size that all grew the heap, the next is timed anyway
MAX_GROWING_CALLS = 3

_defaults: dict[str, Any] = {"backend": None, "precision": None}
_lock = threading.Lock()


# ----------------------------------------------------------------------------- settings
def check_backend(backend: str) -> str:
    """Return ``backend`` if known, else raise :class:`InputError`."""
    b = str(backend).lower()
    if b not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    return b


def check_precision(precision: str) -> str:
    """Return ``precision`` normalised (``float32`` -> ``fp32``, ``bfloat16`` -> ``bf16``), else raise."""
    p = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}.get(str(precision).lower(), str(precision).lower())
    if p not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
    return p


def current_settings() -> dict[str, str]:
    """The defaults in force: :func:`set_defaults`, else the environment, else torch / fp32."""
    backend = _defaults["backend"] or os.environ.get("TINY_BIOMOE_BACKEND") or "torch"
    precision = _defaults["precision"] or os.environ.get("TINY_BIOMOE_PRECISION") or "fp32"
    return {"backend": check_backend(backend), "precision": check_precision(precision)}


def set_defaults(*, backend: str | None = None, precision: str | None = None) -> None:
    """Set the process-wide backend / precision used when a call does not name them (``None``: unset)."""
    _defaults["backend"] = None if backend is None else check_backend(backend)
    _defaults["precision"] = None if precision is None else check_precision(precision)


@contextlib.contextmanager
def inference_settings(*, backend: str | None = None, precision: str | None = None) -> Iterator[None]:
    """Use ``backend`` / ``precision`` for every embedding made inside the block (then restore).

    >>> with inference_settings(precision="bf16"):       # doctest: +SKIP
    ...     results, table = evaluate(dataset, model=model)
    """
    old = dict(_defaults)
    try:
        if backend is not None:
            _defaults["backend"] = check_backend(backend)
        if precision is not None:
            _defaults["precision"] = check_precision(precision)
        yield
    finally:
        _defaults.update(old)


def _env_micro_batch() -> int | None | str:
    raw = os.environ.get("TINY_BIOMOE_MICRO_BATCH", "auto").strip().lower()
    if raw in ("", "auto"):
        return "auto"
    if raw in ("none", "0", "off"):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"TINY_BIOMOE_MICRO_BATCH={raw!r}: use 'auto', 'none' or a positive integer") from None
    if value < 1:
        raise InputError(f"TINY_BIOMOE_MICRO_BATCH={raw!r}: use 'auto', 'none' or a positive integer")
    return value


# ----------------------------------------------------------------------------- devices
@dataclass(frozen=True)
class DevicePlan:
    """How a device runs the model: micro-batch tuning (CPU only), layout, autocast dtype, pinned inputs."""

    device: torch.device
    tune_micro_batch: bool
    channels_last: bool
    autocast: torch.dtype | None
    pin_memory: bool


def device_plan(device: torch.device | str, precision: str = "fp32", *, check: bool = True) -> DevicePlan:
    """The plan for ``device`` and ``precision``; ``check=False`` skips the hardware checks (tests).

    CPU: micro-batches tuned by measurement, channels-last, bf16 autocast only with fast bf16
    kernels. CUDA: whole batches (no CPU-cache micro-batching), channels-last, bf16/fp16 autocast,
    pinned host memory for the windows. Unsupported combinations raise :class:`InputError`.
    """
    dev = torch.device(device)
    precision = check_precision(precision)
    amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if precision == "fp16" and dev.type != "cuda":
        raise InputError(f"precision 'fp16' is for CUDA devices; on {dev.type} use 'bf16' (if supported) or 'fp32'")
    if precision == "bf16" and check and not bf16_supported(dev):
        raise InputError(
            f"precision 'bf16' was asked for but {dev} has no fast bf16 support (a CPU needs AVX-512 BF16 or AMX; "
            "CUDA needs compute capability 8.0+); use precision 'fp32'"
        )
    if dev.type == "cuda":
        return DevicePlan(dev, tune_micro_batch=False, channels_last=True, autocast=amp, pin_memory=True)
    return DevicePlan(dev, tune_micro_batch=dev.type == "cpu", channels_last=True, autocast=amp, pin_memory=False)


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name with its family and model numbers (``/proc/cpuinfo``), else :func:`platform.processor`.

    The numbers matter: virtual machines often show only "AMD EPYC" or "Intel(R) Xeon(R) Processor",
    and under that one name an AMD EPYC Zen 4 (family 25) and Zen 5 (family 26) need their own
    measurements (micro-batches of 2 were best on the Zen 5, whole batches on the Zen 4).
    """
    if cpuinfo is None:
        with contextlib.suppress(OSError):
            cpuinfo = Path("/proc/cpuinfo").read_text()
    fields: dict[str, str] = {}
    for line in (cpuinfo or "").splitlines():
        if not line.strip():
            if fields:
                break  # the first processor's block is enough
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    name = fields.get("model name")
    if not name:
        return platform.processor() or platform.machine() or "unknown"
    if fields.get("cpu family") and fields.get("model"):
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def _cache_root() -> Path:
    from .weights import default_cache_dir

    return default_cache_dir()


# ----------------------------------------------------------------------------- micro-batch tuning
class MicroBatchTuner:
    """Chooses a micro-batch size by timing real calls, and remembers the choice.

    Until a choice is known, batches of at least :data:`TUNE_MIN_BATCH` images are run with each
    candidate size in turn (round-robin, so load from other processes hits all alike). A call is
    timed only when the same size ran the call before it and has already run a batch of this many
    images: a size's first call pays the page faults of its new activations (2-3x the time with
    the heap allocator) and every new input shape pays oneDNN's kernel creation, so a whole-batch
    candidate first met on a batch of 26 after one of 32 would look slower than it is. With the heap
    allocator in force, a call that still grew the heap (more than :data:`FAULT_PAGES` page faults:
    the second call of a new shape often does, after the first one's memory was fragmented by
    other allocations, and then runs at half speed) is not timed either; the same size runs
    again, at most :data:`MAX_GROWING_CALLS` times before a call is timed regardless. After
    :data:`TRIALS_PER_CANDIDATE` timed trials of each, the size with the best (minimum) seconds per
    image wins and is written to ``store`` under ``key``. Nothing extra is computed: the trials are
    the caller's own batches, and unfinished trials are stored too, so that short
    runs (one command each) add up to a decision. ``fixed`` (an integer or ``None``) skips tuning.
    """

    def __init__(self, key: str, candidates: tuple[int | None, ...], store: Path | None = None,
                 fixed: int | None | str = "auto") -> None:
        self.key, self.candidates, self.store = key, tuple(candidates), store
        self.trials: dict[str, list[float]] = {str(c): [] for c in self.candidates}
        self.chosen: int | None | str = fixed  # "auto" until decided
        self.source = "fixed" if fixed != "auto" else "measuring"
        self._turn: str | None = None  # the size whose turn it is, until its timed call
        self._last: str | None = None  # the size of the previous (recorded) call
        self._seen: set[tuple[str, int]] = set()  # (size, batch) pairs that have run once: warm
        self._growing = 0  # consecutive calls of the size whose turn it is that grew the heap
        if fixed == "auto" and store is not None:
            rec = self._read().get(key)
            if isinstance(rec, dict) and "micro_batch" in rec:
                mb = rec["micro_batch"]
                if mb is None or (isinstance(mb, int) and mb >= 1):
                    self.chosen, self.source = mb, f"cached ({store})"
            elif isinstance(rec, dict) and isinstance(rec.get("trials"), dict):  # earlier runs' unfinished trials
                for k, v in rec["trials"].items():
                    if k in self.trials and isinstance(v, list):
                        self.trials[k] = [float(t) for t in v if isinstance(t, (int, float)) and t > 0]

    @property
    def decided(self) -> bool:
        return self.chosen != "auto"

    def _read(self) -> dict[str, Any]:
        if self.store is None:
            return {}
        try:
            data = json.loads(self.store.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def size_for(self, batch: int) -> int | None:
        """The micro-batch size to use for a batch of ``batch`` images (``None``: whole)."""
        if self.decided:
            return self.chosen  # type: ignore[return-value]
        if batch < TUNE_MIN_BATCH:
            return None
        if self._turn is not None:  # warm-up calls ran; the same size again, to be timed
            return next(c for c in self.candidates if str(c) == self._turn)
        return min(self.candidates, key=lambda c: len(self.trials[str(c)]))  # the least tried, in order

    def record(self, size: int | None, batch: int, seconds: float, faults: int | None = None) -> None:
        """Report a timed trial of ``size`` on ``batch`` images; decides once every candidate ran enough.

        ``faults``: the page faults during the call (``None``: not measured, as with glibc's default
        allocator, where every call faults alike)."""
        if self.decided or batch < TUNE_MIN_BATCH or str(size) not in self.trials:
            return
        key = (str(size), int(batch))
        warm = self._last == key[0] and key in self._seen
        if self._last != key[0]:
            self._growing = 0
        self._last, self._turn = key[0], key[0]
        self._seen.add(key)
        if not warm:  # a warm-up call: not counted
            return
        if faults is not None and faults > FAULT_PAGES and self._growing < MAX_GROWING_CALLS:
            self._growing += 1  # still growing the heap: run this size again
            return
        self._turn, self._growing = None, 0
        self.trials[str(size)].append(seconds / batch)
        if all(len(v) >= TRIALS_PER_CANDIDATE for v in self.trials.values()):
            best = min(self.candidates, key=lambda c: min(self.trials[str(c)]))
            self.chosen, self.source = best, "measured"
        self._save()

    def _save(self) -> None:
        if self.store is None:
            return
        data = self._read()
        if self.decided:
            data[self.key] = {
                "micro_batch": self.chosen,
                "images_per_s_best": {k: (1.0 / min(v) if v else None) for k, v in self.trials.items()},
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        else:
            data[self.key] = {"trials": self.trials}
        with contextlib.suppress(OSError):  # a read-only cache only costs the re-measurement
            self.store.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.store, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def describe(self) -> dict[str, Any]:
        """``micro_batch`` (the size, or ``"measuring"``) and where it came from; while measuring, how far
        the measurement is (it only uses batches of at least :data:`TUNE_MIN_BATCH` images, so short
        recordings run whole batches and leave it where it was)."""
        if self.decided:
            return {"micro_batch": self.chosen, "micro_batch_source": self.source}
        done = sum(min(len(v), TRIALS_PER_CANDIDATE) for v in self.trials.values())
        return {"micro_batch": "measuring", "micro_batch_source":
                f"measuring: {done} of {TRIALS_PER_CANDIDATE * len(self.trials)} timed trials so far (kept in "
                f"{self.store or 'memory'}); batches under {TUNE_MIN_BATCH} images run whole and are not trials"}


def _page_faults() -> int | None:
    """This process's minor page faults so far, while the heap allocator is in force (else ``None``:
    with glibc's default allocator every large tensor faults on every call, so faults tell nothing)."""
    if allocator_policy() != "heap":
        return None
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Unix
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


# ----------------------------------------------------------------------------- embedders
def _amp(dtype: torch.dtype | None, device: torch.device):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class Embedder:
    """``images (B, 3, 224, 224) in [0, 1] -> (B, 192)`` float32 embeddings with one chosen form.

    Built by :func:`get_embedder`; call it like the model. :meth:`describe` says which form ran
    (backend, precision, device, micro-batch size and, for reduced precision, the error measured
    against float32 on the first images).
    """

    backend: str
    precision: str
    device: torch.device
    run: Callable[[torch.Tensor], torch.Tensor]
    tuner: MicroBatchTuner | None = None
    form: str = ""
    reference: Callable[[torch.Tensor], torch.Tensor] | None = None  # float32 form for the error check
    measured_error: dict[str, Any] | None = None
    calls: int = 0
    images: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images)
        b = int(images.shape[0])
        tuning = self.tuner is not None and not self.tuner.decided
        size = self.tuner.size_for(b) if self.tuner is not None else None
        faults0 = _page_faults() if tuning else None
        t0 = time.perf_counter()
        with torch.inference_mode():
            if size is None or b <= size:
                out = self.run(images)
            else:
                out = torch.cat([self.run(part) for part in images.split(size)])
        dt = time.perf_counter() - t0
        if self.tuner is not None:
            faults1 = _page_faults() if faults0 is not None else None
            self.tuner.record(size, b, dt, None if faults0 is None or faults1 is None else faults1 - faults0)
        self.calls, self.images, self.seconds = self.calls + 1, self.images + b, self.seconds + dt
        out = out.float()
        if self.reference is not None and self.measured_error is None:
            self._measure(images, out)
        return out

    def _measure(self, images: torch.Tensor, out: torch.Tensor) -> None:
        n = min(4, int(images.shape[0]))
        with torch.inference_mode():
            ref = self.reference(images[:n]).float()  # type: ignore[misc]
        got = out[:n]
        cos = torch.nn.functional.cosine_similarity(got, ref, dim=1)
        self.measured_error = {
            "against": "float32 fast form, first images embedded",
            "images": n,
            "min_cosine": float(cos.min()),
            "max_abs": float((got - ref).abs().max()),
        }
        self.reference = None  # measured once; free the float32 copy

    def describe(self) -> dict[str, Any]:
        """What ran: backend, precision, device, form, micro-batch, measured error, throughput so far."""
        d: dict[str, Any] = {"backend": self.backend, "precision": self.precision, "device": str(self.device), "form": self.form}
        if self.device.type == "cpu":
            d["allocator"] = allocator_policy()
        if self.tuner is not None:
            d.update(self.tuner.describe())
        if self.measured_error is not None:
            d["error_vs_fp32"] = self.measured_error
        d.update(self.extra)
        return d


def _version(t: torch.Tensor) -> int:
    try:
        return int(t._version)
    except RuntimeError:  # an inference-mode tensor cannot change in place outside inference mode
        return -1


def _stamp(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is modified in place, replaced or moved."""
    return tuple((t.data_ptr(), _version(t), t.device.type) for t in itertools.chain(model.parameters(), model.buffers())) + (
        bool(getattr(model, "legacy_zero_attention_biases", False)),
    )


_embedders: "weakref.WeakKeyDictionary[nn.Module, dict[tuple, tuple[tuple, Embedder]]]" = weakref.WeakKeyDictionary()


def clear_cache() -> None:
    """Forget every embedder built so far (they are rebuilt on the next call)."""
    with _lock:
        _embedders.clear()
        _loaded.clear()


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _tuning_key(backend: str, precision: str, device: torch.device) -> str:
    form = f"form={FORM_VERSION}|" if backend == "torch" else ""
    alloc = f"alloc={allocator_policy()}|" if device.type == "cpu" else ""
    return (f"{cpu_model()}|threads={torch.get_num_threads()}|torch={torch.__version__}|{form}tune={TUNER_VERSION}|{alloc}"
            f"{backend}|{precision}|{device.type}")


def _tuner(backend: str, precision: str, plan: DevicePlan, micro_batch: int | None | str) -> MicroBatchTuner | None:
    fixed = _env_micro_batch() if micro_batch == "auto" else micro_batch
    if not plan.tune_micro_batch and fixed == "auto":
        return None  # CUDA: whole batches
    cands = ONNX_CANDIDATES if backend == "onnx" else CPU_CANDIDATES
    store = _cache_root() / "runtime" / "tuning.json"
    return MicroBatchTuner(_tuning_key(backend, precision, plan.device), cands, store, fixed)


def onnx_model_path(model: TinyBioMoE, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the ONNX graph of ``model``'s current weights is cached (``<cache>/onnx/<hash>.onnx``)."""
    from .._version import __version__
    from .export import DEFAULT_OPSET
    from .weights import tensors_sha256

    digest = tensors_sha256(model.state_dict())[:20]
    legacy = "-legacy0" if getattr(model, "legacy_zero_attention_biases", False) else ""
    root = Path(cache_dir) if cache_dir is not None else _cache_root()
    return root / "onnx" / f"tiny-biomoe-{digest}{legacy}-opset{DEFAULT_OPSET}-v{__version__}.onnx"


def _build_torch(model: nn.Module, precision: str, plan: DevicePlan, micro_batch: int | None | str) -> Embedder:
    if isinstance(model, FastTinyBioMoE):  # a fast form given by the caller: used as it is
        return Embedder("torch", "bf16" if model.bf16 else "fp32", plan.device, model, None, form="FastTinyBioMoE (given)")
    if not isinstance(model, TinyBioMoE):  # another module with the model's interface (e.g. a test double)
        return Embedder("torch", precision, plan.device, model, None, form=f"{type(model).__name__} (as given)")
    bf16 = plan.autocast is torch.bfloat16
    fast = FastTinyBioMoE(model, channels_last=plan.channels_last, micro_batch=None, bf16=bf16)
    fast.check_inputs = False  # the embedder checks once per call
    if plan.autocast is torch.float16:
        fast.amp_dtype = torch.float16
    fast = fast.to(plan.device)
    ref = None
    if plan.autocast is not None:
        ref_net = FastTinyBioMoE(model, channels_last=plan.channels_last, micro_batch=None).to(plan.device)
        ref_net.check_inputs = False
        ref = ref_net
    parts = ["folded batch norms", "channels-last" if plan.channels_last else "NCHW", f"{fast.spectral.upper()} gating"]
    if plan.device.type == "cpu" and fast.fuse:
        parts.append("oneDNN conv/linear + activation fusion")
    if bf16:
        parts.append("bf16 weights")
    elif plan.autocast is not None:
        parts.append(f"{precision} autocast")
    form = f"FastTinyBioMoE ({', '.join(parts)})"
    return Embedder("torch", precision, plan.device, fast, _tuner("torch", precision, plan, micro_batch), form=form, reference=ref)


def _build_onnx(model: nn.Module, precision: str, plan: DevicePlan, micro_batch: int | None | str) -> Embedder:
    from ..errors import require

    if precision != "fp32":
        raise InputError(f"the onnx backend runs float32 only; use backend 'torch' for precision {precision!r}")
    if not isinstance(model, TinyBioMoE):
        raise InputError(f"the onnx backend exports a TinyBioMoE; got {type(model).__name__} (use backend 'torch')")
    ort = require("onnxruntime", "export", "The onnx backend")
    require("onnx", "export", "The onnx backend")
    require("onnxscript", "export", "The onnx backend")
    from .export import OnnxEmbedder, export_onnx

    providers = ["CPUExecutionProvider"]
    if plan.device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise InputError("the onnx backend on CUDA needs onnxruntime-gpu (CUDAExecutionProvider is not available); "
                             "use --device cpu or --backend torch")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    elif plan.device.type != "cpu":
        raise InputError(f"the onnx backend runs on cpu or cuda, not {plan.device.type}; use backend 'torch'")
    path = onnx_model_path(model)
    built = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        import logging

        logging.getLogger("tiny_biomoe").info(f"exporting the model to ONNX once for these weights (10-30 s), "
                                              f"cached as {path}")
        export_onnx(model, path, metadata={"tensors_sha256": path.stem.split("-")[2]})
        built = True
    sess = OnnxEmbedder(path, threads=torch.get_num_threads() if plan.device.type == "cpu" else None,
                        providers=providers, spin=False)  # spinning ORT threads starve other processes

    def run(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(sess.session.run(["embedding"], {sess.input_name: sess._prepare(images)})[0]))

    emb = Embedder("onnx", "fp32", plan.device, run, _tuner("onnx", "fp32", plan, micro_batch) if plan.device.type == "cpu" else None,
                   form=f"ONNX Runtime ({providers[0]})")
    emb.extra = {"onnx_file": str(path), "onnx_exported_now": built}
    return emb


def get_embedder(
    model: nn.Module,
    *,
    backend: str | None = None,
    precision: str | None = None,
    micro_batch: int | None | str = "auto",
) -> Embedder:
    """The inference form of ``model`` for ``backend`` / ``precision`` on the model's device, built once.

    Args:
        model: a :class:`TinyBioMoE` (converted; never modified), a fast form (used as is) or another
            module with the model's interface (used as is).
        backend: ``"torch"`` or ``"onnx"`` (default: :func:`current_settings`).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (CUDA) (default: :func:`current_settings`).
        micro_batch: ``"auto"`` (measured, cached per CPU; ``$TINY_BIOMOE_MICRO_BATCH`` overrides),
            ``None`` (whole batches) or a size.

    The same embedder is returned while the model's tensors are unchanged; after an optimiser step,
    ``load_state_dict`` or ``.to()`` a new one is built from the new weights.
    """
    settings = current_settings()
    backend = check_backend(backend or settings["backend"])
    precision = check_precision(precision or settings["precision"])
    if micro_batch != "auto" and micro_batch is not None and (not isinstance(micro_batch, int) or micro_batch < 1):
        raise InputError(f"micro_batch must be 'auto', None or a positive integer, got {micro_batch!r}")
    dev = _model_device(model)
    key = (backend, precision, dev.type, dev.index, str(micro_batch), torch.get_num_threads())
    stamp = _stamp(model)
    with _lock:
        per_model = _embedders.get(model)
        hit = per_model.get(key) if per_model is not None else None
        if hit is not None and hit[0] == stamp:
            return hit[1]
    plan = device_plan(dev, precision)
    if dev.type == "cpu":
        use_heap_allocator()  # large activations stay in the heap between calls (see tiny_biomoe._allocator)
    build = _build_onnx if backend == "onnx" else _build_torch
    emb = build(model, precision, plan, micro_batch)
    with _lock:
        _embedders.setdefault(model, {})[key] = (stamp, emb)
    return emb


# ----------------------------------------------------------------------------- loaded weights
_loaded: dict[tuple, tuple[tuple, tuple, nn.Module, Any]] = {}


def _file_stamp(source: Any) -> tuple:
    with contextlib.suppress(OSError, TypeError, ValueError):
        p = Path(str(source))
        if p.is_dir():
            return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(p.iterdir()) if f.is_file())
        st = p.stat()
        return (st.st_mtime_ns, st.st_size)
    return ()


def load_model_cached(weights: "str | os.PathLike", device: "str | torch.device | None" = "auto") -> tuple[nn.Module, Any]:
    """:func:`~tiny_biomoe.model.load_model` once per process for the same weights, device and
    environment (``$TINY_BIOMOE_WEIGHTS``, ``$TINY_BIOMOE_CACHE``); loaded again when the weights
    file changes on disk or the model's tensors were changed. Returns ``(model, WeightsInfo)``."""
    from .._device import resolve_device
    from .provenance import load_model

    dev = resolve_device(device)
    key = (str(weights), str(dev), os.environ.get("TINY_BIOMOE_WEIGHTS"), os.environ.get("TINY_BIOMOE_CACHE"))
    with _lock:
        hit = _loaded.get(key)
    if hit is not None:
        fstamp, mstamp, model, info = hit
        if fstamp == _file_stamp(getattr(info, "source", None)) and mstamp == _stamp(model):
            return model, info
    model, info = load_model(weights, device=dev)
    with _lock:
        _loaded[key] = (_file_stamp(info.source), _stamp(model), model, info)
    return model, info
