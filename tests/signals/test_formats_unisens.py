"""Unisens folders (movisens EdaMove/EcgMove layout), written here by the format's specification:
``unisens.xml`` in the unisens2.0 namespace, interleaved little- or big-endian binary signal entries,
a CSV signal entry and a CSV event entry."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_biomoe.cli import main
from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import read_signal
from tiny_biomoe.signals.readers import detect_format

NS = "http://www.unisens.org/unisens2.0"


def _folder(tmp_path, *, namespace=True, big=False, acc_bytes=None):
    d = tmp_path / "S01_unisens"
    d.mkdir()
    rng = np.random.default_rng(4)
    eda_counts = np.round(rng.uniform(1500, 2500, 32 * 60)).astype("<u2")  # 60 s at 32 Hz, 0.001 uS per count
    acc = rng.integers(-2000, 2000, size=(64 * 60, 3)).astype(">i2" if big else "<i2")
    eda_counts.tofile(d / "eda.bin")
    (d / "acc.bin").write_bytes(acc.tobytes() if acc_bytes is None else acc.tobytes()[:acc_bytes])
    temp = 33 + 0.01 * np.arange(60)
    (d / "temp.csv").write_text("".join(f"{v:.2f}\n".replace(".", ",") for v in temp))
    (d / "marker.csv").write_text("640;1;pain on\n1920;2;pain off\n")
    xmlns = f' xmlns="{NS}"' if namespace else ""
    (d / "unisens.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<unisens{xmlns} version="2.0" timestampStart="2024-05-06T10:00:00.000" duration="60" measurementId="S01">
  <customAttributes><customAttribute key="sensorSerialNumber" value="1234"/></customAttributes>
  <signalEntry id="eda.bin" dataType="uint16" sampleRate="32" lsbValue="0.001" baseline="0" unit="uS" contentClass="EDA">
    <binFileFormat endianess="LITTLE"/>
    <channel name="eda"/>
  </signalEntry>
  <signalEntry id="acc.bin" dataType="int16" sampleRate="64" lsbValue="0.00048828125" baseline="0" unit="g" contentClass="ACC">
    <binFileFormat endianess="{'BIG' if big else 'LITTLE'}"/>
    <channel name="accX"/><channel name="accY"/><channel name="accZ"/>
  </signalEntry>
  <signalEntry id="temp.csv" sampleRate="1" unit="degC" contentClass="TEMP">
    <csvFileFormat separator=";" decimalSeparator=","/>
    <channel name="temp"/>
  </signalEntry>
  <eventEntry id="marker.csv" sampleRate="64" typeLength="1" commentLength="20">
    <csvFileFormat separator=";" decimalSeparator="."/>
  </eventEntry>
  <valuesEntry id="hr.csv" sampleRate="64"><csvFileFormat separator=";"/><channel name="hr"/></valuesEntry>
</unisens>
""")
    return d, eda_counts * 0.001, acc.astype(np.float64) * 0.00048828125, temp


@pytest.mark.parametrize("namespace, big", [(True, False), (False, True)])
def test_signal_entries_rates_units_and_markers(tmp_path, namespace, big):
    from tiny_biomoe.data import read_events

    d, eda, acc, temp = _folder(tmp_path, namespace=namespace, big=big)
    assert detect_format(d) == "unisens" and detect_format(d / "unisens.xml") == "unisens"
    rec = read_signal(d)
    assert rec.channels == ["eda", "accX", "accY", "accZ", "temp"]
    assert rec.sampling_rate == {"eda": 32.0, "accX": 64.0, "accY": 64.0, "accZ": 64.0, "temp": 1.0}
    np.testing.assert_allclose(rec.signals["eda"], eda)
    np.testing.assert_allclose(rec.signals["accY"], acc[:, 1])  # interleaved samples, byte order from the header
    np.testing.assert_allclose(rec.signals["temp"], temp)  # a CSV signal with a decimal comma
    assert rec.units["eda"] == "uS" and rec.units["accX"] == "g"
    assert rec.info["start_time"] == "2024-05-06T10:00:00.000" and rec.info["skipped_entries"] == ["hr.csv"]
    assert rec.pick(modality="eda")[0] == "eda" and rec.channel_modalities()["accX"] is None
    ev = read_events(rec)
    assert ev["onset"].tolist() == [10.0, 30.0] and ev["label"].tolist() == ["1 pain on", "2 pain off"]


def test_embed_a_unisens_folder_and_find_it_in_a_dataset(tmp_path, reference_checkpoint, capsys):
    d, *_ = _folder(tmp_path)
    assert main(["embed", str(d), "--modality", "eda", "--kinds", "waveform", "--window", "10", "--no-progress",
                 "--weights", str(reference_checkpoint)]) == 0
    assert (tmp_path / "S01_unisens.eda.embeddings.npz").is_file()
    assert main(["inspect", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "unisens" in out and "1 files" in out  # the folder is one recording, its .bin/.csv files are not listed


def test_damaged_unisens_folders_are_refused_with_the_reason(tmp_path):
    d, *_ = _folder(tmp_path, acc_bytes=1001)
    with pytest.raises(SignalError, match="not whole samples of 3 int16 channels"):
        read_signal(d)
    (d / "acc.bin").unlink()
    with pytest.raises(SignalError, match="data file .* is missing"):
        read_signal(d)
    (d / "unisens.xml").write_text("<unisens><signalEntry")
    with pytest.raises(SignalError, match="not readable XML"):
        read_signal(d)
    (d / "unisens.xml").write_text('<unisens><signalEntry id="eda.bin" dataType="int12" sampleRate="32">'
                                   '<channel name="eda"/></signalEntry></unisens>')
    with pytest.raises(SignalError, match="dataType 'int12'"):
        read_signal(d)
