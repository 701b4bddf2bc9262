"""Embedding whole datasets: inputs (folder, glob, manifest, BIDS), the Parquet dataset, resume, failures,
kill-and-rerun, and chunked conditioning equal to whole for every modality's filter."""

from __future__ import annotations

import gzip
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from tiny_biomoe import dataset_embed as de
from tiny_biomoe.dataset_embed import embed_dataset, list_inputs
from tiny_biomoe.embeddings_io import ERRORS_NAME, INDEX_NAME, read_dataset_metadata, read_embedding_dataset
from tiny_biomoe.errors import DatasetError
from tiny_biomoe.signals.chunked import iter_condition, overlap_samples
from tiny_biomoe.signals.conditioning import condition
from tiny_biomoe.signals.modalities import get_modality, list_modalities
from tiny_biomoe.signals.simulate import simulate_recording

#: a recording rate for each modality that differs from its model rate where it can (resampling is chunked too)
_RATES = {"eda": 64, "bvp": 64, "resp": 25, "spo2": 1, "ecg": 300, "emg": 500, "eeg": 200}


def _csv(path: Path, seconds: float, seed: int, fs: int = 20) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * fs)) / fs
    x = 2 + 0.3 * np.sin(2 * np.pi * 0.2 * t + seed) + 0.05 * np.random.default_rng(seed).normal(size=t.size)
    pd.DataFrame({"time_s": t, "eda": x}).to_csv(path, index=False)
    return path


@pytest.fixture
def study(tmp_path) -> Path:
    """study/{s1,s2}/*.csv (20 Hz, 20-30 s) plus notes that are not recordings."""
    root = tmp_path / "study"
    _csv(root / "s1" / "rec_a.csv", 20, 1)
    _csv(root / "s1" / "rec_b.csv", 30, 2)
    _csv(root / "s2" / "rec_c.csv", 25, 3)
    (root / "README.md").write_text("not a recording")
    (root / ".hidden.csv").write_text("x")
    return root


def _run(inputs, out, weights, **kw):
    kw.setdefault("modality", "eda")
    kw.setdefault("kinds", ["waveform"])
    kw.setdefault("window", 5.0)
    kw.setdefault("resample", "native")
    return embed_dataset(inputs, out, weights=weights, **kw)


# ----------------------------------------------------------------------------- inputs
def test_folder_glob_and_missing_inputs(study):
    recs = list_inputs([study])
    assert [r.name for r in recs] == ["s1/rec_a.csv", "s1/rec_b.csv", "s2/rec_c.csv"]  # recursive, sorted, no notes
    recs = list_inputs([str(study / "s1" / "*.csv"), study / "s1" / "rec_a.csv"])
    assert [r.path.name for r in recs] == ["rec_a.csv", "rec_b.csv"]  # the same file twice is kept once
    with pytest.raises(DatasetError, match="matches no recordings"):
        list_inputs([str(study / "*.edf")])
    with pytest.raises(DatasetError, match="does not exist"):
        list_inputs([study / "nope.csv"])


def test_same_relative_name_in_two_folders_is_kept_apart(tmp_path):
    a = _csv(tmp_path / "studyA" / "rec.csv", 10, 1)
    b = _csv(tmp_path / "studyB" / "rec.csv", 10, 2)
    _csv(tmp_path / "studyB" / "only_b.csv", 10, 3)
    recs = list_inputs([tmp_path / "studyA", tmp_path / "studyB"])
    assert [(r.name, r.path) for r in recs] == [("studyA/rec.csv", a),
                                                ("only_b.csv", tmp_path / "studyB" / "only_b.csv"),
                                                ("studyB/rec.csv", b)]
    assert len({r.key for r in recs}) == len({r.part_name for r in recs}) == 3
    # two roots of the same folder name cannot be told apart: refused, naming both files
    _csv(tmp_path / "x" / "data" / "rec.csv", 10, 4)
    _csv(tmp_path / "y" / "data" / "rec.csv", 10, 5)
    with pytest.raises(DatasetError, match=r"same name 'data/rec.csv'.*x/data/rec.csv.*y/data/rec.csv.*manifest"):
        list_inputs([tmp_path / "x" / "data", tmp_path / "y" / "data"])


def test_same_folder_relative_absolute_or_twice_is_listed_once(tmp_path, monkeypatch):
    _csv(tmp_path / "study" / "r1.csv", 10, 1)
    _csv(tmp_path / "study" / "r2.csv", 10, 2)
    monkeypatch.chdir(tmp_path)
    for inputs in (["study", tmp_path / "study"], ["study", "study"], ["study/r1.csv", tmp_path / "study" / "r1.csv"]):
        recs = list_inputs(inputs)
        assert len(recs) == len({r.path.resolve() for r in recs}) == (1 if str(inputs[0]).endswith(".csv") else 2)
        assert all("/" not in r.name or r.name.startswith("study/") for r in recs)


def test_wfdb_folder_lists_each_record_once_and_multi_segment_records_whole(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    from tiny_biomoe.signals import read_signal

    db = tmp_path / "db"
    db.mkdir()
    rng = np.random.default_rng(0)
    for name in ("r1", "r2"):  # single-segment records: a .hea and a .dat each
        wfdb.wrsamp(name, fs=250, units=["mV"], sig_name=["II"], p_signal=rng.normal(size=(1000, 1)), fmt=["16"],
                    write_dir=str(db))
    # a multi-segment record as PhysioNet databases (MIMIC) store it: a master header
    # ``<record>/<segments> <signals> <fs> <length>`` listing a layout header and its segments (``~`` a gap)
    segs = [rng.normal(size=(600, 1)), rng.normal(size=(400, 1))]
    for i, x in enumerate(segs, 1):
        wfdb.wrsamp(f"m_{i:04d}", fs=250, units=["mV"], sig_name=["II"], p_signal=x, fmt=["16"], write_dir=str(db))
    (db / "m.hea").write_text("m/4 1 250 1100\nm_layout 0\nm_0001 600\n~ 100\nm_0002 400\n")
    (db / "m_layout.hea").write_text("m_layout 1 250 0\n~ 0 200/mV 16 0 0 0 0 II\n")
    (db / "RECORDS").write_text("r1\nr2\nm\n")
    recs = list_inputs([db])
    assert [r.name for r in recs] == ["m.hea", "r1.hea", "r2.hea"]
    whole = read_signal(db / "m.hea").signals["II"]
    assert whole.size == 1100  # the segments end to end, the gap as missing samples
    np.testing.assert_allclose(whole[:600], segs[0][:, 0], atol=1e-3)
    np.testing.assert_allclose(whole[700:], segs[1][:, 0], atol=1e-3)
    assert np.isnan(whole[600:700]).all()


def test_manifest_and_bids_metadata(tmp_path, study):
    man = tmp_path / "manifest.csv"
    pd.DataFrame({"file": ["study/s1/rec_a.csv", "study/s2/rec_c.csv"], "modality": ["eda", "bvp"],
                  "column": ["eda", "eda"], "rate": ["", "20"], "subject": ["01", "02"], "session": ["1", "2"]}
                 ).to_csv(man, index=False)
    recs = list_inputs([], manifest=man)
    assert [(r.name, r.modality, r.sampling_rate, dict(r.metadata)) for r in recs] == [
        ("study/s1/rec_a.csv", "eda", None, {"subject": "01", "session": "1"}),
        ("study/s2/rec_c.csv", "bvp", 20.0, {"subject": "02", "session": "2"})]
    bids = tmp_path / "bids"
    (bids / "sub-07" / "ses-2" / "beh").mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.8.0"}))
    stem = bids / "sub-07" / "ses-2" / "beh" / "sub-07_ses-2_task-rest_run-1_physio"
    with gzip.open(f"{stem}.tsv.gz", "wt") as fh:
        fh.write("\n".join(f"{2 + np.sin(i / 9):.5f}" for i in range(400)))
    Path(f"{stem}.json").write_text(json.dumps({"SamplingFrequency": 20, "StartTime": 0, "Columns": ["eda"]}))
    (stem.parent / "sub-07_ses-2_task-rest_events.tsv").write_text("onset\tduration\n1\t2\n")
    recs = list_inputs([bids])
    assert [(r.name, dict(r.metadata)) for r in recs] == [
        ("sub-07/ses-2/beh/sub-07_ses-2_task-rest_run-1_physio.tsv.gz",
         {"subject": "07", "session": "2", "task": "rest", "run": "1"})]


# ----------------------------------------------------------------------------- the dataset
def test_dataset_rows_metadata_and_filtered_reads(tmp_path, study, reference_checkpoint):
    man = tmp_path / "m.csv"
    pd.DataFrame({"file": ["study/s1/rec_a.csv", "study/s1/rec_b.csv", "study/s2/rec_c.csv"],
                  "subject": ["01", "01", "02"], "group": ["x", "x", "y"]}).to_csv(man, index=False)
    out = tmp_path / "ds.parquet"
    res = _run([], out, reference_checkpoint, manifest=man, kinds=["waveform", "psd"])
    assert (res.recordings, res.embedded, res.n_failed) == (3, 3, 0)
    # windows: 5 s, no overlap, on 20/30/25 s recordings at their own rate
    assert res.n_windows == 4 + 6 + 5
    df = read_embedding_dataset(out)
    assert list(df.columns) == ["source", "channel", "modality", "kind", "window", "start_s", "end_s", "group",
                                "subject", "embedding"]
    assert len(df) == 2 * res.n_windows and set(df["kind"]) == {"waveform", "psd"}
    a = df[(df.source == "study/s1/rec_b.csv") & (df.kind == "waveform")]
    np.testing.assert_allclose(a["start_s"], np.arange(6) * 5.0)
    np.testing.assert_allclose(a["end_s"] - a["start_s"], 5.0)
    assert set(a["subject"]) == {"01"} and set(a["channel"]) == {"eda"} and set(a["modality"]) == {"eda"}
    # filtered reads equal the filtered frame
    sub = read_embedding_dataset(out, subjects="02", kinds=["psd"], as_numpy=True)
    want = df[(df.subject == "02") & (df.kind == "psd")]
    assert sub["embedding"].shape == (5, 192) and sub["embedding"].dtype == np.float32
    np.testing.assert_array_equal(sub["embedding"], np.stack(want["embedding"].to_numpy()))
    assert list(sub["source"]) == ["study/s2/rec_c.csv"] * 5
    with pytest.raises(DatasetError, match="no 'session' column|no column"):
        read_embedding_dataset(out, columns=["session"])
    # one part file per recording; the index records settings, weights and package version
    meta = read_dataset_metadata(out)
    assert sorted(p.name for p in out.glob("part-*.parquet")) == sorted(p["file"] for p in meta["parts"])
    assert len(meta["parts"]) == 3 and meta["n_windows"] == res.n_windows
    assert meta["weights"]["sha256"] and meta["settings"]["kinds"] == ["waveform", "psd"]
    assert meta["package_version"] and (out / ERRORS_NAME).read_text() == "path,reason\n"
    # the embedding of a row is the model's embedding of that window (independent single-window path)
    from tiny_biomoe.embed import embed_windows
    from tiny_biomoe.signals.readers import read_signal

    rec = read_signal(study / "s1" / "rec_b.csv")
    w = condition(rec.signals["eda"], sampling_rate=rec.rate("eda"), modality="eda", window_s=5.0, resample="native",
                  quality=False)
    ref = embed_windows(w.data[2:3], sampling_rate=w.sampling_rate, modality="eda", kinds=["waveform"],
                        model=str(reference_checkpoint))
    np.testing.assert_allclose(np.stack(a["embedding"].to_numpy())[2], ref["waveform"][0], atol=1e-5)


def test_resume_skips_up_to_date_and_force_redoes(tmp_path, study, reference_checkpoint, monkeypatch):
    out = tmp_path / "ds.parquet"
    _run([study], out, reference_checkpoint)
    calls: list[str] = []
    real = de._embed_one
    monkeypatch.setattr(de, "_embed_one", lambda rec, *a, **k: (calls.append(rec.name), real(rec, *a, **k))[1])
    res = _run([study], out, reference_checkpoint)
    assert (res.skipped, res.embedded, calls) == (3, 0, [])
    _csv(study / "s1" / "rec_b.csv", 30, 99)  # new content: redone
    res = _run([study], out, reference_checkpoint)
    assert calls == ["s1/rec_b.csv"] and (res.skipped, res.embedded) == (2, 1)
    res = _run([study], out, reference_checkpoint, stride=2.5)  # other settings: everything redone
    assert res.embedded == 3 and res.n_windows == 7 + 11 + 9
    calls.clear()
    res = _run([study], out, reference_checkpoint, stride=2.5, force=True)
    assert len(calls) == 3 and res.embedded == 3
    plan = _run([study], out, reference_checkpoint, stride=2.5, dry_run=True).plan
    assert [p["action"] for p in plan] == ["skip", "skip", "skip"]
    plan = _run([study], out, reference_checkpoint, dry_run=True).plan  # the settings of the first run
    assert [p["action"] for p in plan] == ["redo", "redo", "redo"]


def test_broken_recording_reported_others_go_on(tmp_path, study, reference_checkpoint, capsys):
    (study / "s1" / "broken.csv").write_text("time_s,eda\n0,1\n0.05,2\n")  # shorter than a window
    (study / "s2" / "garbage.npy").write_bytes(b"\x93NUMPY not really")
    from tiny_biomoe.cli import main

    out = tmp_path / "ds.parquet"
    rc = main(["embed", str(study), "--modality", "eda", "--kinds", "waveform", "--window", "5", "--no-progress",
               "--weights", str(reference_checkpoint), "-o", str(out)])
    printed = capsys.readouterr().out
    assert rc == 3
    errs = pd.read_csv(out / ERRORS_NAME)
    assert sorted(Path(p).name for p in errs["path"]) == ["broken.csv", "garbage.npy"]
    assert errs["reason"].str.startswith("SignalError").all()
    assert "failed                2" in printed and "recordings            5" in printed
    meta = read_dataset_metadata(out)
    assert len(meta["parts"]) == 3 and len(meta["failures"]) == 2
    assert set(read_embedding_dataset(out)["source"]) == {"s1/rec_a.csv", "s1/rec_b.csv", "s2/rec_c.csv"}


def _snapshot(out: Path) -> dict[str, object]:
    """Every file of the dataset: parts as tables (with their metadata), the index and errors as text."""
    snap: dict[str, object] = {}
    for p in sorted(out.iterdir()):
        snap[p.name] = pq.read_table(p) if p.suffix == ".parquet" else p.read_text()
    return snap


def test_kill_and_rerun_gives_the_same_dataset(tmp_path, study, reference_checkpoint, monkeypatch):
    whole = tmp_path / "whole.parquet"
    _run([study], whole, reference_checkpoint)
    out = tmp_path / "ds.parquet"
    real = de._embed_one

    def killed_on_second(rec, *a, **k):
        if rec.name == "s1/rec_b.csv":
            raise KeyboardInterrupt  # the process dies while this recording is in flight
        return real(rec, *a, **k)

    monkeypatch.setattr(de, "_embed_one", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        _run([study], out, reference_checkpoint)
    assert [p.name for p in out.glob("part-*")] == [next(whole.glob("part-s1_rec_a*")).name]
    assert not (out / INDEX_NAME).exists()
    # a SIGKILL leaves the writer's temporary behind (its process is gone)
    stale = out / f".{next(whole.glob('part-s1_rec_b*')).name}.p999999999.x1.tmp.parquet"
    stale.write_bytes(b"PAR1 half")
    monkeypatch.setattr(de, "_embed_one", real)
    res = _run([study], out, reference_checkpoint)
    assert (res.skipped, res.embedded) == (1, 2)
    a, b = _snapshot(whole), _snapshot(out)
    assert list(a) == list(b)
    for name in a:
        if name.endswith(".parquet"):
            assert a[name].equals(b[name], check_metadata=True), name
        else:
            assert a[name] == b[name].replace(str(out), str(whole)), name


def test_cli_single_file_keeps_its_output(tmp_path, study, reference_checkpoint, capsys):
    from tiny_biomoe.cli import main

    one = study / "s1" / "rec_a.csv"
    rc = main(["embed", str(one), "--modality", "eda", "--kinds", "waveform", "--window", "5", "--no-progress",
               "--weights", str(reference_checkpoint)])
    assert rc == 0 and (study / "s1" / "rec_a.eda.embeddings.npz").is_file()
    rc = main(["embed", str(study / "s1" / "rec_a.csv"), str(study / "s2" / "rec_c.csv"), "--modality", "eda",
               "--kinds", "waveform", "--window", "5", "--weights", str(reference_checkpoint), "--dry-run",
               "-o", str(tmp_path / "x")])
    assert rc == 0 and "2 to embed" in capsys.readouterr().out and not (tmp_path / "x").exists()
    rc = main(["embed", str(study), "--modality", "eda", "--weights", str(reference_checkpoint)])
    assert rc == 2 and "-o/--output" in capsys.readouterr().err
    # the single-file output beside its recording is not a recording of the folder
    assert [r.name for r in list_inputs([study])] == ["s1/rec_a.csv", "s1/rec_b.csv", "s2/rec_c.csv"]
    with pytest.raises(DatasetError, match="matches no recordings"):
        list_inputs([str(study / "s1" / "*.npz")])
    np.savez(study / "s1" / "raw.npz", eda=np.ones(200))  # a recording saved as .npz still is one
    assert "s1/raw.npz" in [r.name for r in list_inputs([study])]


def test_cli_never_writes_over_its_input(tmp_path, study, reference_checkpoint, capsys):
    from tiny_biomoe.cli import main

    rec = tmp_path / "in.npz"
    np.savez(rec, eda=np.linspace(1, 2, 2000))
    before = rec.read_bytes()
    rc = main(["embed", str(rec), "--modality", "eda", "--fs", "20", "--kinds", "waveform", "--window", "5",
               "--weights", str(reference_checkpoint), "-o", str(rec), "--force", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "is the input" in err and "choose another output" in err
    assert rec.read_bytes() == before
    one = study / "s1" / "rec_a.csv"
    rc = main(["render", str(one), "--modality", "eda", "-o", str(study), "--force"])
    assert rc == 2 and "holds the input" in capsys.readouterr().err and one.is_file()


def _e4_session(folder: Path, seed: int, seconds: int = 30) -> Path:
    """An Empatica E4 session folder as E4 connect exports it (EDA at 4 Hz, BVP at 64 Hz, tags)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    start = 1600000000.0 + seed
    eda = 2 + 0.2 * np.sin(np.arange(4 * seconds) / 7) + 0.01 * rng.normal(size=4 * seconds)
    (folder / "EDA.csv").write_text(f"{start:.6f}\n4.000000\n" + "".join(f"{v:.6f}\n" for v in eda))
    (folder / "BVP.csv").write_text(f"{start:.6f}\n64.000000\n" + "".join(f"{v:.2f}\n" for v in rng.normal(size=64 * seconds)))
    (folder / "tags.csv").write_text("")
    return folder


def test_e4_session_folders_are_one_recording_each(tmp_path, study, reference_checkpoint, capsys):
    from tiny_biomoe.cli import main

    _e4_session(study / "s3" / "1600000003_A0", 3)
    _e4_session(study / "s4_e4", 4)
    recs = list_inputs([study])
    assert [r.name for r in recs] == ["s1/rec_a.csv", "s1/rec_b.csv", "s2/rec_c.csv", "s3/1600000003_A0", "s4_e4"]
    assert list_inputs([study / "s4_e4"])[0].name == "s4_e4"  # the session folder itself
    res = _run([study / "s3", study / "s4_e4"], tmp_path / "e4.parquet", reference_checkpoint, resample="model")
    df = read_embedding_dataset(tmp_path / "e4.parquet")
    assert sorted(df["source"].unique()) == ["1600000003_A0", "s4_e4"] and not res.failures
    assert len(df) == 2 * 6  # 30 s of EDA at its model rate: 5 s windows at 0, 5, ..., 25 s
    # one session folder on its own is one recording: the single-file output beside it
    out = tmp_path / "one.npz"
    rc = main(["embed", str(study / "s4_e4"), "--modality", "eda", "--kinds", "waveform", "--window", "5",
               "--no-progress", "--weights", str(reference_checkpoint), "-o", str(out)])
    assert rc == 0 and out.is_file()


def test_a_fifo_is_refused_as_one_file_not_read_as_a_dataset(tmp_path, reference_checkpoint, capsys):
    from tiny_biomoe.cli import main

    fifo = tmp_path / "rec.csv"
    os.mkfifo(fifo)
    rc = main(["embed", str(fifo), "--modality", "eda", "--weights", str(reference_checkpoint), "-o",
               str(tmp_path / "e.npz")])
    assert rc == 2 and "not a regular file" in capsys.readouterr().err and not (tmp_path / "e.npz").exists()


# ----------------------------------------------------------------------------- chunked == whole
@pytest.mark.parametrize("name", list_modalities())
def test_chunked_conditioning_equals_whole(name):
    m = get_modality(name)
    fs = _RATES[name]
    ov = overlap_samples(m, fs, m.model_rate_hz) / fs
    x = simulate_recording(name, duration_s=max(120.0, 8 * ov), sampling_rate=fs, seed=4)
    n = x.size
    x[n // 3 : n // 3 + int(2.5 * m.window_s * fs)] = np.nan  # a long gap: filtered on each side alone
    x[n // 2 : n // 2 + max(1, int(0.2 * fs))] = np.nan  # a short gap: interpolated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = condition(x, sampling_rate=fs, modality=m, quality=False)
        chunks = list(iter_condition(x, fs, m, chunk_windows=3))
    assert len(chunks) >= 3  # it really was chunked
    starts = np.concatenate([c.starts for c in chunks])
    data = np.concatenate([c.data for c in chunks])
    np.testing.assert_array_equal(starts, whole.starts)
    np.testing.assert_allclose(data, whole.data, rtol=0, atol=1e-9 * np.ptp(whole.data))
    assert {c.sampling_rate for c in chunks} == {whole.sampling_rate}
    assert sum(c.n_dropped for c in chunks) == whole.n_dropped
    limited = list(iter_condition(x, fs, m, chunk_windows=3, max_windows=4))
    np.testing.assert_array_equal(np.concatenate([c.starts for c in limited]), whole.starts[:4])


def test_chunked_dataset_equals_whole_and_chunk_size_is_not_a_setting(tmp_path, study, reference_checkpoint):
    whole = tmp_path / "whole.parquet"
    _run([study], whole, reference_checkpoint, resample="model", stride=2.5, chunk_windows=10_000)
    small = tmp_path / "small.parquet"
    res = _run([study], small, reference_checkpoint, resample="model", stride=2.5, chunk_windows=2)
    a, b = read_embedding_dataset(whole), read_embedding_dataset(small)
    pd.testing.assert_frame_equal(a.drop(columns="embedding"), b.drop(columns="embedding"))
    np.testing.assert_allclose(np.stack(a["embedding"]), np.stack(b["embedding"]), rtol=0, atol=1e-5)
    assert res.n_windows == 7 + 11 + 9  # rec_b: 30 s, 5 s windows every 2.5 s
    # written chunk by chunk: rec_b's 11 windows in 6 row groups of at most 2 windows, whole in one
    assert pq.ParquetFile(next(small.glob("part-s1_rec_b*"))).num_row_groups == 6
    assert pq.ParquetFile(next(whole.glob("part-s1_rec_b*"))).num_row_groups == 1
    again = _run([study], small, reference_checkpoint, resample="model", stride=2.5, chunk_windows=7)
    assert again.skipped == 3 and again.embedded == 0
