"""Real ``kill -9`` of a pretraining process, at chosen points (no timing races), then a resume.

A driver script runs :func:`~tiny_biomoe.pretrain.pretrain` in a subprocess with one engine function
wrapped so that its K-th call sends the process ``SIGKILL`` (no ``finally`` block, no ``atexit``,
no flush runs). The driver is then run again without the kill (``resume="auto"``) to the end, and the
result must be bit-identical (``torch.equal``) to one uninterrupted run made the same way: backbone,
heads, the exported files and the metrics log, with no temporaries of ours left in the output folder.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tiny_biomoe import TinyBioMoE
from tiny_biomoe.errors import CheckpointError
from tiny_biomoe.pretrain import config_from_dict, latest_checkpoint, prepare_shards

from ._util import tiny_config_dict

N_STEPS = 4  # 2 micro-batches each, a checkpoint every 2 steps: step-2 and step-4

_DRIVER = r'''
"""pretrain(cfg) in this process; with a kill spec, SIGKILL this process at the K-th call of a hook."""
import contextlib, json, os, signal, sys
from pathlib import Path

cfg_file, params_file, spec = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
import torch
from tiny_biomoe.pretrain import config_from_dict, pretrain
from tiny_biomoe.pretrain import engine

d = json.loads(cfg_file.read_text())
out = Path(d["train"]["output_dir"])
calls = {"n": 0}

def due():
    calls["n"] += 1
    return calls["n"] == spec["k"]

def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

kind = spec.get("kind")
if kind == "step":  # mid-step, between checkpoints: the K-th rendered micro-batch
    real_images = engine._images_for
    def images_for(*a, **kw):
        if due():
            die()
        return real_images(*a, **kw)
    engine._images_for = images_for
elif kind == "ckpt_temp":  # the K-th checkpoint's state.pt is fully written to its temporary, not renamed
    real_atomic = engine.atomic_path
    @contextlib.contextmanager
    def atomic_path(path, *a, **kw):
        with real_atomic(path, *a, **kw) as p:
            yield p
            if Path(path).name == "state.pt" and due():
                assert p.is_file() and p.stat().st_size > 0 and not Path(path).exists(), p
                die()
    engine.atomic_path = atomic_path
elif kind in ("ckpt_publish", "export_publish"):  # just before the rename that publishes a folder
    real_replace = os.replace
    def replace(src, dst, *a, **kw):
        s, t = Path(src), Path(dst)
        hit = (s.name.endswith(".partial") and (s / "state.pt").is_file()) if kind == "ckpt_publish" \
            else t == out / "model"
        if hit and due():
            if kind == "export_publish":
                assert {"model.safetensors", "config.json", "heads.safetensors"} <= {p.name for p in s.iterdir()}
            die()
        return real_replace(src, dst, *a, **kw)
    os.replace = replace
elif kind == "export_weights":  # the exported backbone's weights are written, its config.json not yet
    real_write = Path.write_bytes
    def write_bytes(self, data):
        n = real_write(self, data)
        if "model.safetensors" in self.name and due():
            assert not (self.parent / "config.json").exists()
            die()
        return n
    Path.write_bytes = write_bytes
elif kind is not None:
    raise SystemExit(f"unknown kill kind {kind!r}")

res = pretrain(config_from_dict(d), resume="auto")
state = {f"backbone.{k}": v.detach().cpu() for k, v in res.model.state_dict().items()}
state.update({f"heads.{k}": v.detach().cpu() for k, v in res.heads.state_dict().items()})
torch.save({"step": res.step, "stopped": res.stopped, "params": state}, params_file)
'''


@pytest.fixture(scope="module")
def shard_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sigkill")
    prepare_shards(config_from_dict(tiny_config_dict(root)), progress=False)
    (root / "driver.py").write_text(_DRIVER)
    return root


def _drive(root: Path, work: Path, kill: dict | None = None) -> subprocess.CompletedProcess:
    """Run the driver once for the run in ``work`` (output ``work/run``); ``kill``: ``{"kind", "k"}``."""
    d = tiny_config_dict(root, steps=N_STEPS, grad_accum=2, ckpt_every=2, num_threads=1)
    d["train"]["output_dir"] = str(work / "run")
    work.mkdir(parents=True, exist_ok=True)
    (work / "cfg.json").write_text(json.dumps(d))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, str(root / "driver.py"), str(work / "cfg.json"), str(work / "params.pt"), json.dumps(kill or {})]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _killed(root: Path, work: Path, kind: str, k: int) -> None:
    proc = _drive(root, work, {"kind": kind, "k": k})
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-3000:])
    assert not (work / "params.pt").exists()


def _finish(root: Path, work: Path) -> dict:
    proc = _drive(root, work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = torch.load(work / "params.pt", weights_only=True)
    assert done["step"] == N_STEPS and not done["stopped"]
    return done


def _train_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in csv.DictReader(fh) if r["split"] == "train"]


def _leftovers(out: Path) -> list[str]:
    """Temporaries of ours (``_io``'s ``.<name>.p<pid>.<random>.tmp*``, the export's and
    ``save_pretrained``'s dot-folders, unfinished ``step-N.partial`` checkpoints) anywhere under ``out``."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name.startswith(".") or ".tmp" in p.name or p.name.endswith(".partial"))


def _export_tensors(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    model = TinyBioMoE.from_pretrained(folder)
    state = {f"backbone.{k}": v for k, v in model.state_dict().items()}
    state.update({f"heads.{k}": v for k, v in load_file(str(folder / "heads.safetensors")).items()})
    return state


def _assert_bit_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not (a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]))]
    assert not differ, differ[:10]


@pytest.fixture(scope="module")
def reference(shard_root, tmp_path_factory) -> dict:
    """One uninterrupted run, made by the same driver with the same thread count."""
    work = tmp_path_factory.mktemp("reference")
    done = _finish(shard_root, work)
    out = work / "run"
    assert [c.name for c in sorted((out / "checkpoints").iterdir())] == ["step-00000002", "step-00000004"]
    rows = _train_rows(out)
    assert [int(r["step"]) for r in rows] == sorted(int(r["step"]) for r in rows) and len(rows) >= N_STEPS
    _assert_bit_identical(done["params"], _export_tensors(out / "model"))
    assert _leftovers(out) == []
    return {"params": done["params"], "rows": rows, "out": out}


def _assert_resumed_exactly(root: Path, work: Path, reference: dict) -> None:
    """Run ``work`` to the end without a kill; it must equal the uninterrupted run bit for bit."""
    done = _finish(root, work)
    out = work / "run"
    _assert_bit_identical(reference["params"], done["params"])
    _assert_bit_identical(reference["params"], _export_tensors(out / "model"))
    assert _train_rows(out) == reference["rows"]
    assert latest_checkpoint(out).name == f"step-{N_STEPS:08d}"
    assert _leftovers(out) == []


def test_sigkill_mid_step_between_checkpoints(shard_root, reference, tmp_path):
    _killed(shard_root, tmp_path, "step", 7)  # the first micro-batch of step 4, after the step-2 checkpoint
    out = tmp_path / "run"
    assert latest_checkpoint(out).name == "step-00000002"
    assert {int(r["step"]) for r in _train_rows(out)} == {1, 2, 3}  # step 3 was logged, then lost
    assert not (out / "model").exists()
    _assert_resumed_exactly(shard_root, tmp_path, reference)


@pytest.mark.parametrize("kind", ["ckpt_temp", "ckpt_publish"])
def test_sigkill_while_writing_a_checkpoint(shard_root, reference, tmp_path, kind):
    """Killed while the step-4 checkpoint is written: its state.pt still in a temporary file
    (``ckpt_temp``), or complete in ``step-4.partial`` but the folder not renamed (``ckpt_publish``)."""
    _killed(shard_root, tmp_path, kind, 2)
    out = tmp_path / "run"
    partial = out / "checkpoints" / "step-00000004.partial"
    names = {p.name for p in partial.iterdir()}
    assert "rank-00000.pt" in names
    if kind == "ckpt_temp":
        assert "state.pt" not in names and any(n.startswith(".state.pt.p") and ".tmp" in n for n in names), names
    else:
        assert "state.pt" in names
    assert latest_checkpoint(out).name == "step-00000002"  # the unfinished one is never picked up
    _assert_resumed_exactly(shard_root, tmp_path, reference)


@pytest.mark.parametrize("kind", ["export_weights", "export_publish"])
def test_sigkill_while_exporting(shard_root, reference, tmp_path, kind):
    """Killed after the exported backbone's weights were written but not its config.json
    (``export_weights``), or with the export complete but not yet renamed into place (``export_publish``)."""
    _killed(shard_root, tmp_path, kind, 1)
    out = tmp_path / "run"
    assert latest_checkpoint(out).name == f"step-{N_STEPS:08d}"
    model_dir = out / "model"
    if model_dir.exists():  # absent, or complete
        _assert_bit_identical(reference["params"], _export_tensors(model_dir))
    _assert_resumed_exactly(shard_root, tmp_path, reference)


def test_from_pretrained_refuses_weights_without_config(reference, tmp_path):
    import shutil

    half = tmp_path / "model"
    half.mkdir()
    shutil.copyfile(reference["out"] / "model" / "model.safetensors", half / "model.safetensors")
    with pytest.raises(CheckpointError, match="config.json"):
        TinyBioMoE.from_pretrained(half)


def test_sigkill_twice_in_one_run(shard_root, reference, tmp_path):
    _killed(shard_root, tmp_path, "step", 3)  # during step 2: no checkpoint yet
    out = tmp_path / "run"
    assert latest_checkpoint(out) is None and {int(r["step"]) for r in _train_rows(out)} == {1}
    _killed(shard_root, tmp_path, "ckpt_temp", 2)  # the rerun starts afresh; killed writing step 4
    assert latest_checkpoint(out).name == "step-00000002"
    _assert_resumed_exactly(shard_root, tmp_path, reference)
