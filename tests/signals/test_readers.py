"""Readers on small files written by the tests themselves."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import Recording, read_signal

FS = 50.0


@pytest.fixture()
def data():
    rng = np.random.default_rng(1)
    t = np.arange(500) / FS
    return t, rng.normal(size=500), np.sin(2 * np.pi * t)


def test_csv_with_time_column_infers_rate(tmp_path, data):
    t, a, b = data
    p = tmp_path / "rec.csv"
    np.savetxt(p, np.c_[t, a, b], delimiter=",", header="Time,eda,bvp", comments="")
    rec = read_signal(p)
    assert rec.channels == ["eda", "bvp"]
    assert rec.rate("eda") == pytest.approx(FS, rel=1e-9)
    np.testing.assert_allclose(rec.signals["eda"], a, rtol=1e-12)
    assert rec.info["time_column"] == "Time"
    name, x, fs = rec.pick(modality="ppg")  # alias resolves to the bvp column
    assert name == "bvp" and fs == pytest.approx(FS)
    np.testing.assert_allclose(x, b, rtol=1e-12)


def test_millisecond_time_column(tmp_path, data):
    t, a, _ = data
    p = tmp_path / "ms.csv"
    np.savetxt(p, np.c_[t * 1000, a], delimiter=",", header="timestamp_ms,eda", comments="")
    assert read_signal(p).sampling_rate == pytest.approx(FS)
    q = tmp_path / "t.csv"
    np.savetxt(q, np.c_[t * 1000, a], delimiter=",", header="clock,eda", comments="")
    assert read_signal(q, time_column="clock", time_unit="ms").sampling_rate == pytest.approx(FS)


def test_tsv_columns_by_index_and_name_with_given_rate(tmp_path, data):
    _, a, b = data
    p = tmp_path / "rec.tsv"
    np.savetxt(p, np.c_[a, b], delimiter="\t", header="x\ty", comments="")
    rec = read_signal(p, columns=[1], sampling_rate=FS)
    assert rec.channels == ["y"] and rec.sampling_rate == FS
    np.testing.assert_allclose(rec.signals["y"], b, rtol=1e-12)
    assert read_signal(p, columns="x", sampling_rate=FS).channels == ["x"]


def test_headerless_csv_needs_rate(tmp_path, data):
    _, a, _ = data
    p = tmp_path / "plain.csv"
    np.savetxt(p, a[:, None], delimiter=",")
    with pytest.raises(SignalError, match="sampling rate"):
        read_signal(p)
    rec = read_signal(p, sampling_rate=FS)
    assert rec.channels == ["0"]
    np.testing.assert_allclose(rec.signals["0"], a, rtol=1e-12)


def test_npy_layouts(tmp_path, data):
    _, a, b = data
    np.save(tmp_path / "cs.npy", np.stack([a, b]))  # (channels, samples)
    np.save(tmp_path / "sc.npy", np.stack([a, b], axis=1))  # (samples, channels)
    for f in ("cs.npy", "sc.npy"):
        rec = read_signal(tmp_path / f, sampling_rate=FS)
        assert rec.channels == ["ch0", "ch1"]
        np.testing.assert_array_equal(rec.signals["ch1"], b)


def test_npz_with_rate_and_time(tmp_path, data):
    t, a, b = data
    np.savez(tmp_path / "r.npz", eda=a, resp=b, fs=np.float64(FS))
    rec = read_signal(tmp_path / "r.npz")
    assert rec.sampling_rate == FS and rec.channels == ["eda", "resp"]
    np.savez(tmp_path / "t.npz", time=t, eda=a)
    rec2 = read_signal(tmp_path / "t.npz")
    assert rec2.channels == ["eda"] and rec2.sampling_rate == pytest.approx(FS)


def test_edf_roundtrip(tmp_path, data):
    import pyedflib  # the 'io' extra is part of the test environment
    _, a, b = data
    p = tmp_path / "r.edf"
    w = pyedflib.EdfWriter(str(p), 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    heads = []
    for lab, x in (("EDA", a), ("BVP", b)):
        heads.append({"label": lab, "dimension": "uV", "sample_frequency": FS, "physical_max": 10.0,
                      "physical_min": -10.0, "digital_max": 32767, "digital_min": -32768})
    w.setSignalHeaders(heads)
    w.writeSamples([a, b])
    w.close()
    rec = read_signal(p)
    assert rec.channels == ["EDA", "BVP"] and rec.rate("BVP") == FS and rec.units["EDA"] == "uV"
    np.testing.assert_allclose(rec.signals["BVP"][: b.size], b, atol=20 / 65535 * 2)
    assert read_signal(p, columns=["BVP"]).channels == ["BVP"]


def test_edf_repeated_labels_start_time_and_annotations(tmp_path):
    import datetime

    import pyedflib

    from tiny_biomoe.data import cut_trials, read_events

    p = tmp_path / "emg.edf"
    w = pyedflib.EdfWriter(str(p), 3, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([{"label": lab, "dimension": "uV", "sample_frequency": 100, "physical_max": 1000.0,
                         "physical_min": -1000.0, "digital_max": 32767, "digital_min": -32768}
                        for lab in ("EMG", "EMG", "ECG")])
    w.setStartdatetime(datetime.datetime(2024, 5, 6, 10, 0, 0))
    x = [100 * np.sin(np.arange(3000) / k) for k in (10, 20, 30)]
    w.writeSamples(x)
    w.writeAnnotation(5.0, 2.0, "pain on")
    w.writeAnnotation(12.5, -1, "button")  # EDF+ -1: no duration
    w.close()
    rec = read_signal(p)
    assert rec.channels == ["EMG", "EMG (2)", "ECG"]  # before, the second EMG replaced the first
    np.testing.assert_allclose(rec.signals["EMG"], x[0], atol=0.1)
    np.testing.assert_allclose(rec.signals["EMG (2)"], x[1], atol=0.1)
    assert rec.info["start_time"] == "2024-05-06T10:00:00"
    ev = read_events(rec)
    assert ev["onset"].tolist() == [5.0, 12.5] and ev["duration"].tolist() == [2.0, 0.0]
    assert ev["label"].tolist() == ["pain on", "button"]
    trials = cut_trials({"ECG": rec.signals["ECG"]}, ev, sampling_rate=100, subject="s1", tmin=0, tmax=2)
    np.testing.assert_allclose(trials[0].signals["ECG"], rec.signals["ECG"][500:700])


def test_unique_names_keep_file_order_and_never_collide():
    from tiny_biomoe.signals.readers import unique_names

    assert unique_names(["a", "b", "a", "a"]) == ["a", "b", "a (2)", "a (3)"]
    assert unique_names(["a", "a (2)", "a"]) == ["a", "a (2)", "a (3)"]


def test_wfdb_roundtrip(tmp_path, data):
    import wfdb
    _, a, b = data
    wfdb.wrsamp("rec", fs=FS, units=["mV", "mV"], sig_name=["ecg", "resp"], p_signal=np.stack([a, b], 1),
                fmt=["16", "16"], write_dir=str(tmp_path))
    rec = read_signal(tmp_path / "rec.hea")
    assert rec.channels == ["ecg", "resp"] and rec.sampling_rate == FS
    np.testing.assert_allclose(rec.signals["resp"], b, atol=1e-3)
    assert read_signal(tmp_path / "rec").channels == ["ecg", "resp"]


def test_in_memory_arrays_and_dicts(data):
    _, a, b = data
    rec = read_signal(np.stack([a, b]), sampling_rate=FS)
    assert isinstance(rec, Recording) and rec.channels == ["ch0", "ch1"]
    rec = read_signal({"eda": a}, sampling_rate=FS)
    assert rec.pick() == ("eda", rec.signals["eda"], FS)
    assert rec.duration() == pytest.approx(a.size / FS)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"sampling_rate": -5}, "not plausible"),
        ({"sampling_rate": 1e9}, "not plausible"),
        ({"sampling_rate": float("nan")}, "not plausible"),
        ({"sampling_rate": FS, "columns": ["nope"]}, "no column"),
        ({"sampling_rate": FS, "columns": [7]}, "out of range"),
    ],
)
def test_bad_inputs(tmp_path, data, kwargs, match):
    _, a, b = data
    p = tmp_path / "r.csv"
    np.savetxt(p, np.c_[a, b], delimiter=",", header="a,b", comments="")
    with pytest.raises(SignalError, match=match):
        read_signal(p, **kwargs)


def test_missing_file_unknown_suffix_and_ambiguous_pick(tmp_path, data):
    with pytest.raises(SignalError, match="does not exist"):
        read_signal(tmp_path / "none.csv", sampling_rate=FS)
    (tmp_path / "x.xyz").write_text("1\n2\n")
    with pytest.raises(SignalError, match="unknown file type"):
        read_signal(tmp_path / "x.xyz", sampling_rate=FS)
    _, a, b = data
    rec = read_signal({"a": a, "b": b}, sampling_rate=FS)
    with pytest.raises(SignalError, match="several channels"):
        rec.pick(modality="eda")


def test_missing_optional_reader_names_the_extra(tmp_path, monkeypatch):
    from tiny_biomoe.errors import MissingDependencyError

    (tmp_path / "r.edf").write_bytes(b"0" * 300)
    monkeypatch.setitem(__import__("sys").modules, "pyedflib", None)  # simulate "not installed"
    with pytest.raises(MissingDependencyError, match=r"tiny-biomoe\[io\]"):
        read_signal(tmp_path / "r.edf")


def test_rate_from_time_column_has_no_float_noise(tmp_path):
    import pandas as pd

    from tiny_biomoe.signals import read_signal

    fs = 100
    t = np.arange(3000) / fs
    p = tmp_path / "t.csv"
    pd.DataFrame({"time": t, "eda": np.sin(t)}).to_csv(p, index=False)
    rec = read_signal(p)
    assert rec.sampling_rate == 100.0


def test_unreadable_npy_npz_are_signal_errors(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    for name in ("junk.npy", "junk.npz", "objects.npz"):
        with pytest.raises(SignalError, match="not a plain numeric"):
            read_signal(tmp_path / name, sampling_rate=FS)


def test_selecting_from_a_recording_leaves_it_unchanged(data):
    _, a, b = data
    rec = Recording({"a": a, "b": b}, FS, "<test>")
    sub = read_signal(rec, columns=["b"], sampling_rate=2 * FS)
    assert (sub.channels, sub.sampling_rate) == (["b"], 2 * FS)
    assert (rec.channels, rec.sampling_rate, rec.info) == (["a", "b"], FS, {})


@pytest.mark.parametrize("name, modality", [
    ("eda", "eda"), ("GSR", "eda"), ("sc", "eda"), ("EDA (µS)", "eda"), ("skin conductance", "eda"),
    ("Shimmer_8A2B_GSR_Skin_Conductance_CAL", "eda"), ("Shimmer_8A2B_PPG_A13_CAL", "bvp"), ("ECG LL-RA", "ecg"),
    ("Resp belt", "resp"), ("SpO2 (%)", "spo2"), ("EMG trapezius left", "emg"),
    ("sc_left", None),  # two-letter words count only as the whole name
    ("EDA_and_ECG", None),  # two modalities: none
    ("PPGtoHR", None), ("Timestamp", None), ("Fp1", None), ("Temperature", None),
])
def test_channel_names_state_their_modality(name, modality):
    from tiny_biomoe.signals import modality_from_name

    rec = read_signal({name: np.zeros(10), "other": np.ones(10)}, sampling_rate=10.0)
    assert rec.channel_modalities()[name] == modality == modality_from_name(name)
