"""Protocols never put one subject on both sides; the pipeline trains only on training subjects."""

from __future__ import annotations

import numpy as np
import pytest

import tiny_biomoe.pain.pipeline as pipeline
from tiny_biomoe.errors import ConfigError, DatasetError
from tiny_biomoe.pain import EmbeddingTable, PipelineConfig, evaluate_embeddings, make_folds
from tiny_biomoe.pain.protocols import assert_subject_disjoint, inner_validation_split


def _groups(seed=0, n=60, s=7):
    rng = np.random.default_rng(seed)
    return np.array([f"S{i}" for i in rng.integers(0, s, n)])


@pytest.mark.parametrize("protocol", ["loso", "kfold"])
def test_folds_are_subject_disjoint_and_cover(protocol):
    g = _groups()
    folds = make_folds(protocol, g, n_folds=3)
    seen = np.concatenate([f.test for f in folds])
    assert sorted(seen.tolist()) == list(range(len(g)))  # each sample tested exactly once
    for f in folds:
        assert not set(g[f.train]) & set(g[f.test])
        assert len(f.train) + len(f.test) == len(g)
    if protocol == "loso":
        assert len(folds) == len(set(g)) and all(len(set(g[f.test])) == 1 for f in folds)


def test_split_protocol_uses_partitions():
    g = np.array(["a", "a", "b", "b", "c", "c", "d"])
    p = np.array(["train", "train", "train", "train", "validation", "validation", "test"])
    lab = np.array([1, 1, 1, 1, 1, 1, 0], bool)  # test is unlabelled
    folds = make_folds("split", g, p, labelled=lab)
    assert [f.name for f in folds] == ["validation"]
    assert folds[0].train.tolist() == [0, 1, 2, 3] and folds[0].test.tolist() == [4, 5]
    with pytest.raises(ConfigError):
        make_folds("split", g, None)
    with pytest.raises(ConfigError, match="needs a dataset with partitions"):  # "" = no partition (partitions_array)
        make_folds("split", g, np.full(g.size, ""))
    with pytest.raises(DatasetError):
        make_folds("loso", np.array(["a", "a"]))
    with pytest.raises(ConfigError):
        make_folds("kfold", g, n_folds=9)
    with pytest.raises(ConfigError):
        make_folds("holdout", g)


def test_leak_detector_catches_a_leak():
    g = np.array(["a", "b", "c"])
    with pytest.raises(AssertionError, match="both"):
        assert_subject_disjoint(g, np.array([0, 1]), np.array([1, 2]))


def test_inner_validation_split_is_subject_wise():
    g = _groups(1)
    a, b = inner_validation_split(g, 0.3, seed=0)
    assert not set(g[a]) & set(g[b]) and len(a) + len(b) == len(g)


@pytest.mark.parametrize("protocol", ["loso", "kfold", "split"])
def test_pipeline_never_trains_on_test_subjects(monkeypatch, protocol):
    rng = np.random.default_rng(0)
    subjects = np.repeat([f"S{i}" for i in range(6)], 6)
    parts = np.where(np.isin(subjects, ["S0", "S1", "S2", "S3"]), "train", np.where(subjects == "S4", "validation", "test"))
    y = np.tile([0, 1, 2], 12)
    emb = {("EDA", "waveform"): rng.normal(size=(36, 8)).astype(np.float32)}
    table = EmbeddingTable(emb, y, subjects, parts, [str(i) for i in range(36)], ["a", "b", "c"])
    seen_train = []
    real = pipeline.train_heads

    def spy(xs, ys, n, cfgs, groups=None):  # the heads of all folds, trained together
        seen_train.extend(set(np.asarray(g).tolist()) for g in groups)
        return real(xs, ys, n, cfgs, groups)

    monkeypatch.setattr(pipeline, "train_heads", spy)
    cfg = PipelineConfig(protocol=protocol, n_folds=3)
    cfg.head.max_epochs = 3
    res = evaluate_embeddings(table, cfg)
    folds = res["experiments"][0]["folds"]
    assert len(seen_train) == len(folds)
    for tr, f in zip(seen_train, folds):
        assert tr and not tr & set(f["test_subjects"])


def test_split_trains_on_train_and_reports_on_validation_only():
    # As the AI4PAIN challenge: even with labelled test samples, split reports on validation only.
    g = np.array(["a", "a", "b", "c", "c", "d", "d"])
    p = np.array(["train", "train", "train", "validation", "validation", "test", "test"])
    folds = make_folds("split", g, p)
    assert [f.name for f in folds] == ["validation"]
    assert folds[0].train.tolist() == [0, 1, 2] and folds[0].test.tolist() == [3, 4]
    # a participant in both train and validation: the partitions are broken, a DatasetError (not a leak)
    g2 = np.array(["a", "a", "b", "b", "c"])
    p2 = np.array(["train", "train", "train", "validation", "validation"])
    with pytest.raises(DatasetError, match=r"subjects \['b'\] are in both 'train' and 'validation'"):
        make_folds("split", g2, p2)
    with pytest.raises(DatasetError, match="no labelled samples in the reporting partitions"):
        make_folds("split", g, np.array(["train"] * 5 + ["test"] * 2))
    assert [f.name for f in make_folds("split", g, p, test_partitions=("validation", "test"))] == ["validation", "test"]


def test_split_on_an_ai4pain_folder_trains_on_train_subjects_only(monkeypatch, tmp_path):
    # The distributed layout -> dataset partitions -> folds: the head sees exactly the train participants.
    import warnings

    from tiny_biomoe.data import load_ai4pain, make_synthetic_pain, write_ai4pain_layout
    from tiny_biomoe.data.dataset import PainDataset

    syn = make_synthetic_pain(n_subjects=5, trials_per_class=1, seed=1, partitions=(0.6, 0.2, 0.2))
    write_ai4pain_layout(syn, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_ai4pain(tmp_path, modalities=["EDA"])
    parts = {t.subject: t.partition for t in syn.trials}
    lab = ds.labelled()
    assert isinstance(lab, PainDataset) and "test" not in lab.partitions  # blinded test: never in a fold
    rng = np.random.default_rng(0)
    table = EmbeddingTable({("EDA", "waveform"): rng.normal(size=(len(lab.trials), 8)).astype(np.float32)},
                           lab.labels_array(), lab.groups_array(), lab.partitions_array(),
                           [t.trial for t in lab.trials], lab.classes)
    seen = []
    real = pipeline.train_heads

    def spy(xs, ys, n, cfgs, groups=None):  # the heads of all folds, trained together
        seen.extend(set(np.asarray(g).tolist()) for g in groups)
        return real(xs, ys, n, cfgs, groups)

    monkeypatch.setattr(pipeline, "train_heads", spy)
    cfg = PipelineConfig(protocol="split")
    cfg.head.max_epochs = 2
    res = evaluate_embeddings(table, cfg)
    assert [f["name"] for f in res["folds"]] == ["validation"]
    assert seen == [{s for s, p in parts.items() if p == "train"}]
    assert res["experiments"][0]["folds"][0]["test_subjects"] == sorted(s for s, p in parts.items() if p == "validation")
