"""Windows, the pipeline with a stand-in embedder, reports and saved heads."""

from __future__ import annotations

import base64
import json
import warnings

import matplotlib.image as mpimg

import numpy as np
import pytest

from tiny_biomoe.data import DatasetWarning, PainDataset, Trial, make_synthetic_pain
from tiny_biomoe.signals import preprocess
from tiny_biomoe.pain import (
    FusionSpec,
    PipelineConfig,
    evaluate,
    extract_embeddings,
    load_head,
    train_final_head,
    trial_windows,
)
from tiny_biomoe.pain.report import write_report


def _feature_embed(w, fs, m, k, model, **kw):
    """Stand-in for the network: 192 deterministic features of each window (spectrum bins + moments)."""
    spec = np.abs(np.fft.rfft(w - w.mean(1, keepdims=True), axis=1))[:, :188]
    mom = np.stack([w.mean(1), w.std(1), np.ptp(w, 1), np.abs(np.diff(w, axis=1)).mean(1)], 1)
    out = np.concatenate([spec, mom], 1).astype(np.float32)
    return out if k == "waveform" else np.log1p(np.abs(out))


@pytest.fixture(scope="module")
def ds():
    return make_synthetic_pain(n_subjects=6, trials_per_class=2, seed=4)


def test_trial_windows_centre_crop_never_pad_preprocess():
    from tiny_biomoe.errors import DatasetError

    x_long = np.sin(np.arange(1500) / 7.0)
    x_short = np.cos(np.arange(800) / 5.0)
    d = PainDataset("t", [Trial("a", "1", "p", {"BVP": x_long}, {"BVP": 100.0}),
                          Trial("b", "1", "p", {"BVP": x_short}, {"BVP": 100.0})], ["p"])
    with pytest.raises(DatasetError, match=r"1 of 2 trials are shorter than the 10 s window, e.g. b/1 .*never padded.*at most 8 s"):
        trial_windows(d, "BVP", window_s=10.0, preprocess=False)
    with pytest.warns(DatasetWarning, match="the window is 8 s"):  # no window given: it follows the shortest trial
        w, fs, info = trial_windows(d, "BVP", preprocess=False)
    assert w.shape == (2, 800) and fs == 100.0 and "padded" not in info
    np.testing.assert_allclose(w[0], x_long[350:1150], rtol=1e-6)  # centre crop
    np.testing.assert_allclose(w[1], x_short, rtol=1e-6)
    w2, _, info2 = trial_windows(d, "BVP", window_s=5.0, preprocess=True)
    np.testing.assert_allclose(w2[0], preprocess(x_long, sampling_rate=100.0, modality="bvp")[500:1000], rtol=1e-5,
                               atol=1e-6)
    assert info2["preprocessing"]["modality"] == "bvp"
    assert info2["conditioning"] == {"order": ["gaps", "filter", "resample", "windows"], "version": 2}


def test_trial_windows_resamples_to_common_rate():
    d = PainDataset("t", [Trial("a", "1", "p", {"EDA": np.ones(1000) + np.arange(1000) % 7}, {"EDA": 100.0}),
                          Trial("b", "1", "p", {"EDA": np.ones(500) + np.arange(500) % 7}, {"EDA": 50.0}),
                          Trial("c", "1", "p", {"EDA": np.ones(1000) + np.arange(1000) % 5}, {"EDA": 100.0})], ["p"])
    with pytest.warns(DatasetWarning, match="resampled"):
        w, fs, _ = trial_windows(d, "EDA", window_s=10.0, preprocess=False, resample="native")
    assert fs == 100.0 and w.shape == (3, 1000)
    w, fs, info = trial_windows(d, "EDA", window_s=10.0, preprocess=False)  # default: EDA's model rate
    assert fs == 100.0 and info["original_rates"] == [50.0, 100.0]


def test_evaluate_with_stand_in_embedder_and_report(ds, tmp_path):
    cfg = PipelineConfig(modalities=["EDA", "BVP"], kinds=["waveform", "psd"], protocol="kfold", n_folds=3)
    cfg.head.kind = "logreg"  # fast; the MLP is tested in test_heads.py
    res, table = evaluate(ds, cfg, model=None, weights_info=None, embed_fn=_feature_embed)
    names = [e["name"] for e in res["experiments"]]
    assert len(names) == 4 + 2 * 2 + 2
    assert {e["level"] for e in res["experiments"]} == {"single", "representations", "modalities"}
    concat = [e for e in res["experiments"] if e["level"] == "modalities" and e["method"] == "concat"][0]
    assert concat["dim"] == 4 * 192
    for e in res["experiments"]:
        assert len(e["folds"]) == 3
        cm = np.asarray(e["aggregate"]["confusion_matrix"])
        assert cm.sum() == len(ds.trials)  # every trial tested once
        accs = [f["accuracy"] for f in e["folds"]]
        assert e["aggregate"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    res["weights"] = {"source": "random-init(seed=0)", "official": False, "sha256": None}
    folder = write_report(res, tmp_path / "rep", {"EDA/waveform": np.random.default_rng(0).random((3, 224, 224))})
    files = {p.name for p in folder.iterdir()}
    assert {"report.md", "report.html", "results.json", "config.json", "images"} <= files
    html = (folder / "report.html").read_text()
    assert "RANDOM-INIT WEIGHTS" in html and "SYNTHETIC DATA" in html
    assert html.count("data:image/png;base64,") == 3 + 2  # self-contained: one cm per fusion level, summary, example
    md = (folder / "report.md").read_text()
    assert "RANDOM-INIT" in md and names[0] in md and "images/cm_single.png" in md
    # the summary figure comes first (before the results table) in both, and the HTML embeds that very file
    summary = folder / "images" / "summary_accuracy.png"
    assert summary.is_file()
    assert md.index("](images/summary_accuracy.png)") < md.index("## Results")
    assert html.index(base64.b64encode(summary.read_bytes()).decode()) < html.index("<h2>Results")
    # bars coloured by fusion level: every level present has its colour, the fine-tuning colour is absent
    from tiny_biomoe.pain.report import LEVEL_COLORS

    px = (mpimg.imread(summary)[..., :3] * 255).round().astype(int)
    for level, colour in LEVEL_COLORS.items():
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        n = int((np.abs(px - rgb).max(-1) <= 2).sum())
        assert (n > 50) == (level in {"single", "representations", "modalities"}), (level, n)
    back = json.loads((folder / "results.json").read_text())
    assert back["experiments"][0]["aggregate"]["accuracy"] == res["experiments"][0]["aggregate"]["accuracy"]
    # a second write replaces the folder atomically, leaving no temporary folders behind
    write_report(res, tmp_path / "rep")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


def test_report_leaves_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    try:
        matplotlib.use("svg")  # the caller's choice (e.g. a notebook's inline backend) must survive a report
        res = {"classes": ["a", "b"], "experiments": [{"name": "x", "level": "single", "method": "none", "dim": 1,
               "aggregate": {"confusion_matrix": [[1, 0], [0, 1]], "accuracy": {"mean": 1.0, "std": 0.0},
                             "macro_f1": {"mean": 1.0, "std": 0.0}, "recall": {}}}]}
        write_report(res, tmp_path / "rep", {"EDA/waveform": np.zeros((3, 8, 8))})
        assert matplotlib.get_backend() == "svg"
        assert (tmp_path / "rep" / "images" / "summary_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        matplotlib.use(before)


def test_report_replaces_only_an_earlier_report_or_an_empty_folder(tmp_path):
    from tiny_biomoe.errors import OutputError

    res = {"classes": ["a", "b"], "experiments": [{"name": "x", "level": "single", "method": "none", "dim": 1,
           "aggregate": {"confusion_matrix": [[1, 0], [0, 1]], "accuracy": {"mean": 1.0, "std": 0.0},
                         "macro_f1": {"mean": 1.0, "std": 0.0}, "recall": {}}}]}
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("months of work")
    with pytest.raises(OutputError, match="holds other files.*choose a new folder"):
        write_report(res, mine)
    assert [p.name for p in mine.iterdir()] == ["chapter1.tex"]  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no temporary folder left
    (tmp_path / "empty").mkdir()
    write_report(res, tmp_path / "empty")
    write_report(res, tmp_path / "empty")  # an earlier report is replaced
    assert (tmp_path / "empty" / "results.json").is_file()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write_report(res, tmp_path / "file")


def test_report_is_not_written_on_failure(tmp_path):
    with pytest.raises(Exception):
        write_report({"experiments": [{"name": "x", "aggregate": {}}]}, tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []


def test_train_final_head_saves_settings(ds, tmp_path):
    cfg = PipelineConfig(modalities=["EDA", "BVP"], kinds=["waveform"])
    cfg.head.max_epochs = 20
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = extract_embeddings(ds, None, cfg, weights_info=None, embed_fn=_feature_embed)
    spec = FusionSpec("EDA+BVP", "modalities", (("EDA", "waveform"), ("BVP", "waveform")), "concat")
    folder = train_final_head(table, spec, cfg, tmp_path / "head")
    head, meta = load_head(folder)
    assert head.in_dim == 384 and head.n_classes == 3
    assert meta["classes"] == ["No_Pain", "Low_Pain", "High_Pain"]
    assert meta["fusion"]["method"] == "concat"
    assert set(meta["representations"]) == {"EDA/waveform", "BVP/waveform"}
    assert meta["windows"]["EDA"]["window_s"] == 10.0 and meta["pipeline"]["kinds"] == ["waveform"]
    assert head.predict(np.concatenate([table.embeddings[k] for k in spec.inputs], 1)).shape == (len(ds.trials),)


def test_report_shows_one_example_per_class(ds, tmp_path):
    from tiny_biomoe.pain.run import class_examples

    cfg = PipelineConfig(modalities=["EDA", "BVP"], kinds=["waveform", "psd"])
    ex = class_examples(ds, cfg)
    assert list(ex) == ["EDA/waveform", "EDA/psd", "BVP/waveform", "BVP/psd"]
    firsts = [next(t for t in ds.trials if t.label == c) for c in ds.classes]  # first trial of each class
    for key, imgs in ex.items():
        assert list(imgs) == [f"{t.label}\n{t.subject}/{t.trial}" for t in firsts]
        arrs = list(imgs.values())
        assert all(a.shape == (3, 224, 224) for a in arrs)
        assert not np.array_equal(arrs[0], arrs[1]) and not np.array_equal(arrs[1], arrs[2])
    res = {"classes": ds.classes, "experiments": [], "config": {}, "dataset": ds.summary()}
    folder = write_report(res, tmp_path / "rep", ex)
    md, html = (folder / "report.md").read_text(), (folder / "report.html").read_text()
    assert "one trial per class" in md and "one trial per class" in html
    sheets = sorted((folder / "images").glob("repr_*.png"))
    assert len(sheets) == 4 and html.count("data:image/png;base64,") == 4  # no experiments: no summary figure
    assert not (folder / "images" / "summary_accuracy.png").exists()
    h, w = mpimg.imread(sheets[0]).shape[:2]
    assert w > 2.5 * h  # three images side by side


def test_experiments_trained_together_give_the_results_of_each_alone(ds, monkeypatch):
    # evaluate_embeddings trains every experiment's fold heads in one batched call; one experiment per
    # call (TRAIN_ELEMENTS = 1) must give the very same metrics and out-of-fold probabilities.
    from tiny_biomoe.pain import evaluate_embeddings, pipeline

    cfg = PipelineConfig(modalities=["EDA", "BVP"], kinds=["waveform", "psd"], protocol="kfold", n_folds=3)
    cfg.head.max_epochs, cfg.head.patience = 15, 4
    table = extract_embeddings(ds, None, cfg, embed_fn=_feature_embed)
    calls = []
    real = pipeline.train_heads

    def spy(xs, *a, **k):
        calls.append(len(xs))
        return real(xs, *a, **k)

    monkeypatch.setattr(pipeline, "train_heads", spy)
    together = evaluate_embeddings(table, cfg)
    assert calls == [len(together["experiments"]) * 3]
    monkeypatch.setattr(pipeline, "TRAIN_ELEMENTS", 1)
    alone = evaluate_embeddings(table, cfg)
    assert len(calls) == 1 + len(together["experiments"])
    for a, b in zip(together["experiments"], alone["experiments"]):
        assert a["name"] == b["name"] and a["dim"] == b["dim"]
        assert a["oof"]["predicted"] == b["oof"]["predicted"]
        np.testing.assert_allclose(a["oof"]["proba"], b["oof"]["proba"], rtol=1e-4, atol=1e-5)
        assert [f["best_epoch"] for f in a["folds"]] == [f["best_epoch"] for f in b["folds"]]
