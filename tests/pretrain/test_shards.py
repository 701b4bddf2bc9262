"""Window shards: round trip against an independent windowing, resume, staleness checks, readers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tiny_biomoe.errors import DatasetError
from tiny_biomoe.pretrain import ShardedTask, config_from_dict, open_task, prepare_shards

FS = 50.0


def _signal(i: int, n: int) -> np.ndarray:
    t = np.arange(n) / FS
    return np.sin(2 * np.pi * (1 + i) * t) + 0.01 * i * np.arange(n)


def _expected_windows(x: np.ndarray, length: int, step: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(x, length)[::step].astype(np.float32)


def _npy_config(tmp_path, **task):
    root = tmp_path / "data"
    root.mkdir(exist_ok=True)
    rows = ["record,label"]
    for i in range(5):
        np.save(root / f"rec{i}.npy", _signal(i, 200 + 25 * i))
        rows.append(f"rec{i},{'AB'[i % 2]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    t = {"name": "toy", "modality": "ecg", "target": "class", "preprocess": False,
         "source": {"format": "npy", "path": str(root), "sampling_rate": FS, "labels_file": str(root / "labels.csv")},
         "window": {"length_s": 1.0, "stride_s": 0.5}, "val_fraction": 0.4}
    t.update(task)
    return config_from_dict({"tasks": [t], "shards": {"dir": str(tmp_path / "shards"), "recordings_per_shard": 2}})


def _all(st: ShardedTask):
    return st.get(np.arange(len(st)))


@pytest.mark.parametrize("workers", [1, 2])
def test_npy_round_trip_matches_independent_windowing(tmp_path, workers):
    cfg = _npy_config(tmp_path)
    folders = prepare_shards(cfg, progress=False, workers=workers)
    st = open_task(cfg, cfg.tasks[0])
    assert folders["toy"] == st.folder
    assert len(st.index["shards"]) == 3  # 5 recordings, 2 per shard
    assert isinstance(st._x[0], np.memmap)  # windows are memory-mapped, not loaded
    exp_x = np.concatenate([_expected_windows(_signal(i, 200 + 25 * i), 50, 25) for i in range(5)])
    exp_y = np.concatenate([np.full(len(_expected_windows(_signal(i, 200 + 25 * i), 50, 25)), i % 2) for i in range(5)])
    x, y = _all(st)
    np.testing.assert_allclose(x, exp_x, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(y, exp_y)
    assert st.classes == ["A", "B"] and st.num_outputs == 2 and st.sampling_rate == FS
    # validation split is by recording: 2 of 5 recordings, disjoint from training
    rec = np.concatenate([np.load(st.folder / f"{s}.r.npy") for s in st.index["shards"]])
    assert set(rec[st.val_indices]).isdisjoint(rec[st.train_indices])
    assert len(set(rec[st.val_indices].tolist())) == 2
    # random access in shuffled order returns the same rows
    idx = np.array([7, 0, len(st) - 1, 3])
    xi, yi = st.get(idx)
    np.testing.assert_array_equal(xi, x[idx])
    np.testing.assert_array_equal(yi, y[idx])


def test_resume_rebuilds_only_unfinished_shards(tmp_path):
    cfg = _npy_config(tmp_path)
    folder = prepare_shards(cfg, progress=False)["toy"]
    before = _all(ShardedTask(folder))
    m0 = os.stat(folder / "shard-00000.x.npy").st_mtime_ns
    # simulate a run killed while writing shard 1: its marker and data are gone, the index too
    (folder / "shard-00001.json").unlink()
    (folder / "shard-00001.x.npy").unlink()
    (folder / "index.json").unlink()
    prepare_shards(cfg, progress=False)
    assert os.stat(folder / "shard-00000.x.npy").st_mtime_ns == m0  # finished shard untouched
    after = _all(ShardedTask(folder))
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not list(folder.glob(".*tmp*"))  # no temporary files left behind


def test_changed_settings_are_refused_until_forced(tmp_path):
    cfg = _npy_config(tmp_path)
    prepare_shards(cfg, progress=False)
    cfg2 = _npy_config(tmp_path, window={"length_s": 2.0})
    with pytest.raises(DatasetError, match="other settings"):
        open_task(cfg2, cfg2.tasks[0])
    with pytest.raises(DatasetError, match="--force"):
        prepare_shards(cfg2, progress=False)
    prepare_shards(cfg2, progress=False, force=True)
    assert open_task(cfg2, cfg2.tasks[0]).get(np.array([0]))[0].shape == (1, 100)
    with pytest.raises(DatasetError, match="prepare-shards"):
        ShardedTask(tmp_path / "nowhere")


def test_regression_and_label_pattern_from_csv(tmp_path):
    root = tmp_path / "csv"
    root.mkdir()
    for i, level in enumerate([0.5, 1.5, 2.5]):
        n = 150
        with open(root / f"subj{i}_level{level}.csv", "w") as fh:
            fh.write("time,sig\n")
            for k, v in enumerate(_signal(i, n)):
                fh.write(f"{k / FS:.6f},{v:.9f}\n")
    cfg = config_from_dict({"tasks": [{
        "name": "lvl", "modality": "eda", "target": "regression", "preprocess": False,
        "source": {"format": "csv", "path": str(root), "channel": "sig", "label_pattern": r"level(?P<label>[0-9.]+)\.csv"},
        "window": {"length_s": 1.0}}], "shards": {"dir": str(tmp_path / "sh")}})
    prepare_shards(cfg, progress=False)
    st = open_task(cfg, cfg.tasks[0])
    assert st.target == "regression" and st.num_outputs == 1 and st.classes is None
    x, y = _all(st)
    np.testing.assert_allclose(y, np.repeat([0.5, 1.5, 2.5], 3))
    np.testing.assert_allclose(x[:3], _expected_windows(_signal(0, 150), 50, 50), atol=1e-6)


def test_wfdb_and_edf_segments(tmp_path):
    import pyedflib  # the 'io' extra, part of the test environment
    import wfdb
    wroot = tmp_path / "wfdb"
    wroot.mkdir()
    sigs = []
    for i in range(2):
        x = np.stack([_signal(i, 200), -_signal(i, 200)], axis=1)
        wfdb.wrsamp(f"r{i}", fs=FS, units=["mV", "mV"], sig_name=["I", "II"], p_signal=x, fmt=["16", "16"], write_dir=str(wroot))
        sigs.append(wfdb.rdrecord(str(wroot / f"r{i}")).p_signal[:, 1])  # the stored (quantised) lead II
    (wroot / "labels.csv").write_text("record,label\nr0,norm\nr1,mi\n")
    eroot = tmp_path / "edf"
    eroot.mkdir()
    eeg = _signal(3, 600)
    hdr = [{"label": "EEG", "dimension": "uV", "sample_frequency": FS, "physical_max": 100, "physical_min": -100,
            "digital_max": 32767, "digital_min": -32768, "transducer": "", "prefilter": ""}]
    with pyedflib.EdfWriter(str(eroot / "night1.edf"), 1, file_type=pyedflib.FILETYPE_EDFPLUS) as w:
        w.setSignalHeaders(hdr)
        w.writeSamples([eeg])
    with pyedflib.EdfReader(str(eroot / "night1.edf")) as r:
        stored = r.readSignal(0)
    (eroot / "segments.csv").write_text("record,start_s,end_s,label\nnight1,0,4,W\nnight1,4,10,N2\nnight1,10,12,W\n")
    cfg = config_from_dict({"tasks": [
        {"name": "ecg", "modality": "ecg", "preprocess": False,
         "source": {"format": "wfdb", "path": str(wroot), "channel": "II", "labels_file": str(wroot / "labels.csv")},
         "window": {"length_s": 2.0}},
        {"name": "sleep", "modality": "eeg", "preprocess": False,
         "source": {"format": "edf", "path": str(eroot), "channel": "EEG", "segments_file": str(eroot / "segments.csv")},
         "window": {"length_s": 2.0}},
    ], "shards": {"dir": str(tmp_path / "sh")}})
    prepare_shards(cfg, progress=False)
    ecg = open_task(cfg, cfg.tasks[0])
    x, y = _all(ecg)
    np.testing.assert_allclose(x, np.concatenate([_expected_windows(s, 100, 100) for s in sigs]), atol=1e-5)
    assert [ecg.classes[i] for i in y] == ["norm"] * 2 + ["mi"] * 2
    sleep = open_task(cfg, cfg.tasks[1])
    x, y = _all(sleep)
    exp = np.concatenate([_expected_windows(stored[a:b], 100, 100) for a, b in ((0, 200), (200, 500), (500, 600))])
    np.testing.assert_allclose(x, exp, atol=1e-5)
    assert [sleep.classes[i] for i in y] == ["W", "W", "N2", "N2", "N2", "W"]
    idx = json.loads((sleep.folder / "index.json").read_text())
    assert idx["n_windows"] == 6 and idx["classes"] == ["N2", "W"]
