"""Manifest adapter, the per-trial AI4PAIN fallback and load_dataset, on tiny folders written here
(the distributed AI4PAIN and BioVid layouts: test_ai4pain.py, test_biovid.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tiny_biomoe.data import (
    DatasetWarning,
    load_ai4pain,
    load_manifest,
    make_synthetic_pain,
    write_ai4pain_layout,
)
from tiny_biomoe.data.load import load_dataset
from tiny_biomoe.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def small_syn():
    return make_synthetic_pain(n_subjects=5, trials_per_class=1, duration_s=5.0, seed=3)


def _csv(path, cols: dict, sep=","):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(cols).to_csv(path, index=False, sep=sep)


def test_ai4pain_per_trial_fallback_columns_layout(tmp_path, small_syn):
    # The layout assumed before the distributed one was known: one CSV per trial with a time column.
    for t in small_syn.trials:
        name = f"{t.subject}_{t.label}_{t.trial}.csv" if t.partition != "test" else f"{t.subject}_{t.trial}.csv"
        _csv(tmp_path / t.partition / name, {"time": np.arange(500) / 100, **{m: t.signals[m] for m in t.signals}})
    ds = load_ai4pain(tmp_path)
    assert ds.info["layout"].startswith("per-trial")
    assert sorted(ds.subjects) == sorted(small_syn.subjects) and len(ds.trials) == len(small_syn.trials)
    orig = {(t.subject, t.trial): t for t in small_syn.trials}
    for t in ds.trials:
        o = orig[(t.subject, t.trial)]
        assert t.partition == o.partition and t.label == (o.label if o.partition != "test" else None)
        assert t.sampling_rates["EDA"] == pytest.approx(100.0)  # from the time column
        np.testing.assert_allclose(t.signals["BVP"], o.signals["BVP"], rtol=1e-5, atol=1e-5)


def test_ai4pain_per_modality_layout_and_unlabelled_test(tmp_path):
    rng = np.random.default_rng(0)
    for part, names in (("train", ["S1_No_Pain_1", "S1_High_Pain_2", "S2_Low_Pain_1"]), ("test", ["S9_1", "S9_2"])):
        for mdir in ("Eda", "Bvp"):
            for n in names:
                _csv(tmp_path / part / mdir / f"{n}.csv", {"value": rng.normal(size=300)})
    with pytest.warns(DatasetWarning, match="validation"):
        ds = load_ai4pain(tmp_path, modalities=["EDA", "BVP"])
    assert len(ds.trials) == 5
    test = [t for t in ds.trials if t.partition == "test"]
    assert len(test) == 2 and all(t.label is None for t in test)
    assert all(set(t.signals) == {"EDA", "BVP"} for t in ds.trials)
    assert all(t.sampling_rates["EDA"] == 100.0 for t in ds.trials)  # default nominal rate (no time column)
    with pytest.warns(DatasetWarning, match="no label"):
        lab = ds.labelled()
    assert len(lab.trials) == 3


def test_ai4pain_errors_and_warnings(tmp_path):
    x = np.arange(200.0)
    _csv(tmp_path / "train" / "S1_No_Pain_1.csv", {"EDA": x, "BVP": x})
    _csv(tmp_path / "train" / "S1_High_Pain_1b.csv", {"EDA": x})  # lacks BVP
    _csv(tmp_path / "train" / "readme.csv", {"a": x})  # does not match the pattern
    (tmp_path / "train" / "S7").mkdir()
    _csv(tmp_path / "train" / "S7" / "notes.csv", {"a": x})  # a subject folder without any trial
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ds = load_ai4pain(tmp_path, partitions=["train"], modalities=["EDA", "BVP"])
    msgs = " | ".join(str(w.message) for w in rec)
    assert "BVP in 1 of 2 files" in msgs
    assert "do not match the file pattern" in msgs
    assert "S7" in msgs and "contributed no trials" in msgs
    with pytest.warns(DatasetWarning, match="lack a selected modality"):
        sel = ds.select(["EDA", "BVP"])
    assert len(sel.trials) == 1
    # a labelled partition with an unlabelled file is an error, never a silent drop
    _csv(tmp_path / "train" / "S2_3.csv", {"EDA": x})
    with pytest.raises(DatasetError, match="carries no label"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_ai4pain(tmp_path, partitions=["train"])
    with pytest.raises(DatasetError, match="does not exist"):
        load_ai4pain(tmp_path / "nope")


def test_ai4pain_custom_label_map_unknown_label(tmp_path):
    x = np.arange(100.0)
    _csv(tmp_path / "train" / "S1-calm-1.csv", {"EDA": x})
    pat = r"^(?P<subject>[^-]+)-(?P<label>[a-z]+)-(?P<trial>\d+)\.csv$"
    with pytest.raises(DatasetError, match="unknown label 'calm'"):
        load_ai4pain(tmp_path, partitions=["train"], file_pattern=pat, modalities=["EDA"])
    ds = load_ai4pain(tmp_path, partitions=["train"], file_pattern=pat, modalities=["EDA"], label_map={"calm": "rest", "hurt": "pain"})
    assert ds.classes == ["rest", "pain"] and ds.trials[0].label == "rest"


def test_manifest_csv_and_npy(tmp_path):
    rng = np.random.default_rng(2)
    rows = []
    for s in ("a", "b"):
        for lab in ("rest", "pain"):
            f = f"{s}_{lab}.csv"
            _csv(tmp_path / "sig" / f, {"time": np.arange(400) / 50, "eda": rng.normal(size=400), "bvp": rng.normal(size=400)})
            np.save(tmp_path / "sig" / f"{s}_{lab}.npy", rng.normal(size=(200, 2)))
            rows += [
                {"subject": s, "label": lab, "file": f"sig/{f}", "modality": "EDA", "column": "eda", "fs": 50, "trial": lab},
                {"subject": s, "label": lab, "file": f"sig/{f}", "modality": "BVP", "column": "bvp", "fs": 50, "trial": lab},
                {"subject": s, "label": lab, "file": f"sig/{s}_{lab}.npy", "modality": "RESP", "column": "1", "fs": 25, "trial": lab},
            ]
    man = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(man, index=False)
    ds = load_manifest(man)
    assert ds.classes == ["rest", "pain"] and len(ds.trials) == 4
    t = [t for t in ds.trials if t.subject == "b" and t.label == "pain"][0]
    assert t.sampling_rates == {"EDA": 50.0, "BVP": 50.0, "RESP": 25.0}
    np.testing.assert_allclose(t.signals["RESP"], np.load(tmp_path / "sig" / "b_pain.npy")[:, 1])
    assert load_dataset("manifest", manifest=man, modalities=["EDA"]).modalities == ["EDA"]
    with pytest.raises(DatasetError, match="not among classes"):
        load_manifest(man, classes=["rest"])
    pd.DataFrame(rows[:1]).drop(columns=["fs"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DatasetError, match="lacks columns"):
        load_manifest(tmp_path / "bad.csv")
    r = dict(rows[0], file="sig/missing.csv")
    pd.DataFrame([r]).to_csv(tmp_path / "bad2.csv", index=False)
    with pytest.raises(DatasetError, match="not found"):
        load_manifest(tmp_path / "bad2.csv")


def test_manifest_missing_modality_warns(tmp_path):
    _csv(tmp_path / "x.csv", {"eda": np.arange(100.0), "bvp": np.arange(100.0)})
    rows = [
        {"subject": "a", "label": "p", "file": "x.csv", "modality": "EDA", "column": "eda", "fs": 10, "trial": "1"},
        {"subject": "a", "label": "p", "file": "x.csv", "modality": "BVP", "column": "bvp", "fs": 10, "trial": "1"},
        {"subject": "b", "label": "q", "file": "x.csv", "modality": "EDA", "column": "eda", "fs": 10, "trial": "1"},
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    with pytest.warns(DatasetWarning, match="lack modalities"):
        ds = load_manifest(tmp_path / "m.csv")
    assert len(ds.trials) == 2


def test_load_dataset_needs_root():
    with pytest.raises(ConfigError, match="--root"):
        load_dataset("ai4pain")
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("nope")
    with pytest.raises(ConfigError, match="--classes is not supported for synthetic"):  # never silently ignored
        load_dataset("synthetic", classes=["No_Pain", "High_Pain"])
    with pytest.raises(ConfigError, match="--sampling-rate does not apply to synthetic"):  # nor a rate
        load_dataset("synthetic", sampling_rate=100.0)
    with pytest.raises(ConfigError, match="manifest's fs column"):
        load_dataset("manifest", manifest="m.csv", sampling_rate=100.0)


def test_unreadable_inputs_give_dataset_errors(tmp_path):
    # A time column of date-times is read (10 ms steps: 100 Hz); one of words and a .npy that is not a plain
    # array are user errors, not tracebacks.
    _csv(tmp_path / "train" / "S1_NP_1.csv", {"time": ["2020-01-01 00:00:00.00", "2020-01-01 00:00:00.01",
                                                       "2020-01-01 00:00:00.02"], "EDA": [1.0, 2.0, 3.0]})
    with pytest.warns(DatasetWarning):
        ds = load_ai4pain(tmp_path, partitions=["train"])
    assert ds.trials[0].sampling_rates["EDA"] == pytest.approx(100.0)
    _csv(tmp_path / "train" / "S1_NP_1.csv", {"time": ["start", "mid", "end"], "EDA": [1.0, 2.0, 3.0]})
    with pytest.raises(DatasetError, match="time column 'time' holds neither numbers nor clock"):
        load_ai4pain(tmp_path, partitions=["train"])
    (tmp_path / "x.npy").write_bytes(b"not an array")
    (tmp_path / "m.csv").write_text("subject,label,file,modality,column,fs\nS1,a,x.npy,EDA,,10\n")
    with pytest.raises(DatasetError, match="x.npy: not a readable .npy"):
        load_manifest(tmp_path / "m.csv")


def test_ai4pain_layout_refuses_mixed_rates(tmp_path, small_syn):
    # One table per trial has one time column: modalities at different rates cannot share it.
    from tiny_biomoe.data import PainDataset, Trial

    t = small_syn.trials[0]
    mixed = Trial(t.subject, t.trial, t.label, {"EDA": t.signals["EDA"], "BVP": t.signals["BVP"][::2]},
                  {"EDA": 100.0, "BVP": 50.0})
    with pytest.raises(DatasetError, match="one sampling rate"):
        write_ai4pain_layout(PainDataset("mixed", [mixed], list(small_syn.classes)), tmp_path)


def test_empty_cells_in_a_per_trial_file_are_interpolated(tmp_path):
    # pandas' copy-on-write hands out read-only arrays: filling the gap must work on a copy
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "S1_No_Pain_1.csv").write_text("EDA,BVP\n1,1\n,2\n3,3\n4,4\n")
    with pytest.warns(DatasetWarning, match="1 non-numeric values in 'EDA' were interpolated"):
        ds = load_ai4pain(tmp_path, partitions=["train"], modalities=["EDA", "BVP"], sampling_rate=1.0)
    np.testing.assert_array_equal(ds.trials[0].signals["EDA"], [1.0, 2.0, 3.0, 4.0])


def test_manifest_reads_compressed_tables(tmp_path):
    import gzip

    rng = np.random.default_rng(4)
    eda = rng.normal(size=300)
    text = "time,eda\n" + "\n".join(f"{i / 50:.4f},{float(v)!r}" for i, v in enumerate(eda)) + "\n"
    (tmp_path / "s1.csv.gz").write_bytes(gzip.compress(text.encode()))
    pd.DataFrame([{"subject": "s1", "label": "rest", "file": "s1.csv.gz", "modality": "EDA", "column": "eda", "fs": 50}]
                 ).to_csv(tmp_path / "m.csv", index=False)
    ds = load_manifest(tmp_path / "m.csv")
    np.testing.assert_allclose(ds.trials[0].signals["EDA"], eda, rtol=1e-12)
