"""The AI4PAIN challenge workflow end to end on a folder in the distributed layout:
`biomoe evaluate --protocol split` (report with the published figures beside ours) and
`biomoe predict --dataset ai4pain` (one submission row per blinded test segment)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from tiny_biomoe.cli import main
from tiny_biomoe.data import make_synthetic_pain, write_ai4pain_layout
from tiny_biomoe.embed import embed_windows
from tiny_biomoe.pain import load_head
from tiny_biomoe.pain.report import PUBLISHED_AI4PAIN_2025, published_comparison
from tiny_biomoe.signals import preprocess

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ai4pain")
    syn = make_synthetic_pain(n_subjects=5, trials_per_class=1, seed=2, partitions=(0.6, 0.2, 0.2))
    root = write_ai4pain_layout(syn, tmp, wrapper="AI4Pain 2025 Dataset")
    return tmp, root, syn


def test_evaluate_split_report_has_published_figures_beside_ours(folder, reference_checkpoint, capsys):
    tmp, root, syn = folder
    rc = main(["evaluate", "--dataset", "ai4pain", "--root", str(root), "--protocol", "split", "--modalities", "EDA", "BVP",
               "--kinds", "waveform", "--levels", "single", "modalities", "--fusion", "add", "--head", "logreg",
               "--no-cache", "--device", "cpu", "--weights", str(reference_checkpoint), "--out", str(tmp / "rep")])
    assert rc == 0
    out = capsys.readouterr().out
    # the summary printed before training: participants, trials per class per partition, durations
    assert "5 participants" in out and "partition train: 3 participants" in out and "partition test: 1 participants" in out
    train_line = next(line for line in out.splitlines() if "partition train:" in line)
    assert all(f"{c}=3" in train_line for c in ("No_Pain", "Low_Pain", "High_Pain"))
    assert "segment durations" in out and "REST left out" in out
    res = json.loads((tmp / "rep" / "results.json").read_text())
    assert res["protocol"] == "split" and [f["name"] for f in res["folds"]] == ["validation"]
    assert res["dataset"]["partitions"]["validation"]["trials_per_class"] == {"No_Pain": 1, "Low_Pain": 1, "High_Pain": 1}
    cmp = res["published_comparison"]
    rows = {r["modalities"]: r for r in cmp["rows"]}
    by_name = {e["name"]: e for e in res["experiments"]}
    eda = [e for e in res["experiments"] if [m for m, _ in e["inputs"]] == ["EDA"]]
    assert rows["EDA"]["ours"]["validation"] == pytest.approx(100 * eda[0]["folds"][0]["accuracy"])
    assert rows["EDA"]["ours"]["experiment"] in by_name and "ours" in rows["best of ours"]
    base = {p["source"]: p for p in rows["all four"]["published"]}
    assert base["Organisers' baseline"]["validation"] == 52.77 and base["Tazin et al."]["validation"] == 79.0
    win = rows["best of ours"]["published"][0]
    assert win["source"].startswith("Javierre del Rio") and (win["validation"], win["validation_macro_f1"], win["test"]) == (84.0, 0.84, 70.0)
    assert "ours" not in rows["all four"]  # all four modalities were not run here: nothing invented
    md = (tmp / "rep" / "report.md").read_text()
    assert "Published results on the same split (NOT ours)" in md and "ICMI '25 Companion" in md
    assert "| EDA+BVP | **" in md and "56.25 / 45.69" in md
    assert "NOT ours" in (tmp / "rep" / "report.html").read_text()


def test_published_figures_only_for_ai4pain_2025_split():
    res = {"dataset": {"name": "ai4pain"}, "protocol": "loso", "experiments": []}
    assert published_comparison(res) is None
    res = {"dataset": {"name": "ai4pain-2026", "construction": {"edition": "AI4PAIN 2026"}}, "protocol": "split"}
    assert published_comparison(res) is None
    names = [s["name"] for s in PUBLISHED_AI4PAIN_2025["sources"]]
    assert names == ["Organisers' baseline", "Tazin et al.", "Javierre del Rio et al. (challenge winners)"]
    vals = {tuple(r["modalities"] or ()): r["validation"] for r in PUBLISHED_AI4PAIN_2025["sources"][0]["results"]}
    assert vals == {("EDA",): 45.60, ("BVP",): 56.25, ("RESP",): 49.07, ("SpO2",): 37.26, ("EDA", "BVP", "RESP", "SpO2"): 52.77}


def test_predict_writes_the_test_submission(folder, reference_checkpoint, reference_model, capsys):
    tmp, root, syn = folder
    rc = main(["train", "--dataset", "ai4pain", "--root", str(root), "--partitions", "train", "--modalities", "EDA",
               "--kinds", "waveform", "--head", "logreg", "--no-cache", "--device", "cpu",
               "--weights", str(reference_checkpoint), "--out", str(tmp / "head")])
    assert rc == 0
    sub = tmp / "submission.csv"
    rc = main(["predict", "--head", str(tmp / "head"), "--dataset", "ai4pain", "--root", str(root), "--device", "cpu",
               "-o", str(sub)])
    assert rc == 0 and "wrote 3 predictions, one per segment of test" in capsys.readouterr().out
    df = pd.read_csv(sub)
    test_subj = next(t.subject for t in syn.trials if t.partition == "test")
    assert list(df.columns) == ["subject", "segment", "predicted"]
    assert df["segment"].tolist() == [f"{test_subj}_{k}" for k in (1, 2, 3)]  # the blinded columns, as distributed
    assert (df["subject"].astype(str) == test_subj).all()
    head, meta = load_head(tmp / "head")
    assert set(df["predicted"]) <= set(meta["classes"])
    # independently: each test column of Eda/<subject>.csv -> filter -> centre window -> embed -> head
    cols = pd.read_csv(root / "test" / "Eda" / f"{test_subj}.csv")
    wins = []
    for c in df["segment"]:
        x = preprocess(cols[c].dropna().to_numpy(), sampling_rate=100.0, modality="EDA")
        s = (len(x) - 1000) // 2
        wins.append(x[s:s + 1000])
    p = head.predict_proba(embed_windows(np.stack(wins).astype(np.float32), sampling_rate=100.0, modality="EDA",
                                         kinds=["waveform"], model=reference_model,
                                         device="cpu")["waveform"])
    assert df["predicted"].tolist() == [meta["classes"][i] for i in p.argmax(1)]
    rc = main(["predict", "--head", str(tmp / "head"), "--dataset", "ai4pain", "--root", str(root), "--device", "cpu",
               "--partition", "validation", "--probabilities", "-o", str(tmp / "val.tsv")])
    assert rc == 0
    val = pd.read_csv(tmp / "val.tsv", sep="\t")
    assert len(val) == 3 and [c for c in val.columns if c.startswith("p_")] == [f"p_{c}" for c in meta["classes"]]
    np.testing.assert_allclose(val.filter(like="p_").sum(axis=1), 1.0, atol=1e-5)
    # segments built otherwise than for training: predicted, with a warning that says what differs
    with pytest.warns(UserWarning, match="rest: trained on 'REST left out'"):
        rc = main(["predict", "--head", str(tmp / "head"), "--dataset", "ai4pain", "--root", str(root), "--device", "cpu",
                   "--rest", "no-pain", "-o", str(tmp / "other.csv")])
    assert rc == 0
    # recordings and --dataset together are refused before any output
    assert main(["predict", "--head", str(tmp / "head"), "x.csv", "--dataset", "ai4pain", "--root", str(root),
                 "-o", str(tmp / "no.csv")]) == 2
    assert "not both" in capsys.readouterr().err and not (tmp / "no.csv").exists()


def test_predict_refuses_test_segments_shorter_than_the_heads_window(folder):
    """A submission needs every segment: one shorter than the head's window is refused before any work,
    naming it and the window to retrain with (never padded, never silently dropped)."""
    from tiny_biomoe.data import load_ai4pain
    from tiny_biomoe.errors import InputError
    from tiny_biomoe.pain.heads import Head
    from tiny_biomoe.pain.predict import predict_dataset

    _, root, _ = folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_ai4pain(root, modalities=["EDA"])
    test = [t for t in ds.trials if t.partition == "test"]
    longest = max(t.duration("EDA") for t in test)
    meta = {"classes": list(ds.classes), "fusion": {"inputs": [["EDA", "waveform"]], "method": "none"},
            "pipeline": {"preprocess": True}, "representations": {"EDA/waveform": {}},
            "windows": {"EDA": {"sampling_rate": 100.0, "window_s": longest + 0.5}}}
    with pytest.raises(InputError, match=r"shorter than the head's window \(EDA [\d.]+ s\).*Retrain the head with --window-s") as e:
        predict_dataset((Head(192, 3, hidden=None), meta), ds, partition="test")
    assert all(f"{t.subject}/{t.trial}" in str(e.value) for t in test[:5])
