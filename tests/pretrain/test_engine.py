"""The training engine: exact resume after an interruption, two-process DDP keeps replicas identical,
idle heads stay untouched, the schedule and loss weighting follow their formulas, export loads."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tiny_biomoe import TinyBioMoE
from tiny_biomoe.cli import main as cli_main
from tiny_biomoe.pretrain import (
    MultiTaskModel,
    MultiTaskSampler,
    config_from_dict,
    cosine_with_warmup,
    latest_checkpoint,
    open_task,
    prepare_shards,
    pretrain,
    task_probabilities,
)
from tiny_biomoe.pretrain import engine as engine_mod

from ._util import tiny_config_dict


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, OpenMP threads spinning against each other
    made a training step up to 20x slower. The previous setting is restored for later tests."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pretrain")
    prepare_shards(config_from_dict(tiny_config_dict(root)), progress=False)
    return root


def _cfg(root: Path, out: Path, **train):
    d = tiny_config_dict(root, **train)
    d["train"]["output_dir"] = str(out)
    d["train"].setdefault("num_threads", None)
    d["train"]["num_threads"] = train.get("num_threads")  # in-process runs keep pytest's thread setting
    return config_from_dict(d)


def _params(result) -> dict[str, torch.Tensor]:
    state = {f"backbone.{k}": v for k, v in result.model.state_dict().items()}
    state.update({f"heads.{k}": v for k, v in result.heads.state_dict().items()})
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)
    assert worst <= atol, worst


def _train_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["split"] == "train"]


N_STEPS = 4


@pytest.fixture(scope="module")
def straight(shard_root, tmp_path_factory):
    """An uninterrupted run of N_STEPS steps (2 micro-batches each) that the resumed runs must reproduce."""
    out = tmp_path_factory.mktemp("straight")
    res = pretrain(_cfg(shard_root, out, steps=N_STEPS, grad_accum=2), resume="never")
    assert res.step == N_STEPS and res.export_dir is not None
    return res


def test_killed_run_resumes_exactly(shard_root, straight, tmp_path, monkeypatch):
    n = N_STEPS

    # a run that checkpoints every 2 steps and is killed during step 4 (after the step-2 checkpoint)
    cfg_b = _cfg(shard_root, tmp_path / "b", steps=n, grad_accum=2, ckpt_every=2)
    real = engine_mod._images_for
    calls = {"n": 0}

    def crash_on_7th_micro_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt("simulated kill")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_mod, "_images_for", crash_on_7th_micro_batch)
    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg_b)
    monkeypatch.setattr(engine_mod, "_images_for", real)
    assert latest_checkpoint(tmp_path / "b").name == "step-00000002"
    assert len(_train_rows(tmp_path / "b")) >= 3  # rows of step 3 were logged before the kill...
    resumed = pretrain(cfg_b)  # resume="auto" picks the step-2 checkpoint
    assert resumed.step == n
    _assert_same(_params(straight), _params(resumed))
    # ...and were replaced: the metrics log equals the uninterrupted run's
    ra, rb = _train_rows(straight.output_dir), _train_rows(tmp_path / "b")
    assert [(r["step"], r["task"], r["n"]) for r in ra] == [(r["step"], r["task"], r["n"]) for r in rb]
    np.testing.assert_allclose([float(r["loss"]) for r in ra], [float(r["loss"]) for r in rb], rtol=1e-6)


def test_planned_stop_and_resume_and_export(shard_root, straight, tmp_path):
    cfg = _cfg(shard_root, tmp_path / "s", steps=N_STEPS, grad_accum=2)
    part = pretrain(cfg, stop_at_step=1)
    assert part.stopped and part.step == 1 and part.export_dir is None
    assert (part.checkpoint / "state.pt").is_file() and (part.checkpoint / "rank-00000.pt").is_file()
    stale = part.checkpoint.parent / "step-00000099.partial"  # a kill while saving a step never saved again
    stale.mkdir()
    (stale / "rank-00000.pt").write_bytes(b"")
    done = pretrain(cfg)
    assert not stale.exists() and latest_checkpoint(cfg.train.output_dir).name == f"step-{N_STEPS:08d}"
    _assert_same(_params(straight), _params(done))
    # the exported backbone loads through the public API and carries the pretraining metadata
    model = TinyBioMoE.from_pretrained(done.export_dir)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, done.model.state_dict()[k].cpu(), rtol=0, atol=0)
    meta = model.pretrained_cfg.get("metadata", model.pretrained_cfg)
    tasks = meta["pretraining"]["tasks"]
    assert [t["name"] for t in tasks] == ["bvp_cls", "eda_reg"]
    assert tasks[0]["representations"][0]["kind"] == "waveform" and tasks[0]["sampling_rate"] == 100.0
    assert (done.export_dir / "heads.safetensors").is_file()
    assert "Own pretraining" in (done.export_dir / "README.md").read_text()
    assert not [p for p in done.export_dir.parent.iterdir() if p.name.startswith(".")]  # no temporaries left
    from tiny_biomoe import load_model

    loaded, info = load_model(done.export_dir, device="cpu")  # what the pain pipeline calls with --weights
    assert not info.official and info.sha256
    torch.testing.assert_close(loaded.state_dict()["ln_out.weight"], model.state_dict()["ln_out.weight"], rtol=0, atol=0)
    with pytest.raises(Exception, match="already holds checkpoints"):
        pretrain(cfg, resume="never")


def test_idle_heads_are_not_updated(shard_root, tmp_path):
    cfg = _cfg(shard_root, tmp_path / "idle", steps=1)
    res = pretrain(cfg)
    # the head the sampler did not draw keeps its initial weights (no zero-grad AdamW decay)
    sizes = [1, 1]  # uniform strategy: the draw does not depend on sizes
    drawn = MultiTaskSampler(sizes, task_probabilities(sizes, "uniform"), 2, seed=cfg.train.seed).task_of(0)
    names = [t.name for t in cfg.tasks]
    init = engine_mod.build_model(cfg, {"bvp_cls": 3, "eda_reg": 1})
    assert isinstance(init, MultiTaskModel)
    idle, used = names[1 - drawn], names[drawn]
    torch.testing.assert_close(res.heads[idle].weight.detach(), init.heads[idle].weight, rtol=0, atol=0)
    assert not torch.equal(res.heads[used].weight.detach(), init.heads[used].weight)


def test_schedule_and_uncertainty_weighting_formulas():
    f = cosine_with_warmup(10, warmup_steps=2, min_lr_ratio=0.1)
    assert [f(0), f(1)] == [0.5, 1.0]
    for s in range(2, 11):
        expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 2) / 8))
        assert f(s) == pytest.approx(expected, abs=1e-12)
    from tiny_biomoe.pretrain.config import TaskConfig, SourceConfig
    t_cls = TaskConfig(name="a", source=SourceConfig(), modality="bvp", target="class", weight=2.0)
    t_reg = TaskConfig(name="b", source=SourceConfig(), modality="eda", target="regression")
    L, s = torch.tensor(1.7), torch.tensor(0.3)
    assert float(engine_mod.weighted_loss(L, t_cls, "fixed", None)) == pytest.approx(3.4)
    assert float(engine_mod.weighted_loss(L, t_cls, "uncertainty", s)) == pytest.approx(math.exp(-0.3) * 1.7 + 0.15)
    assert float(engine_mod.weighted_loss(L, t_reg, "uncertainty", s)) == pytest.approx(0.5 * math.exp(-0.3) * 1.7 + 0.15)


_WORKER = """
import json, os, sys
from pathlib import Path
import torch
import torch.distributed as dist
from tiny_biomoe.pretrain import config_from_dict, pretrain

def params(res):
    state = {f"backbone.{k}": v.detach().cpu() for k, v in res.model.state_dict().items()}
    state.update({f"heads.{k}": v.detach().cpu() for k, v in res.heads.state_dict().items()})
    return state

torch.set_num_threads(1)
dist.init_process_group("gloo")  # an existing group is used as is by pretrain()
d, out, rank = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), os.environ["RANK"]
straight = pretrain(config_from_dict(d))
torch.save(params(straight), out / f"rank{rank}.pt")
d["train"]["output_dir"] = str(out / "ddp-resumed")
part = pretrain(config_from_dict(d), stop_at_step=1)
assert part.stopped and dist.is_initialized()
resumed = pretrain(config_from_dict(d))
torch.save(params(resumed), out / f"rank{rank}-resumed.pt")
dist.destroy_process_group()
"""


def test_two_process_ddp_identical_replicas_and_exact_resume(shard_root, tmp_path):
    """Launched as documented for GPUs, through torchrun, here with the gloo backend on CPU."""
    import json
    import subprocess
    import sys

    d = tiny_config_dict(shard_root, steps=3, grad_accum=2, ckpt_every=3)
    d["train"]["output_dir"] = str(tmp_path / "ddp")
    (tmp_path / "cfg.json").write_text(json.dumps(d))
    (tmp_path / "worker.py").write_text(_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(tmp_path / "worker.py"), str(tmp_path / "cfg.json"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    _assert_same(r0, r1, atol=0.0)
    # stopped after step 1 and resumed by the same two processes: the same weights on each rank
    _assert_same(r0, torch.load(tmp_path / "rank0-resumed.pt", weights_only=True))
    _assert_same(r1, torch.load(tmp_path / "rank1-resumed.pt", weights_only=True))
    from tiny_biomoe.model.init import random_model

    init = random_model(d["train"]["seed"]).state_dict()
    assert any(not torch.equal(init[k], r0[f"backbone.{k}"]) for k in init)  # it did train
    ckpt = latest_checkpoint(tmp_path / "ddp")
    assert ckpt.name == "step-00000003"
    assert {p.name for p in ckpt.iterdir()} == {"state.pt", "rank-00000.pt", "rank-00001.pt"}
    model = TinyBioMoE.from_pretrained(tmp_path / "ddp" / "model")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, r0[f"backbone.{k}"], rtol=0, atol=0)
    meta = model.pretrained_cfg
    assert meta.get("metadata", meta)["pretraining"]["world_size"] == 2


def test_cli_prepare_and_pretrain(shard_root, tmp_path, capsys):
    import yaml

    d = tiny_config_dict(shard_root, steps=1)
    d["train"]["output_dir"] = str(tmp_path / "cli")
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(d))
    assert cli_main(["prepare-shards", "--config", str(p), "--no-progress"]) == 0
    assert cli_main(["pretrain", "--config", str(p), "--set", "train.num_threads=null", "--set", "train.tensorboard=true"]) == 0
    assert list((tmp_path / "cli" / "tensorboard").glob("events.out.tfevents.*"))
    assert "from_pretrained" in capsys.readouterr().out
    assert (tmp_path / "cli" / "model" / "model.safetensors").is_file()
    assert cli_main(["pretrain", "--config", str(p), "--set", "train.stepz=3"]) == 2
    assert "stepz" in capsys.readouterr().err


def test_task_loss_metrics_match_sklearn():
    from sklearn.metrics import accuracy_score, mean_absolute_error

    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(9, 3, generator=g), torch.randint(0, 3, (9,), generator=g)
    loss, correct = engine_mod.task_loss(logits, y, "class")
    assert float(correct) / 9 == pytest.approx(accuracy_score(y.numpy(), logits.argmax(1).numpy()))
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits, y))
    out, t = torch.randn(7, 1, generator=g), torch.rand(7, generator=g) * 3
    loss, abs_err = engine_mod.task_loss(out, t, "regression", mean=1.5, std=0.5)
    assert float(abs_err) / 7 == pytest.approx(mean_absolute_error(t.numpy(), (out[:, 0] * 0.5 + 1.5).numpy()), rel=1e-5)
    assert float(loss) == pytest.approx(float(((out[:, 0] - (t - 1.5) / 0.5) ** 2).mean()), rel=1e-5)


def test_rendering_modes_match_direct_render(shard_root):
    from tiny_biomoe.representations import render

    cfg = _cfg(shard_root, shard_root / "unused")
    task = cfg.tasks[0]  # bvp_cls: waveform + psd
    st = open_task(cfg, task)
    x, y = st.get(st.train_indices[:3])
    kinds = np.array([1, 0, 1])
    imgs, yy = engine_mod._images_for(x, y, kinds, task, st, torch.device("cpu"))
    for i, k in enumerate(kinds):
        torch.testing.assert_close(imgs[i : i + 1], render(x[i : i + 1], kind=task.representations[k],
                                                           sampling_rate=st.sampling_rate, modality="bvp"))
    np.testing.assert_array_equal(yy, y)
    task.representation_mode = "all"
    imgs, yy = engine_mod._images_for(x, y, kinds, task, st, torch.device("cpu"))
    assert imgs.shape == (6, 3, 224, 224)
    torch.testing.assert_close(imgs[3:], render(x, kind="psd", sampling_rate=st.sampling_rate, modality="bvp"))
    np.testing.assert_array_equal(yy, np.concatenate([y, y]))


def test_bf16_autocast_steps_train_and_stay_finite(shard_root, tmp_path):
    """Mixed precision on the CPU: bf16 autocast steps run, losses stay finite, master weights stay
    float32, and the numbers differ from an fp32 run of the same seed (autocast is really in effect)."""
    res = pretrain(_cfg(shard_root, tmp_path / "bf16", steps=2, precision="bf16"), resume="never")
    assert res.step == 2
    rows = _train_rows(tmp_path / "bf16")
    assert rows and all(math.isfinite(float(r["loss"])) for r in rows)
    assert all(v.dtype == torch.float32 for v in res.model.state_dict().values() if v.is_floating_point())
    fp32 = pretrain(_cfg(shard_root, tmp_path / "fp32", steps=2), resume="never")
    a, b = _params(res), _params(fp32)
    assert max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point()) > 0.0


def test_pretraining_starts_from_the_original_init_and_uses_no_weight_decay(shard_root):
    from tiny_biomoe.model.init import random_model, zero_init_batchnorms

    cfg = _cfg(shard_root, shard_root / "unused")
    model = engine_mod.build_model(cfg, {"bvp_cls": 3, "eda_reg": 1})
    want = random_model(cfg.train.seed).state_dict()
    got = model.backbone.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    first_zero = zero_init_batchnorms(model.backbone.enc2)[0]
    assert torch.count_nonzero(got[f"enc2.{first_zero}.weight"]) == 0
    again = engine_mod.build_model(cfg, {"bvp_cls": 3, "eda_reg": 1})  # the same on every process and run
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    opt, _ = engine_mod.build_optimizer(model, cfg)
    by_id = {id(p): n for n, p in model.backbone.named_parameters()}
    decay, no_decay = ({by_id[id(p)] for p in g["params"]} for g in opt.param_groups[:2])
    assert no_decay == model.backbone.no_weight_decay() and opt.param_groups[1]["weight_decay"] == 0.0
    assert decay == set(by_id.values()) - no_decay and opt.param_groups[0]["weight_decay"] == cfg.optim.weight_decay
    assert "ln_img.weight" in no_decay and "enc2.blocks1.0.mixer.m.attn.attention_biases" in no_decay


def test_pretrain_restores_threads_and_global_rng(shard_root, tmp_path):
    import random as pyrandom

    old_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(123)
        np.random.seed(7)
        pyrandom.seed(9)
        before = (torch.get_rng_state(), np.random.get_state(), pyrandom.getstate())
        pretrain(_cfg(shard_root, tmp_path / "st", steps=1, num_threads=1), resume="never")
        assert torch.get_num_threads() == 2
        assert torch.equal(torch.get_rng_state(), before[0])
        after_np = np.random.get_state()
        assert after_np[0] == before[1][0] and np.array_equal(after_np[1], before[1][1]) and after_np[2:] == before[1][2:]
        assert pyrandom.getstate() == before[2]
    finally:
        torch.set_num_threads(old_threads)


def test_channels_last_convolutions_train_the_same_model(shard_root, tmp_path, monkeypatch):
    """``train.channels_last`` (the default) runs the convolutions channels-last, computes the same first losses as the contiguous layout up to float rounding, and hands
    back (and exports) plain contiguous weights."""
    seen: list[tuple[bool, bool]] = []
    build = engine_mod.build_model

    def spying_build(cfg, outputs):
        model = build(cfg, outputs)
        conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))  # the stem

        def hook(mod, args, out):
            seen.append((out.is_contiguous(memory_format=torch.channels_last),
                         mod.weight.is_contiguous(memory_format=torch.channels_last)))
        conv.register_forward_hook(hook)
        return model

    monkeypatch.setattr(engine_mod, "build_model", spying_build)
    fast = pretrain(_cfg(shard_root, tmp_path / "cl", steps=1), resume="never")
    assert seen and all(x and w for x, w in seen)
    seen.clear()
    plain = pretrain(_cfg(shard_root, tmp_path / "nchw", steps=1, channels_last=False), resume="never")
    assert seen and not any(x or w for x, w in seen)
    # the losses of the first step are computed before any update: the same up to rounding
    a, b = _train_rows(tmp_path / "cl"), _train_rows(tmp_path / "nchw")
    assert [r["task"] for r in a] == [r["task"] for r in b]
    for ra, rb in zip(a, b):
        assert math.isclose(float(ra["loss"]), float(rb["loss"]), rel_tol=1e-4), (ra, rb)
    assert all(v.is_contiguous() for v in fast.model.state_dict().values())
    exported = TinyBioMoE.from_pretrained(fast.export_dir)
    for k, v in exported.state_dict().items():
        torch.testing.assert_close(v, fast.model.state_dict()[k], rtol=0, atol=0)
    assert plain.step == fast.step == 1
