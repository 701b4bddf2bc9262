"""`biomoe demo` end to end (reduced size), the random-weights fallback notice, `biomoe evaluate` and `biomoe train`."""

from __future__ import annotations

import json

import pytest

from tiny_biomoe.cli import main
from tiny_biomoe.data import SyntheticPainConfig, make_synthetic_pain, write_ai4pain_layout
from tiny_biomoe.pain import HeadConfig, PipelineConfig, load_head
from tiny_biomoe.pain.demo import DemoConfig, run_demo


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_demo_quick_with_reference_weights(tmp_path, reference_checkpoint, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--quick", "--out", str(out), "--weights", str(reference_checkpoint),
               "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"])
    assert rc == 0
    printed = capsys.readouterr()
    assert printed.out.strip().splitlines()[-1] == str(out.resolve())
    assert "NON-OFFICIAL WEIGHTS" in printed.err  # the fixture checkpoint is not the published one
    res = json.loads((out / "results.json").read_text())
    assert res["weights"]["source"] == str(reference_checkpoint) and res["weights"]["official"] is False
    assert res["embedding"]["images_embedded"] == 4 * 1 * 3 * 2 * 2  # subjects x trials x classes x modalities x kinds
    assert {e["level"] for e in res["experiments"]} == {"single", "representations", "modalities"}
    html = (out / "report.html").read_text()
    assert "SYNTHETIC DATA" in html and "NON-OFFICIAL WEIGHTS" in html
    assert len(list((out / "images").glob("repr_*.png"))) == 4


def test_demo_fallback_to_random_weights_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINY_BIOMOE_OFFLINE", "1")  # no official weights anywhere, no download
    tiny = DemoConfig(SyntheticPainConfig(n_subjects=2, trials_per_class=1, partitions=None),
                      PipelineConfig(modalities=["BVP"], kinds=["waveform"], n_folds=2, head=HeadConfig(kind="logreg")))
    folder = run_demo(tmp_path / "d", config=tiny, device="cpu", use_cache=False)
    printed = capsys.readouterr()
    err = printed.err
    assert "RANDOM-INIT WEIGHTS" in err and "Tiny-BioMoE.pth" in err and "TINY_BIOMOE_WEIGHTS" in err
    assert (printed.out + err).count("RANDOM-INIT WEIGHTS") == 1  # the banner once, not repeated by the log
    res = json.loads((folder / "results.json").read_text())
    assert res["weights"]["source"].startswith("random-init") and res["weights"]["official"] is False
    assert "RANDOM-INIT WEIGHTS" in (folder / "report.md").read_text()
    assert res["demo"]["config"] == "given" and res["demo"]["quick"] is None  # the given config decided, not quick=
    assert res["demo"]["synthetic"]["n_subjects"] == 2


@pytest.mark.filterwarnings("ignore:AI4PAIN. partition folder")
def test_evaluate_and_train_cli(tmp_path, reference_checkpoint, monkeypatch, capsys):
    root = tmp_path / "ai4pain"
    write_ai4pain_layout(make_synthetic_pain(n_subjects=3, trials_per_class=1, duration_s=10.0, partitions=None, seed=2), root)
    common = ["--dataset", "ai4pain", "--root", str(root), "--modalities", "EDA", "--kinds", "waveform",
              "--head", "logreg", "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]
    rc = main(["evaluate", *common, "--protocol", "loso", "--weights", str(reference_checkpoint), "--out", str(tmp_path / "rep")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "3 participants" in out and "report:" in out
    res = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert res["protocol"] == "loso" and len(res["folds"]) == 3
    n_cached = len(list((tmp_path / "cache").glob("*.npy")))
    rc = main(["train", *common, "--weights", str(reference_checkpoint), "--out", str(tmp_path / "head")])
    assert rc == 0
    assert len(list((tmp_path / "cache").glob("*.npy"))) == n_cached  # embeddings came from the cache
    head, meta = load_head(tmp_path / "head")
    assert head.in_dim == 192 and meta["classes"] == ["No_Pain", "Low_Pain", "High_Pain"]
    assert meta["weights"]["source"] == str(reference_checkpoint)
    assert meta["representations"]["EDA/waveform"]["kind"] == "waveform"
    # without weights and without --allow-random-weights: a clear error, exit code 2
    monkeypatch.setenv("TINY_BIOMOE_OFFLINE", "1")
    rc = main(["evaluate", *common, "--out", str(tmp_path / "rep2")])
    assert rc == 2
    assert "Tiny-BioMoE" in capsys.readouterr().err
    assert not (tmp_path / "rep2").exists()


@pytest.mark.filterwarnings("ignore:AI4PAIN. partition folder")
def test_train_finetune_cli_one_step(tmp_path, reference_checkpoint, reference_model):
    import torch

    from tiny_biomoe import TinyBioMoE

    root = tmp_path / "d"
    write_ai4pain_layout(make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=5), root)
    rc = main(["train", "--dataset", "ai4pain", "--root", str(root), "--modalities", "BVP", "--kinds", "waveform",
               "--finetune-steps", "1", "--batch-size", "2", "--lr", "1e-3", "--weights", str(reference_checkpoint),
               "--device", "cpu", "--out", str(tmp_path / "ft")])
    assert rc == 0
    backbone = TinyBioMoE.from_pretrained(tmp_path / "ft" / "backbone")
    assert backbone.pretrained_cfg["metadata"]["finetune"]["steps"] == 1
    ref = reference_model.state_dict()
    changed = [k for k, v in backbone.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, ref[k])]
    assert changed  # one optimisation step moved the backbone
    head, meta = load_head(tmp_path / "ft")
    assert head.in_dim == 192 and head.hidden is None and meta["representations"]["BVP/waveform"]["kind"] == "waveform"
    # predict uses the fine-tuned backbone recorded in the head (its sha256 matches) and its classifier
    import numpy as np

    from tiny_biomoe.embed import embed_windows
    from tiny_biomoe.signals import preprocess
    from tiny_biomoe.pain import predict

    x = make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=9).trials[0].signals["BVP"]
    (tmp_path / "ft").rename(tmp_path / "moved")  # the recorded backbone path is gone: HEAD/backbone is used
    df = predict(tmp_path / "moved", x, sampling_rate=100.0, device="cpu")
    w = preprocess(x, sampling_rate=100.0, modality="BVP")[(len(x) - 1000) // 2:][:1000][None].astype(np.float32)
    ref = head.predict_proba(embed_windows(w, sampling_rate=100.0, modality="BVP", kinds=["waveform"], model=backbone,
                                           device="cpu")["waveform"])
    np.testing.assert_allclose(df[[f"p_{c}" for c in meta["classes"]]].to_numpy(), ref, atol=2e-5)
    # two kinds cannot be fine-tuned together: a clear error
    rc = main(["train", "--dataset", "ai4pain", "--root", str(root), "--modalities", "BVP", "--kinds", "waveform", "psd",
               "--finetune-steps", "1", "--weights", str(reference_checkpoint), "--out", str(tmp_path / "ft2")])
    assert rc == 2
