"""Fine-tuning inside the subject-wise protocols: `biomoe evaluate --finetune-steps` and evaluate_finetune."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import GroupKFold

from tiny_biomoe.cli import main
from tiny_biomoe.data import make_synthetic_pain, write_ai4pain_layout
from tiny_biomoe.errors import ConfigError
from tiny_biomoe.representations import render
from tiny_biomoe.signals import preprocess
from tiny_biomoe.pain import FineTuneConfig, PipelineConfig, evaluate_finetune, finetune


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.filterwarnings("ignore:AI4PAIN. partition folder")
def test_evaluate_cli_with_finetune_row(tmp_path, reference_checkpoint, capsys):
    root = tmp_path / "d"
    write_ai4pain_layout(make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=6), root)
    common = ["evaluate", "--dataset", "ai4pain", "--root", str(root), "--modalities", "EDA", "--kinds", "waveform",
              "--head", "logreg", "--levels", "single", "--protocol", "kfold", "--folds", "2", "--no-cache",
              "--device", "cpu", "--weights", str(reference_checkpoint)]
    rc = main([*common, "--finetune-steps", "1", "--batch-size", "2", "--out", str(tmp_path / "rep")])
    assert rc == 0
    res = json.loads((tmp_path / "rep" / "results.json").read_text())
    frozen, ft = res["experiments"]
    assert ft["name"] == "EDA/waveform fine-tuned (pretrained)" and ft["level"] == "finetune"
    assert res["finetune"]["steps"] == 1 and res["finetune"]["pretrained"] is True
    assert len(ft["folds"]) == 2
    for f_frozen, f_ft in zip(frozen["folds"], ft["folds"]):
        assert f_ft["test_subjects"] == f_frozen["test_subjects"]  # the same subject-disjoint folds
        assert f_ft["n_train"] == f_frozen["n_train"] == 3 and f_ft["n"] == 3
        assert np.isfinite(f_ft["final_loss"])
    tested = [s for f in ft["folds"] for s in f["test_subjects"]]
    assert len(tested) == len(set(tested)) == 2  # each subject is tested in exactly one fold
    assert np.asarray(ft["aggregate"]["confusion_matrix"]).sum() == 6  # every trial tested exactly once
    md = (tmp_path / "rep" / "report.md").read_text()
    html = (tmp_path / "rep" / "report.html").read_text()
    for text in (md, html):
        assert "EDA/waveform fine-tuned (pretrained)" in text and "end to end in every fold (1 steps" in text
    # a modality/kind that is not evaluated is refused before any work
    assert main([*common, "--finetune-steps", "1", "--finetune-on", "BVP/waveform", "--out", str(tmp_path / "r2")]) == 2
    assert "--finetune-on" in capsys.readouterr().err and not (tmp_path / "r2").exists()


def test_evaluate_finetune_from_scratch_matches_independent_folds():
    ds = make_synthetic_pain(n_subjects=2, trials_per_class=1, partitions=None, seed=8)
    cfg = PipelineConfig(modalities=["BVP"], kinds=["waveform"], protocol="kfold", n_folds=2, seed=0)
    ftc = FineTuneConfig(steps=1, batch_size=2, pretrained=False, seed=5)
    with pytest.raises(ConfigError):
        evaluate_finetune(ds, cfg, FineTuneConfig(steps=1), model=None)  # pretrained needs the model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = evaluate_finetune(ds, cfg, ftc, device="cpu")
    assert exp["name"] == "BVP/waveform fine-tuned (from scratch)" and exp["finetune"]["pretrained"] is False
    # independent: sklearn GroupKFold over subjects, windows cut by hand, finetune per fold with seed + fold
    y = np.array([ds.classes.index(t.label) for t in ds.trials])
    g = np.array([t.subject for t in ds.trials])
    xs = [preprocess(t.signals["BVP"], sampling_rate=100.0, modality="BVP") for t in ds.trials]
    w = np.stack([x[(len(x) - 1000) // 2:][:1000] for x in xs]).astype(np.float32)  # centre 10 s
    imgs = render(w, kind="waveform", sampling_rate=100.0, modality="BVP")
    cms = []
    for i, (tr, te) in enumerate(GroupKFold(n_splits=2).split(w, groups=g)):
        assert not set(g[tr]) & set(g[te])
        net, _ = finetune(imgs[tr], y[tr], 3, None, FineTuneConfig(steps=1, batch_size=2, pretrained=False, seed=5 + i), device="cpu")
        with torch.no_grad():
            pred = net(imgs[te]).argmax(1).numpy()
        assert exp["folds"][i]["accuracy"] == pytest.approx(float((pred == y[te]).mean()))
        assert exp["folds"][i]["test_subjects"] == sorted(set(g[te]))
        cms.append(confusion_matrix(y[te], pred, labels=[0, 1, 2]))
    np.testing.assert_array_equal(exp["aggregate"]["confusion_matrix"], np.sum(cms, axis=0))
