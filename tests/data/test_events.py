"""Event-locked trials, checked against mne.Epochs / mne.find_events / mne.events_from_annotations."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tiny_biomoe.data import DatasetWarning, load_manifest
from tiny_biomoe.data.events import (cut_trials, dataset_from_events, events_from_annotations, events_from_stim,
                                     read_events)
from tiny_biomoe.errors import DatasetError

mne = pytest.importorskip("mne")
FS = 50.0


def _raw(seconds=60, first_samp=0, meas_date=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, int(seconds * FS))).cumsum(axis=1)
    info = mne.create_info(["EDA", "PPG"], FS, ["eeg", "eeg"])  # data channels: MNE baseline-corrects only those
    raw = mne.io.RawArray(x, info, first_samp=first_samp, verbose=False)
    if meas_date is not None:
        raw.set_meas_date(meas_date)
    return raw, x


def test_bids_events_cut_like_mne_epochs(tmp_path):
    raw, x = _raw()
    p = tmp_path / "sub-01_task-pain_events.tsv"
    p.write_text("onset\tduration\ttrial_type\n12.0\t10\tpain\n3.04\tn/a\trest\n30.5\t10\tpain\n55\t10\trest\n")
    ev = read_events(p)
    assert list(ev["onset"]) == [3.04, 12.0, 30.5, 55.0] and ev["duration"][0] == 0.0  # sorted; n/a -> 0
    with pytest.warns(DatasetWarning, match="1 events lie"):  # 55 + 10 s > 60 s
        trials = cut_trials(raw, ev, subject="01", tmin=-2.0, tmax=8.0, channels={"eda": "EDA", "bvp": "PPG"})
    assert [t.label for t in trials] == ["rest", "pain", "pain"]
    samples = np.round(ev["onset"][:3].to_numpy() * FS).astype(int)
    ep = mne.Epochs(raw, np.c_[samples, np.zeros(3, int), np.ones(3, int)], tmin=-2.0, tmax=8.0, baseline=None,
                    preload=True, verbose=False).get_data()
    for t, e in zip(trials, ep):
        assert t.signals["eda"].size == 500 and t.sampling_rates == {"eda": FS, "bvp": FS}
        np.testing.assert_allclose(t.signals["eda"], e[0, :500])  # ours is [tmin, tmax), MNE's includes tmax
        np.testing.assert_allclose(t.signals["bvp"], e[1, :500])
    with_base = cut_trials(raw, ev.iloc[:3], subject="01", tmin=0.0, tmax=8.0, baseline=(-2.0, 0.0))
    ep_b = mne.Epochs(raw, np.c_[samples, np.zeros(3, int), np.ones(3, int)], tmin=-2.0, tmax=8.0,
                      baseline=(-2.0, -1.0 / FS), preload=True, verbose=False).get_data()  # MNE's baseline includes its end
    np.testing.assert_allclose(with_base[1].signals["EDA"], ep_b[1, 0, 100:500], atol=1e-9)


def test_duration_as_window_and_label_selection():
    x = np.arange(1000.0)
    ev = pd.DataFrame({"onset": [1.0, 5.0, 9.0], "duration": [2.0, 4.0, 0.0], "label": ["a", "b", "skip"]})
    trials = cut_trials({"EDA": x}, ev, sampling_rate=FS, subject="s", label_map={"skip": None})
    assert [(t.label, t.signals["EDA"][0], t.signals["EDA"].size) for t in trials] == [("a", 50.0, 100), ("b", 250.0, 200)]
    with pytest.raises(DatasetError, match="give tmax"):
        cut_trials({"EDA": x}, ev, sampling_rate=FS, subject="s")
    assert [t.label for t in cut_trials({"EDA": x}, ev, sampling_rate=FS, subject="s", tmax=1, labels=["b"])] == ["b"]


def test_stim_channel_matches_mne_find_events():
    stim = np.zeros(3000)
    stim[100:150] = 1
    stim[700:900] = 2
    stim[905:906] = 3  # one-sample bounce
    stim[2000:2500] = 1
    ev = events_from_stim(stim, FS, label_map={1: "low", 2: "high"}, min_duration=0.05)
    raw = mne.io.RawArray(stim[None], mne.create_info(["STI"], FS, ["stim"]), verbose=False)
    ref = mne.find_events(raw, stim_channel="STI", verbose=False)
    ref = ref[ref[:, 2] != 3]
    np.testing.assert_allclose(ev["onset"], ref[:, 0] / FS)
    assert list(ev["label"]) == ["low", "high", "low"] and list(ev["duration"]) == [1.0, 4.0, 10.0]
    active_low = events_from_stim(1 - (stim > 0), FS, invert=True)
    np.testing.assert_allclose(active_low["onset"], [2.0, 14.0, 18.1, 40.0])


def test_empatica_tags(tmp_path):
    (tmp_path / "EDA.csv").write_text("1600000000.000000\n4.000000\n0.1\n0.2\n")
    (tmp_path / "tags.csv").write_text("1600000012.5\n1600000030.25\n")
    ev = read_events(tmp_path / "tags.csv", start_time=tmp_path / "EDA.csv")
    assert list(ev["onset"]) == [12.5, 30.25] and list(ev["label"]) == ["tag1", "tag2"]
    with pytest.raises(DatasetError, match="start_time"):
        read_events(tmp_path / "tags.csv")


def test_annotations_with_meas_date_and_first_samp():
    raw, _ = _raw(first_samp=500, meas_date=1_700_000_000.0)
    raw.set_annotations(mne.Annotations([raw.first_time + 4.0, raw.first_time + 20.0], [5.0, 5.0], ["rest", "pain"],
                                        orig_time=raw.info["meas_date"]))
    ev = events_from_annotations(raw)
    ref, ids = mne.events_from_annotations(raw, verbose=False)
    np.testing.assert_allclose(ev["onset"], (ref[:, 0] - raw.first_samp) / FS)
    np.testing.assert_allclose(ev["onset"], [4.0, 20.0])
    assert list(ev["label"]) == ["rest", "pain"]
    ds = dataset_from_events({"s1": (raw, raw), "s2": (raw, ev)}, classes=["rest", "pain"], channels={"eda": "EDA"})
    assert ds.subjects == ["s1", "s2"] and ds.classes == ["rest", "pain"] and len(ds.trials) == 4
    assert ds.trials[0].duration("eda") == 5.0


def test_events_feed_the_pain_pipeline():
    from tiny_biomoe.pain import trial_windows

    x = np.sin(np.arange(int(120 * FS)) / 9.0)
    ev = pd.DataFrame({"onset": np.arange(5, 110, 15.0), "duration": 10.0, "label": ["rest", "pain"] * 3 + ["rest"]})
    ds = dataset_from_events({"a": ({"EDA": x}, ev), "b": ({"EDA": -x}, ev)}, sampling_rate=FS, tmin=0, tmax=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)  # every trial is exactly one window: no padding
        w, fs, _ = trial_windows(ds, "EDA", window_s=10.0, preprocess=False, resample="native")
    assert w.shape == (14, 500) and fs == FS
    np.testing.assert_allclose(w[1], x[1000:1500], rtol=1e-6)


def test_manifest_start_end_select_trials_in_one_file(tmp_path):
    x = np.arange(3000.0)
    np.save(tmp_path / "long.npy", x)
    (tmp_path / "m.csv").write_text(
        "subject,label,file,modality,column,fs,start_s,end_s,onset,duration\n"
        "s1,rest,long.npy,EDA,,50,0,10,,\n"
        "s1,pain,long.npy,EDA,,50,20,30,,\n"
        "s1,pain,long.npy,EDA,,50,,,40,5\n")
    ds = load_manifest(tmp_path / "m.csv")
    assert [t.trial for t in ds.trials] == ["long@0s", "long@20s", "long@40s"]
    assert [(t.signals["EDA"][0], t.signals["EDA"].size) for t in ds.trials] == [(0.0, 500), (1000.0, 500), (2000.0, 250)]
    (tmp_path / "bad.csv").write_text("subject,label,file,modality,column,fs,start_s,end_s\ns1,rest,long.npy,EDA,,50,50,70\n")
    with pytest.raises(DatasetError, match="outside the signal"):
        load_manifest(tmp_path / "bad.csv")
