"""PLUX OpenSignals text and HDF5 files, written here in the exact layout OpenSignals exports
(header line, one-line JSON keyed by device MAC, '# EndOfHeader', tab-separated rows; HDF5 groups per MAC)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import read_signal

FS = 500
N = 1000
MAC1, MAC2 = "00:07:80:4D:2E:76", "98:D3:41:FD:4F:20"


def _adc(rng, bits, n=N):
    return rng.integers(0, 2 ** bits, size=n)


def _device(mac, device, fs, column, label, sensor, resolution, position):
    return {"position": position, "device": device, "device name": mac, "device connection": "BTH" + mac,
            "sampling rate": fs, "resolution": resolution, "firmware version": 772, "comments": "", "keywords": "",
            "mode": 0, "sync interval": 2, "date": "2025-3-14", "time": "10:15:02.125", "channels": list(range(1, len(label) + 1)),
            "sensor": sensor, "label": label, "column": column, "special": [{} for _ in label],
            "digital IO": [0, 1] if device == "biosignalsplux" else [0, 0, 1, 1]}


@pytest.fixture()
def two_devices(tmp_path):
    """biosignalsplux (nSeq, DI, CH1 EDA, CH2 ECG; 16 bit) + BITalino (nSeq, I1, I2, O1, O2, A1 EDABITREV,
    A2 RAW; 10 bit), one row per sample, the devices' columns side by side."""
    rng = np.random.default_rng(7)
    plux = {"CH1": _adc(rng, 16), "CH2": _adc(rng, 16)}
    bit = {"A1": _adc(rng, 10), "A2": _adc(rng, 10)}
    header = {
        MAC1: _device(MAC1, "biosignalsplux", FS, ["nSeq", "DI", "CH1", "CH2"], ["CH1", "CH2"], ["EDA", "ECG"], [16, 16], 0),
        MAC2: _device(MAC2, "bitalino_rev", FS, ["nSeq", "I1", "I2", "O1", "O2", "A1", "A2"], ["A1", "A2"],
                      ["EDABITREV", "RAW"], [4, 1, 1, 1, 1, 10, 10], 1),  # BITalino: one resolution per column
    }
    rows = []
    for i in range(N):
        rows.append("\t".join(str(v) for v in [i % 16, 0, plux["CH1"][i], plux["CH2"][i],
                                               i % 16, 0, 0, 1, 1, bit["A1"][i], bit["A2"][i]]) + "\t")
    p = tmp_path / "opensignals_0007804D2E76_2025-03-14_10-15-02.txt"
    p.write_text("# OpenSignals Text File Format. Version 1\n# " + json.dumps(header) + "\n# EndOfHeader\n"
                 + "\n".join(rows) + "\n")
    return p, plux, bit


def test_text_two_devices_rate_labels_sensors_and_conversion(two_devices):
    p, plux, bit = two_devices
    rec = read_signal(p)
    assert rec.channels == ["CH1", "CH2", "A1", "A2"] and rec.sampling_rate == FS
    assert rec.info["format"] == "opensignals-text" and rec.info["sampling_rate_from"] == "header"
    assert rec.info["sensors"] == {"CH1": "EDA", "CH2": "ECG", "A1": "EDABITREV", "A2": "RAW"}
    assert rec.info["converted"] == {"CH1": True, "CH2": True, "A1": True, "A2": False}
    # PLUX datasheets: biosignalsplux EDA uS = ADC/2^16*3/0.12; ECG mV = (ADC/2^16-0.5)*3/1019*1000;
    # BITalino EDA uS = ADC/2^10*3.3/0.132
    np.testing.assert_allclose(rec.signals["CH1"], plux["CH1"] / 65536 * 3 / 0.12, rtol=1e-12)
    np.testing.assert_allclose(rec.signals["CH2"], (plux["CH2"] / 65536 - 0.5) * 3 / 1019 * 1000, rtol=1e-12)
    np.testing.assert_allclose(rec.signals["A1"], bit["A1"] / 1024 * 3.3 / 0.132, rtol=1e-12)
    np.testing.assert_array_equal(rec.signals["A2"], bit["A2"])
    assert rec.units == {"CH1": "uS", "CH2": "mV", "A1": "uS", "A2": "raw ADC"}
    assert 0 <= rec.signals["CH1"].min() and rec.signals["CH1"].max() < 25  # the sensor's 0..25 uS range
    raw = read_signal(p, convert=False)
    np.testing.assert_array_equal(raw.signals["CH1"], plux["CH1"])
    assert not any(raw.info["converted"].values())


def test_text_modality_picks_by_the_sensor_label(two_devices):
    p, plux, _ = two_devices
    rec = read_signal(p)
    name, x, fs = rec.pick(modality="ecg")
    assert name == "CH2" and fs == FS
    with pytest.raises(SignalError, match="several channels are eda: \\['CH1', 'A1'\\]"):
        rec.pick(modality="eda")
    assert rec.pick(column="A1", modality="eda")[0] == "A1"
    assert read_signal(p, columns=["CH1"]).pick(modality="eda")[0] == "CH1"


def test_text_same_labels_on_two_devices_get_the_mac(tmp_path):
    rng = np.random.default_rng(1)
    hdr = {m: _device(m, "biosignalsplux", 100, ["nSeq", "DI", "CH1"], ["CH1"], [s], [16], i)
           for i, (m, s) in enumerate([(MAC1, "EDA"), (MAC2, "RESPIRATION")])}
    a, b = _adc(rng, 16, 50), _adc(rng, 16, 50)
    body = "\n".join(f"{i}\t0\t{a[i]}\t{i}\t0\t{b[i]}" for i in range(50))
    p = tmp_path / "two.txt"
    p.write_text("# OpenSignals Text File Format. Version 1\n# " + json.dumps(hdr) + "\n# EndOfHeader\n" + body + "\n")
    rec = read_signal(p)
    assert rec.channels == [f"{MAC1}/CH1", f"{MAC2}/CH1"]
    name, x, _ = rec.pick(modality="resp")
    assert name == f"{MAC2}/CH1"
    np.testing.assert_allclose(x, (b / 65536 - 0.5) * 100, rtol=1e-12)  # PZT: % of full scale


@pytest.mark.parametrize("mangle, match", [
    (lambda t: t.replace("# EndOfHeader\n", ""), "EndOfHeader"),
    (lambda t: t.replace('"sampling rate": 500', '"sampling rate": "fast"', 1), "sampling rate"),
    (lambda t: t.split("\n", 1)[0] + "\n# {not json\n# EndOfHeader\n1\t2\n", "does not parse"),
    (lambda t: t[: t.index("# EndOfHeader") + len("# EndOfHeader\n")], "no samples"),
    (lambda t: t.replace("\t0\t0\t1\t1\t", "\t0\t0\t1\t", 1), "data columns|tab-separated"),
])
def test_broken_opensignals_text(two_devices, mangle, match):
    p, _, _ = two_devices
    p.write_text(mangle(p.read_text()))
    with pytest.raises(SignalError, match=match):
        read_signal(p)


def test_h5_devices_channels_and_attributes(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(2)
    p = tmp_path / "opensignals_rec.h5"
    eda, bvp, resp = _adc(rng, 16), _adc(rng, 16), _adc(rng, 12, 250)
    with h5py.File(p, "w") as f:
        for mac, fs, res, chans in ((MAC1, 1000, [16, 16], [("EDA", "EDA", eda), ("PPG", "BVP", bvp)]),
                                    (MAC2, 250, [12], [("A1", "RESPIRATION", resp)])):
            g = f.create_group(mac)
            for k, v in {"sampling rate": fs, "resolution": res, "device": "biosignalsplux", "date": "2025-3-14",
                         "time": "10:15:02.125", "macaddress": mac, "nsamples": len(chans[0][2]),
                         "channels": list(range(1, len(chans) + 1))}.items():
                g.attrs[k] = v
            raw = g.create_group("raw")
            raw.create_dataset("nSeq", data=np.arange(len(chans[0][2])) % 16)
            for j, (lab, sensor, x) in enumerate(chans, start=1):
                ds = raw.create_dataset(f"channel_{j}", data=x.reshape(-1, 1).astype(np.uint16))
                ds.attrs["label"] = np.bytes_(lab)  # OpenSignals writes these attributes as bytes
                ds.attrs["sensor"] = np.bytes_(sensor)
            g.create_group("support")
    rec = read_signal(p)
    assert rec.channels == ["EDA", "PPG", "A1"] and rec.info["format"] == "opensignals-h5"
    assert rec.rate("EDA") == 1000 and rec.rate("A1") == 250
    name, x, fs = rec.pick(modality="bvp")
    assert (name, fs) == ("PPG", 1000)
    np.testing.assert_allclose(x, bvp / 65536, rtol=1e-12)
    np.testing.assert_allclose(rec.signals["A1"], (resp / 4096 - 0.5) * 100, rtol=1e-12)
    assert rec.pick(modality="resp")[0] == "A1"
    (tmp_path / "other.h5").write_bytes(b"")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with pytest.raises(SignalError, match="not an OpenSignals export"):
        read_signal(tmp_path / "other.h5")


def test_transfer_functions_by_device_and_sensor():
    from tiny_biomoe.signals.plux import transfer

    adc = np.array([0, 256, 512, 1023])
    x, unit = transfer(adc, "ECG", 10, device="bitalino_rev")  # BITalino (r)evolution: VCC 3.3 V, G 1100
    np.testing.assert_allclose(x, (adc / 1024 - 0.5) * 3.3 / 1100 * 1000, rtol=1e-12)
    assert unit == "mV"
    x, unit = transfer(adc, "EEG", 16, device="biosignalsplux")
    np.testing.assert_allclose(x, (adc / 65536 - 0.5) * 3 / 40000 * 1e6, rtol=1e-12)
    assert unit == "uV"
    assert transfer(adc, "EDABIT", 10, device="bitalino") is None  # first BITalino board: kept raw
    assert transfer(adc, "RIP", 16) is None and transfer(adc, "RAW", 16) is None and transfer(adc, "EDA", None) is None


def test_h5_that_is_not_hdf5_is_a_clear_error(tmp_path):
    pytest.importorskip("h5py")
    p = tmp_path / "cut.h5"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)  # the signature, then nothing
    with pytest.raises(SignalError, match="not a readable HDF5 file"):
        read_signal(p)
