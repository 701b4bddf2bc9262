"""Empatica EmbracePlus raw data: Avro files written here with fastavro in the layout of Empatica's
raw data schema (``rawData`` with ``eda``, ``bvp``, ``temperature``, ``accelerometer``, ``gyroscope``,
``tags``, ``systolicPeaks``, ``steps``), one file per stretch of recording."""

from __future__ import annotations

import fastavro  # part of the [io] extra that the test command installs
import numpy as np
import pytest

from tiny_biomoe.cli import main
from tiny_biomoe.errors import DatasetError, SignalError
from tiny_biomoe.signals import read_signal
from tiny_biomoe.signals.readers import detect_format

START_US = 1_700_000_000_000_000

_SENSOR = {"type": "record", "name": "Sensor", "fields": [
    {"name": "timestampStart", "type": "long"}, {"name": "samplingFrequency", "type": "float"},
    {"name": "values", "type": {"type": "array", "items": "float"}}]}
_IMU = {"type": "record", "name": "ThreeAxis", "fields": [
    {"name": "timestampStart", "type": "long"}, {"name": "samplingFrequency", "type": "float"},
    {"name": "imuParams", "type": {"type": "record", "name": "ImuParams", "fields": [
        {"name": n, "type": "int"} for n in ("physicalMin", "physicalMax", "digitalMin", "digitalMax")]}},
    *({"name": a, "type": {"type": "array", "items": "int"}} for a in "xyz")]}
SCHEMA = fastavro.parse_schema({"type": "record", "name": "AvroData", "namespace": "com.empatica.cloud.avro", "fields": [
    {"name": "timezone", "type": "int"},
    {"name": "rawData", "type": {"type": "record", "name": "RawData", "fields": [
        {"name": "accelerometer", "type": _IMU},
        {"name": "gyroscope", "type": "ThreeAxis"},
        {"name": "eda", "type": _SENSOR},
        {"name": "temperature", "type": "Sensor"},
        {"name": "tags", "type": {"type": "record", "name": "Tags", "fields": [
            {"name": "tagsTimeMicros", "type": {"type": "array", "items": "long"}}]}},
        {"name": "bvp", "type": "Sensor"},
        {"name": "systolicPeaks", "type": {"type": "record", "name": "Peaks", "fields": [
            {"name": "peaksTimeNanos", "type": {"type": "array", "items": "long"}}]}},
        {"name": "steps", "type": {"type": "record", "name": "Steps", "fields": [
            {"name": "timestampStart", "type": "long"}, {"name": "samplingFrequency", "type": "float"},
            {"name": "values", "type": {"type": "array", "items": "int"}}]}},
    ]}}]})


def _sensor(start, fs, values):
    return {"timestampStart": int(start), "samplingFrequency": fs, "values": [float(v) for v in values]}


def _write(path, start_us, seconds, seed, tags=()):
    rng = np.random.default_rng(seed)
    eda = np.round(2 + rng.uniform(0, 1, int(4 * seconds)), 4)
    bvp = np.round(np.sin(np.arange(int(64 * seconds)) / 5), 4)
    acc = rng.integers(-4096, 4096, size=(3, int(64 * seconds)))
    imu = {"timestampStart": int(start_us), "samplingFrequency": 64.0,
           "imuParams": {"physicalMin": -16, "physicalMax": 16, "digitalMin": -32768, "digitalMax": 32767},
           **{a: acc[i].tolist() for i, a in enumerate("xyz")}}
    empty = {"timestampStart": 0, "samplingFrequency": 0.0, "imuParams": imu["imuParams"], "x": [], "y": [], "z": []}
    rec = {"timezone": 0, "rawData": {
        "accelerometer": imu, "gyroscope": empty, "eda": _sensor(start_us, 4.0, eda),
        "temperature": _sensor(start_us, 1.0, np.full(int(seconds), 33.5)), "tags": {"tagsTimeMicros": list(tags)},
        "bvp": _sensor(start_us, 64.0, bvp), "systolicPeaks": {"peaksTimeNanos": []},
        "steps": {"timestampStart": int(start_us), "samplingFrequency": 0.2, "values": [0] * int(seconds / 5)}}}
    with open(path, "wb") as fh:
        fastavro.writer(fh, SCHEMA, [rec])
    return eda, bvp, acc


def test_one_file_channels_rates_units_and_conversion(tmp_path):
    p = tmp_path / "1-1-S01_1700000000.avro"
    eda, bvp, acc = _write(p, START_US, 30, 0, tags=[START_US + 5_000_000])
    assert detect_format(p) == "embraceplus"
    rec = read_signal(p)
    assert rec.channels == ["EDA", "BVP", "TEMP", "ACC_x", "ACC_y", "ACC_z"]  # the empty gyroscope is left out
    assert rec.sampling_rate == {"EDA": 4.0, "BVP": 64.0, "TEMP": 1.0, "ACC_x": 64.0, "ACC_y": 64.0, "ACC_z": 64.0}
    np.testing.assert_allclose(rec.signals["EDA"], eda, rtol=1e-6)
    np.testing.assert_allclose(rec.signals["BVP"], bvp, atol=1e-6)
    np.testing.assert_allclose(rec.signals["ACC_y"], acc[1] * 32 / 65535)  # counts x physical / digital range
    assert rec.units == {"EDA": "uS", "TEMP": "degC", "ACC_x": "g", "ACC_y": "g", "ACC_z": "g"}
    assert rec.info["start_time"]["EDA"] == START_US / 1e6 and rec.info["tags"] == [START_US / 1e6 + 5]
    assert rec.channel_modalities()["EDA"] == "eda" and rec.channel_modalities()["BVP"] == "bvp"
    raw = read_signal(p, convert=False)
    np.testing.assert_array_equal(raw.signals["ACC_x"], acc[0])
    assert raw.units["ACC_x"] == "counts" and raw.info["converted"]["ACC_x"] is False
    assert rec.pick(modality="ppg")[0] == "BVP"


def test_a_folder_of_files_is_one_recording_with_the_pauses_as_nan(tmp_path):
    folder = tmp_path / "participant_data" / "2023-11-14" / "S01" / "raw_data" / "v6"
    folder.mkdir(parents=True)
    a = _write(folder / "1-1-S01_b.avro", START_US, 40, 1)
    b = _write(folder / "1-1-S01_a.avro", START_US + 60_000_000, 20, 2)  # 20 s after the first one ends
    participant = folder.parents[1]
    for where in (folder, participant):
        assert detect_format(where) == "embraceplus"
        rec = read_signal(where)
        eda = rec.signals["EDA"]
        assert eda.size == 4 * 80 and rec.info["files"] == 2 and rec.info["pauses_filled"]["eda"] == 1
        np.testing.assert_allclose(eda[:160], a[0], rtol=1e-6)
        assert np.isnan(eda[160:240]).all()
        np.testing.assert_allclose(eda[240:], b[0], rtol=1e-6)
        assert rec.signals["BVP"].size == 64 * 80


def test_embed_a_participant_folder_and_a_dataset_of_them(tmp_path, reference_checkpoint, capsys):
    for sid in ("S01", "S02"):
        d = tmp_path / "study" / sid / "raw_data" / "v6"
        d.mkdir(parents=True)
        _write(d / f"1-1-{sid}.avro", START_US, 30, int(sid[-1]))
    one = tmp_path / "study" / "S01"
    assert main(["embed", str(one), "--modality", "bvp", "--kinds", "waveform", "--window", "10", "--no-progress",
                 "--weights", str(reference_checkpoint)]) == 0
    assert (tmp_path / "study" / "S01.bvp.embeddings.npz").is_file()
    assert main(["embed", str(tmp_path / "study"), "--modality", "eda", "--kinds", "waveform", "--window", "10",
                 "--dry-run", "-o", str(tmp_path / "all.parquet"), "--weights", str(reference_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "2 to embed" in out and "S01" in out and "S02" in out  # a participant folder is one recording


def test_damaged_or_foreign_avro_files_are_refused(tmp_path, capsys):
    p = tmp_path / "cut.avro"
    _write(p, START_US, 30, 0)
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(SignalError, match="not a readable Avro file"):
        read_signal(p)
    other = tmp_path / "other.avro"
    with open(other, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema({"type": "record", "name": "X", "fields": [
            {"name": "a", "type": "int"}]}), [{"a": 1}])
    with pytest.raises(SignalError, match="without 'rawData'"):
        read_signal(other)
    assert main(["inspect", str(other)]) == 2 and "rawData" in capsys.readouterr().err


def test_tags_are_events_for_cutting_trials(tmp_path):
    from tiny_biomoe.data import cut_trials, read_events

    p = tmp_path / "s.avro"
    eda, _, _ = _write(p, START_US, 60, 3, tags=[START_US + 40_000_000, START_US + 10_000_000])
    rec = read_signal(p)
    ev = read_events(rec)
    assert ev["onset"].tolist() == [10.0, 40.0] and ev["label"].tolist() == ["tag1", "tag2"]
    trials = cut_trials({"EDA": rec.signals["EDA"]}, ev, sampling_rate=4.0, subject="s1", tmin=0, tmax=10)
    np.testing.assert_allclose(trials[1].signals["EDA"], eda[160:200], rtol=1e-6)
    with pytest.raises(DatasetError, match="found no events"):
        read_events(read_signal({"EDA": np.zeros(10)}, sampling_rate=4.0))


def test_a_sensor_without_its_start_time_is_refused(tmp_path):
    schema = fastavro.parse_schema({"type": "record", "name": "A", "fields": [
        {"name": "rawData", "type": {"type": "record", "name": "R", "fields": [
            {"name": "eda", "type": {"type": "record", "name": "E", "fields": [
                {"name": "samplingFrequency", "type": "float"},
                {"name": "values", "type": {"type": "array", "items": "float"}}]}}]}}]})
    p = tmp_path / "nostart.avro"
    with open(p, "wb") as fh:
        fastavro.writer(fh, schema, [{"rawData": {"eda": {"samplingFrequency": 4.0, "values": [1.0, 2.0]}}}])
    with pytest.raises(SignalError, match="no timestampStart"):
        read_signal(p)
