"""The inference runtime: the fast form by default, built once, rebuilt on new weights; backends,
precisions, device plans and the micro-batch tuner (correctness only, never speed)."""

from __future__ import annotations

import copy
import json
import os
import sys

import numpy as np
import pytest
import torch

from tiny_biomoe import InputError
from tiny_biomoe.errors import MissingDependencyError
from tiny_biomoe.model import runtime
from tiny_biomoe.model.fast import FastTinyBioMoE, bf16_supported
from tiny_biomoe.model.runtime import (
    MicroBatchTuner,
    device_plan,
    get_embedder,
    inference_settings,
    load_model_cached,
    set_defaults,
)

# spec/MODEL.md's float32 tolerances (see tests/model/test_fast.py for why they do not depend on the CPU)
EMB_TOL = 1e-4


@pytest.fixture(autouse=True)
def _fresh_runtime():
    runtime.clear_cache()
    set_defaults()
    yield
    runtime.clear_cache()
    set_defaults()


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def test_default_is_the_fast_fp32_form_and_matches_the_fixtures(reference_model, reference_io):
    x, exp = reference_io
    emb = get_embedder(reference_model)
    assert isinstance(emb.run, FastTinyBioMoE) and not emb.run.bf16
    assert (emb.backend, emb.precision) == ("torch", "fp32")
    assert _max_err(emb(x), exp["embedding"]) < EMB_TOL
    with torch.inference_mode():  # and the eager module, the independent computation, agrees
        assert _max_err(emb(x), reference_model(x)) < EMB_TOL
    assert get_embedder(reference_model) is emb  # built once, reused
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in emb.run.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in reference_model.modules())  # the model is untouched


def test_changed_weights_are_never_served_stale(reference_model, reference_io):
    x, _ = reference_io
    model = copy.deepcopy(reference_model)
    first = get_embedder(model)
    before = first(x[:2]).clone()
    with torch.no_grad():  # what an optimiser step does: in-place updates
        model.enc1.block1[0].attn.complex_weight.mul_(1.5)
        model.enc2.patch_embed[0].bn.running_mean.add_(0.3)
    second = get_embedder(model)
    assert second is not first
    with torch.inference_mode():
        want = model(x[:2])
    got = second(x[:2])
    assert _max_err(got, want) < EMB_TOL and _max_err(got, before) > 1e-3


def test_micro_batches_give_the_same_numbers(reference_model, reference_io):
    x, exp = reference_io
    for mb in (None, 4, 1):
        emb = get_embedder(reference_model, micro_batch=mb)
        assert emb.tuner is not None and emb.tuner.chosen == mb
        assert _max_err(emb(x), exp["embedding"]) < EMB_TOL
    with pytest.raises(InputError, match="micro_batch"):
        get_embedder(reference_model, micro_batch=0)


def test_tuner_measures_real_calls_then_caches_the_choice(tmp_path):
    store = tmp_path / "runtime" / "tuning.json"
    t = MicroBatchTuner("cpu-x|threads=2", (None, 8, 2), store)
    assert not t.decided and t.size_for(4) is None  # small batches are never split, nor timed
    t.record(None, 4, 1.0)
    seconds = {None: 3.2, 8: 1.6, 2: 2.4}  # seconds per batch of 32 (once warm)
    order = []
    for _ in range(2):
        for _ in range(3):
            for warm in (False, True):  # each size runs twice in a row: a warm-up, then the timed call
                size = t.size_for(32)
                order.append(size)
                t.record(size, 32, seconds[size] if warm else 0.01)  # warm-ups are not counted, even when fast
    assert order == [None, None, 8, 8, 2, 2] * 2
    assert t.decided and t.chosen == 8 and t.source == "measured"
    rec = json.loads(store.read_text())["cpu-x|threads=2"]
    assert rec["micro_batch"] == 8 and rec["images_per_s_best"]["8"] == pytest.approx(20.0)
    again = MicroBatchTuner("cpu-x|threads=2", (None, 8, 2), store)
    assert again.decided and again.chosen == 8 and again.size_for(32) == 8
    other = MicroBatchTuner("cpu-y|threads=1", (None, 8, 2), store)  # another CPU measures for itself
    assert not other.decided
    fixed = MicroBatchTuner("cpu-x|threads=2", (None, 8, 2), store, fixed=None)
    assert fixed.decided and fixed.size_for(64) is None


def test_tuner_times_a_size_only_on_a_batch_shape_it_has_run(tmp_path):
    """A batch of a new size pays kernel creation: the demo's 32, 32, 26 batches must not time whole batches on 26."""
    t = MicroBatchTuner("k", (None, 8), None)
    calls = []
    for b in (32, 32, 26, 32, 26, 26, 32, 32, 32):
        size = t.size_for(b)
        calls.append((size, b))
        t.record(size, b, 1.0 if (size, b) not in calls[:-1] else 0.5 * b / 32)  # first of a shape: slow
    # timed: (None, 32) as 2nd call, (8, 32) after its warm-ups on 26 and 32, (None, 26) after (None, 26) ran once
    assert calls[:4] == [(None, 32), (None, 32), (8, 26), (8, 32)]
    assert sorted(len(v) for v in t.trials.values()) == [2, 2] and t.decided
    assert all(s == pytest.approx(0.5 / 32) for v in t.trials.values() for s in v)  # no first-of-a-shape time counted


def test_tuner_does_not_time_calls_that_grew_the_heap():
    """The second call of a new batch shape often still grows the heap (page faults) and runs at half
    speed: it must not be timed (the demo chose micro-batches of 8 over faster whole batches that way)."""
    t = MicroBatchTuner("k", (None, 8), None)
    calls = []

    def call(faults: int | None, seconds: float) -> None:
        size = t.size_for(32)
        calls.append(size)
        t.record(size, 32, seconds, faults)

    call(150_000, 9.0)  # warm-up (first call of the shape)
    call(100_000, 9.0)  # grew the heap: not timed, the same size again
    call(runtime.FAULT_PAGES + 1, 9.0)  # still growing
    call(0, 0.5)  # timed
    assert calls == [None] * 4 and t.trials["None"] == [pytest.approx(0.5 / 32)]
    call(None, 9.0)  # 8: warm-up
    for _ in range(runtime.MAX_GROWING_CALLS):
        call(10**6, 9.0)  # a size that keeps faulting ...
    call(10**6, 1.0)  # ... is timed after MAX_GROWING_CALLS tries, so tuning always ends
    assert calls[4:] == [8] * (runtime.MAX_GROWING_CALLS + 2) and t.trials["8"] == [pytest.approx(1.0 / 32)]
    call(runtime.FAULT_PAGES, 0.7)  # None again: the previous call was of another size, so a warm-up
    call(None, 0.6)  # faults not measured (glibc's default allocator): timed as before
    assert t.trials["None"] == [pytest.approx(0.5 / 32), pytest.approx(0.6 / 32)]


def test_embedder_reports_page_faults_only_under_the_heap_allocator(reference_model, monkeypatch):
    seen = []
    monkeypatch.setattr(MicroBatchTuner, "record", lambda self, size, b, dt, faults=None: seen.append(faults))
    emb = runtime.get_embedder(reference_model, micro_batch="auto")
    emb.tuner = MicroBatchTuner("test", (None,), None)
    x = torch.rand(2, 3, 224, 224)
    heap = runtime.allocator_policy() == "heap"  # glibc (Linux): get_embedder put it in force
    emb(x)
    monkeypatch.setattr(runtime, "allocator_policy", lambda: "system")
    emb(x)
    assert (isinstance(seen[0], int) and seen[0] >= 0) if heap else seen[0] is None
    assert seen[1] is None


def test_cpu_model_tells_apart_cpus_that_share_a_name():
    """VMs show "AMD EPYC" for Zen 4 and Zen 5 alike; their tunings must not be shared."""
    def info(family: int, model: int) -> str:
        block = f"processor\t: {{}}\nvendor_id\t: AuthenticAMD\ncpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: AMD EPYC\n"
        return block.format(0) + "\n" + block.format(1).replace(f": {model}\n", ": 99\n")  # only the first block counts

    zen4, zen5 = runtime.cpu_model(info(25, 17)), runtime.cpu_model(info(26, 2))
    assert zen4 == "AMD EPYC (family 25, model 17)" and zen5 == "AMD EPYC (family 26, model 2)"
    assert runtime.cpu_model("model name : Some CPU\n") == "Some CPU"  # no numbers (other platforms): the name
    assert runtime.cpu_model("") not in ("", "AMD EPYC")  # no /proc/cpuinfo: platform's name, never empty


def test_tuning_key_names_cpu_threads_and_form_version(monkeypatch):
    key = runtime._tuning_key("torch", "fp32", torch.device("cpu"))
    assert runtime.cpu_model() in key and f"threads={torch.get_num_threads()}" in key and "form=" in key
    assert f"tune={runtime.TUNER_VERSION}|" in key  # choices of an earlier tuning procedure are re-measured
    monkeypatch.setattr(runtime, "FORM_VERSION", runtime.FORM_VERSION + 1)  # a changed form is re-measured
    assert runtime._tuning_key("torch", "fp32", torch.device("cpu")) != key
    assert "form=" not in runtime._tuning_key("onnx", "fp32", torch.device("cpu"))
    # the allocator policy changes which size is fastest (whole batches gain most from the heap policy)
    assert f"alloc={runtime.allocator_policy()}|" in key
    monkeypatch.setattr(runtime, "allocator_policy", lambda: "other")
    assert "alloc=other|" in runtime._tuning_key("torch", "fp32", torch.device("cpu"))


def test_tuner_adds_up_trials_of_short_runs(tmp_path):
    store = tmp_path / "tuning.json"
    seconds = {None: 1.0, 4: 3.0}
    for run in range(2):  # two processes, each embedding too little to decide alone
        t = MicroBatchTuner("k", (None, 4), store)
        assert not t.decided
        for _ in range(2 * (2 if run == 0 else 1)):  # each trial: a warm-up call and a timed one
            size = t.size_for(16)
            t.record(size, 16, seconds[size])
    t = MicroBatchTuner("k", (None, 4), store)
    assert not t.decided and sum(map(len, t.trials.values())) == 3
    d = t.describe()
    assert d["micro_batch"] == "measuring" and d["micro_batch_source"].startswith("measuring: 3 of 4 timed trials")
    for _ in range(2):
        size = t.size_for(16)
        t.record(size, 16, seconds[size])
    assert t.decided and t.chosen is None
    assert MicroBatchTuner("k", (None, 4), store).chosen is None


def test_tuning_store_and_env_override(reference_model, monkeypatch):
    monkeypatch.setenv("TINY_BIOMOE_MICRO_BATCH", "3")
    assert get_embedder(reference_model).tuner.chosen == 3
    runtime.clear_cache()
    monkeypatch.setenv("TINY_BIOMOE_MICRO_BATCH", "none")
    assert get_embedder(reference_model).tuner.chosen is None
    runtime.clear_cache()
    monkeypatch.setenv("TINY_BIOMOE_MICRO_BATCH", "lots")
    with pytest.raises(InputError, match="TINY_BIOMOE_MICRO_BATCH"):
        get_embedder(reference_model)
    runtime.clear_cache()
    monkeypatch.delenv("TINY_BIOMOE_MICRO_BATCH")
    emb = get_embedder(reference_model)
    assert emb.tuner.store.parent.parent == __import__("pathlib").Path(os.environ["TINY_BIOMOE_CACHE"])
    assert runtime.cpu_model() in emb.tuner.key


def test_device_plans_cpu_and_cuda_branches(monkeypatch):
    cpu = device_plan("cpu", "fp32")
    assert cpu.tune_micro_batch and cpu.channels_last and cpu.autocast is None and not cpu.pin_memory
    cuda = device_plan("cuda", "fp16", check=False)  # the CUDA branch, planned without a GPU
    assert not cuda.tune_micro_batch and cuda.channels_last and cuda.pin_memory and cuda.autocast is torch.float16
    assert device_plan("cuda:1", "bf16", check=False).autocast is torch.bfloat16
    with pytest.raises(InputError, match="fp16.*CUDA"):
        device_plan("cpu", "fp16")
    monkeypatch.setattr(runtime, "bf16_supported", lambda dev: False)
    with pytest.raises(InputError, match="no fast bf16 support.*fp32"):
        device_plan("cpu", "bf16")
    with pytest.raises(InputError, match="unknown precision"):
        device_plan("cpu", "int4")
    # a CUDA plan makes no tuner: whole batches
    assert runtime._tuner("torch", "fp32", cuda, "auto") is None


def test_settings_defaults_context_and_environment(reference_model, monkeypatch):
    assert runtime.current_settings() == {"backend": "torch", "precision": "fp32"}
    monkeypatch.setenv("TINY_BIOMOE_PRECISION", "float32")
    assert runtime.current_settings()["precision"] == "fp32"
    with inference_settings(backend="onnx"):
        assert runtime.current_settings()["backend"] == "onnx"
    assert runtime.current_settings()["backend"] == "torch"
    set_defaults(precision="fp32")
    assert runtime.current_settings()["precision"] == "fp32"
    with pytest.raises(InputError, match="unknown backend"):
        set_defaults(backend="tensorrt")
    with pytest.raises(InputError, match="unknown backend"):
        get_embedder(reference_model, backend="tvm")


def test_bf16_embedder_reports_its_measured_error(reference_model, reference_io):
    x, exp = reference_io
    if not bf16_supported("cpu"):
        with pytest.raises(InputError, match="bf16"):
            get_embedder(reference_model, precision="bf16")
        return
    emb = get_embedder(reference_model, precision="bf16")
    out = emb(x)
    d = emb.describe()
    assert d["precision"] == "bf16" and d["error_vs_fp32"]["images"] == 4
    assert d["error_vs_fp32"]["min_cosine"] >= 0.99  # bound from bf16's 8-bit significand (test_fast.py)
    cos = torch.nn.functional.cosine_similarity(out, exp["embedding"], dim=1)
    assert float(cos.min()) >= 0.99
    # measured against an independent float32 computation of the same images
    assert d["error_vs_fp32"]["max_abs"] == pytest.approx(_max_err(out[:4], exp["embedding"][:4]), abs=2e-4)


def test_given_forms_and_doubles_are_used_as_they_are(reference_model, reference_io):
    x, exp = reference_io
    fast = FastTinyBioMoE(reference_model, micro_batch=None)
    assert get_embedder(fast).run is fast

    class Double(torch.nn.Module):
        embed_dim, img_size = 192, 224

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, images):
            return images.mean(dim=(2, 3)).repeat(1, 64) * self.w

    d = Double()
    emb = get_embedder(d)
    assert emb.run is d and emb(x[:2]).shape == (2, 192)
    with pytest.raises(InputError, match="onnx backend exports a TinyBioMoE"):
        get_embedder(d, backend="onnx")


def test_onnx_backend_needs_onnxruntime(reference_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"tiny-biomoe\[export\]"):
        get_embedder(reference_model, backend="onnx")
    with pytest.raises(InputError, match="float32 only"):
        get_embedder(reference_model, backend="onnx", precision="bf16")


@pytest.mark.slow  # one ONNX export: ~25 s on 2 shared cores
def test_onnx_backend_exports_once_per_weights_hash(reference_model, reference_io):
    pytest.importorskip("onnxruntime")
    x, exp = reference_io
    emb = get_embedder(reference_model, backend="onnx", micro_batch=4)  # 6 images: chunks of 4 and 2
    path = runtime.onnx_model_path(reference_model)
    assert path.exists() and path.parent.parent == __import__("pathlib").Path(os.environ["TINY_BIOMOE_CACHE"])
    assert emb.describe()["onnx_exported_now"] is True
    assert _max_err(emb(x), exp["embedding"]) < EMB_TOL
    runtime.clear_cache()  # a new process: the cached file is reused, not exported again
    again = get_embedder(reference_model, backend="onnx")
    assert again.describe()["onnx_exported_now"] is False and again.describe()["onnx_file"] == str(path)
    other = copy.deepcopy(reference_model)
    with torch.no_grad():
        other.ln_out.bias.add_(0.1)
    assert runtime.onnx_model_path(other) != path  # other weights, other file


def test_load_model_cached_reloads_changed_files(reference_checkpoint, tmp_path):
    import shutil

    ckpt = tmp_path / "w.pt"
    shutil.copy(reference_checkpoint, ckpt)
    m1, info = load_model_cached(str(ckpt), device="cpu")
    m2, _ = load_model_cached(str(ckpt), device="cpu")
    assert m1 is m2 and info.sha256
    os.utime(ckpt, ns=(ckpt.stat().st_atime_ns, ckpt.stat().st_mtime_ns + 10**9))
    m3, _ = load_model_cached(str(ckpt), device="cpu")
    assert m3 is not m1
    with torch.no_grad():
        m3.ln_out.bias.add_(1.0)  # someone changed the shared model: a clean copy is loaded
    m4, _ = load_model_cached(str(ckpt), device="cpu")
    assert m4 is not m3 and torch.equal(m4.ln_out.bias, m1.ln_out.bias)


def test_embed_signal_takes_backend_and_precision(reference_model):
    from tiny_biomoe.embed import embed_signal

    sig = np.sin(np.arange(2000) / 50.0) + 5.0
    res = embed_signal(sig, sampling_rate=100.0, modality="eda", kinds="waveform", model=reference_model,
                       precision="fp32", backend="torch")
    inf = res.metadata["inference"]
    assert inf["backend"] == "torch" and inf["precision"] == "fp32" and "FastTinyBioMoE" in inf["form"]
    with torch.inference_mode():  # the default path equals the eager model within float32 tolerance
        from tiny_biomoe.representations import render
        from tiny_biomoe.signals.windowing import signal_windows
        from tiny_biomoe.signals.modalities import get_modality

        wins = signal_windows(sig, 100.0, get_modality("eda"), None, None)
        want = reference_model(render(wins.data, kind="waveform", sampling_rate=wins.sampling_rate,
                                      modality="eda")).numpy()
    assert np.abs(res.embeddings["waveform"] - want).max() < EMB_TOL
    with pytest.raises(InputError, match="fp16"):
        embed_signal(sig, sampling_rate=100.0, modality="eda", kinds="waveform", model=reference_model,
                     precision="fp16")
    with pytest.raises(TypeError):  # keyword-only
        embed_signal(sig, 100.0, "eda", "waveform", reference_model, None, None, 32, "auto", True, False, None,
                     None, None, 0.5, None, "onnx")


def _csv(tmp_path):
    t = np.arange(0, 40, 0.01)
    path = tmp_path / "eda.csv"
    np.savetxt(path, np.c_[t, 5 + np.sin(t / 3)], delimiter=",", header="time,eda", comments="")
    return path


def test_cli_backend_precision_and_stage_times(reference_checkpoint, tmp_path, capsys, monkeypatch):
    from tiny_biomoe.cli import main
    from tiny_biomoe.embed import load_embeddings

    csv, out = _csv(tmp_path), tmp_path / "e.npz"
    base = ["embed", str(csv), "--modality", "eda", "--weights", str(reference_checkpoint), "--no-progress"]
    assert main(base + ["-o", str(out), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err
    assert "fp16" in err and "CUDA" in err and not out.exists()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(base + ["-o", str(out), "--backend", "onnx"]) == 2
    assert "tiny-biomoe[export]" in capsys.readouterr().err and not out.exists()
    assert main(base + ["-o", str(out), "--backend", "torch", "--precision", "fp32", "-v"]) == 0
    err = capsys.readouterr().err
    assert "time per stage:" in err and "model" in err and "render" in err
    inf = load_embeddings(out).metadata["inference"]
    assert inf["backend"] == "torch" and inf["precision"] == "fp32"
    assert runtime.current_settings() == {"backend": "torch", "precision": "fp32"}  # restored after the command
    with pytest.raises(SystemExit) as exc:  # not a choice: argparse's usage error
        main(base + ["-o", str(out), "--precision", "int8"])
    assert exc.value.code == 2


def test_cli_thread_policy_is_decided_before_torch_loads(tmp_path):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = ("import os, sys; from tiny_biomoe.cli import main\n"
            "try:\n    main(['info', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)")
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert got[-2:] == ["PASSIVE", "False"]  # set while torch was not loaded yet
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's choice wins
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert got[-2] == "ACTIVE"
