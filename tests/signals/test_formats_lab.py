"""Empatica E4, BIDS physio, XDF, BIOPAC .acq and MNE .fif, each written here in its exact layout:
E4 CSVs (start UNIX time row, rate row, samples) as a folder and a zip; a BIDS headerless .tsv.gz with its
JSON sidecar; XDF chunks byte by byte per the XDF 1.0 specification; .fif with MNE's own writer."""

from __future__ import annotations

import gzip
import json
import struct
import zipfile

import numpy as np
import pytest

from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import read_signal

START = 1600000000.0


# ----------------------------------------------------------------------------- Empatica E4
def _e4_files(rng):
    eda = np.round(rng.uniform(0.1, 5, 40), 6)
    bvp = np.round(rng.normal(size=640), 2)
    acc = rng.integers(-64, 64, size=(320, 3))
    hr = np.round(rng.uniform(60, 90, 10), 2)
    files = {
        "EDA.csv": f"{START:.6f}\n4.000000\n" + "".join(f"{v:.6f}\n" for v in eda),
        "BVP.csv": f"{START:.6f}\n64.000000\n" + "".join(f"{v:.2f}\n" for v in bvp),
        "ACC.csv": f"{START:.6f}, {START:.6f}, {START:.6f}\n32.000000, 32.000000, 32.000000\n"
                   + "".join(f"{a},{b},{c}\n" for a, b, c in acc),
        "HR.csv": f"{START + 10:.6f}\n1.000000\n" + "".join(f"{v:.2f}\n" for v in hr),
        "IBI.csv": f"{START:.6f}, IBI\n1.234,0.8\n",
        "tags.csv": f"{START + 3:.2f}\n",
        "info.txt": "E4 session\n",
    }
    return files, eda, bvp, acc


def test_empatica_folder_zip_and_single_csv(tmp_path):
    files, eda, bvp, acc = _e4_files(np.random.default_rng(4))
    d = tmp_path / "1600000000_A01234"
    d.mkdir()
    for k, v in files.items():
        (d / k).write_text(v)
    z = tmp_path / "1600000000_A01234.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    for src in (d, z):
        rec = read_signal(src)
        assert rec.channels == ["EDA", "BVP", "HR", "ACC_x", "ACC_y", "ACC_z"]
        assert rec.rate("EDA") == 4 and rec.rate("BVP") == 64 and rec.rate("ACC_y") == 32 and rec.rate("HR") == 1
        np.testing.assert_allclose(rec.signals["EDA"], eda, rtol=1e-12)
        np.testing.assert_allclose(rec.signals["ACC_z"], acc[:, 2] / 64.0)  # 1/64 g -> g
        assert rec.units["EDA"] == "uS" and rec.units["ACC_x"] == "g"
        assert rec.info["start_time"]["HR"] == START + 10 and rec.info["start_time"]["EDA"] == START
        name, x, fs = rec.pick(modality="ppg")
        assert name == "BVP" and fs == 64
        np.testing.assert_allclose(x, bvp, rtol=1e-12)
        assert rec.pick(modality="eda")[0] == "EDA"
    one = read_signal(d / "EDA.csv")  # one sensor file: rate from its second row, not a table of 2 columns
    assert one.channels == ["EDA"] and one.sampling_rate == 4 and one.signals["EDA"].size == eda.size


def test_empatica_broken_files(tmp_path):
    files, *_ = _e4_files(np.random.default_rng(5))
    d = tmp_path / "s"
    d.mkdir()
    (d / "EDA.csv").write_text(files["EDA.csv"])
    (d / "ACC.csv").write_text(f"{START}, {START}\n32.0, 32.0\n1,2\n")  # two columns: not the E4 layout
    with pytest.raises(SignalError, match="ACC.csv has 2 columns"):
        read_signal(d)
    e = tmp_path / "empty"
    e.mkdir()
    with pytest.raises(SignalError, match="is a folder"):
        read_signal(e)


# ----------------------------------------------------------------------------- BIDS physio
def _bids(tmp_path, fs=100.0, cols=("cardiac", "respiratory", "trigger"), sidecar=True):
    rng = np.random.default_rng(6)
    x = np.round(rng.normal(size=(300, len(cols))), 5)
    d = tmp_path / "sub-01" / "func"
    d.mkdir(parents=True)
    p = d / "sub-01_task-rest_run-1_physio.tsv.gz"
    p.write_bytes(gzip.compress("".join("\t".join(f"{v:.5f}" for v in row) + "\n" for row in x).encode()))
    meta = {"SamplingFrequency": fs, "StartTime": -22.345, "Columns": list(cols), "cardiac": {"Units": "mV"}}
    if sidecar:
        (d / "sub-01_task-rest_run-1_physio.json").write_text(json.dumps(meta))
    return p, x, meta


def test_bids_physio_pair(tmp_path):
    p, x, _ = _bids(tmp_path)
    rec = read_signal(p)
    assert rec.channels == ["cardiac", "respiratory", "trigger"] and rec.sampling_rate == 100.0
    assert rec.info["format"] == "bids-physio" and rec.info["start_time"] == -22.345 and rec.units == {"cardiac": "mV"}
    np.testing.assert_allclose(rec.signals["respiratory"], x[:, 1], rtol=1e-12)
    assert rec.pick(modality="resp")[0] == "respiratory" and rec.pick(modality="bvp")[0] == "cardiac"


def test_bids_inherited_sidecar_and_errors(tmp_path):
    p, x, meta = _bids(tmp_path, sidecar=False)
    with pytest.raises(SignalError, match="no JSON sidecar"):
        read_signal(p)
    (tmp_path / "task-rest_physio.json").write_text(json.dumps(meta))  # inheritance from the dataset root
    assert read_signal(p).sampling_rate == 100.0
    side = p.with_name(p.name.replace(".tsv.gz", ".json"))
    side.write_text(json.dumps({**meta, "Columns": ["cardiac", "respiratory"]}))
    with pytest.raises(SignalError, match="3 columns but the sidecar's Columns lists 2"):
        read_signal(p)
    side.write_text(json.dumps({**meta, "SamplingFrequency": "100"}))
    with pytest.raises(SignalError, match="SamplingFrequency"):
        read_signal(p)


# ----------------------------------------------------------------------------- XDF (hand-written chunks)
def _chunk(tag: int, content: bytes) -> bytes:
    # [NumLengthBytes=4][Length: tag + content, uint32 LE][Tag uint16 LE][Content]
    return struct.pack("<BIH", 4, len(content) + 2, tag) + content


def _stream_header(sid, name, stype, labels, types, fs, fmt="float32"):
    chans = "".join(f"<channel><label>{lab}</label><unit>microvolts</unit><type>{t}</type></channel>"
                    for lab, t in zip(labels, types))
    xml = (f'<?xml version="1.0"?><info><name>{name}</name><type>{stype}</type><channel_count>{len(labels)}'
           f'</channel_count><nominal_srate>{fs}</nominal_srate><channel_format>{fmt}</channel_format>'
           f'<source_id>src{sid}</source_id><version>1.1</version><created_at>100.0</created_at>'
           f'<uid>uid-{sid}</uid><session_id>default</session_id><hostname>lab</hostname>'
           f'<desc><channels>{chans}</channels></desc></info>')
    return _chunk(2, struct.pack("<I", sid) + xml.encode())


def _samples(sid, ts, data):
    body = struct.pack("<BI", 4, len(ts))  # [NumSampleBytes=4][NumSamples]
    for t, row in zip(ts, data):
        body += struct.pack("<Bd", 8, t) + np.asarray(row, dtype="<f4").tobytes()  # [TimeStampBytes=8][t][values]
    return _chunk(3, struct.pack("<I", sid) + body)


def _marker_samples(sid, ts, words):
    body = struct.pack("<BI", 4, len(ts))
    for t, w in zip(ts, words):
        b = w.encode()
        body += struct.pack("<Bd", 8, t) + struct.pack("<BI", 4, len(b)) + b
    return _chunk(3, struct.pack("<I", sid) + body)


def _footer(sid, first, last, n):
    xml = (f'<?xml version="1.0"?><info><first_timestamp>{first}</first_timestamp><last_timestamp>{last}'
           f'</last_timestamp><sample_count>{n}</sample_count><clock_offsets></clock_offsets></info>')
    return _chunk(6, struct.pack("<I", sid) + xml.encode())


def test_xdf_streams_rates_labels_and_markers(tmp_path):
    pytest.importorskip("pyxdf")
    rng = np.random.default_rng(8)
    fs1, fs2 = 128.0, 32.0
    n1, n2 = 256, 64
    bio = rng.normal(size=(n1, 2)).astype(np.float32)
    eda = rng.uniform(1, 3, size=(n2, 1)).astype(np.float32)
    t1, t2 = 1000.0 + np.arange(n1) / fs1, 1000.0 + np.arange(n2) / fs2
    buf = b"XDF:" + _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    buf += _stream_header(1, "BioAmp", "ExG", ["ECG", "RESP"], ["ECG", "RESP"], fs1)
    buf += _stream_header(2, "Shimmer", "GSR", ["EDA"], ["EDA"], fs2)
    buf += _stream_header(3, "Markers", "Markers", ["m"], ["Markers"], 0, fmt="string")
    buf += _samples(1, t1[:128], bio[:128]) + _samples(2, t2, eda) + _samples(1, t1[128:], bio[128:])
    buf += _marker_samples(3, [1000.5, 1001.0], ["pain_on", "pain_off"])
    buf += _footer(1, t1[0], t1[-1], n1) + _footer(2, t2[0], t2[-1], n2) + _footer(3, 1000.5, 1001.0, 2)
    p = tmp_path / "sub-P001_ses-S001_task-pain.xdf"
    p.write_bytes(buf)
    rec = read_signal(p)
    assert rec.channels == ["ECG", "RESP", "EDA"] and rec.info["format"] == "xdf"
    assert rec.rate("ECG") == fs1 and rec.rate("EDA") == fs2
    assert rec.info["skipped_streams"] == ["Markers"]
    np.testing.assert_array_equal(rec.signals["RESP"], bio[:, 1].astype(np.float64))
    assert rec.pick(modality="eda")[0] == "EDA" and rec.pick(modality="ecg")[0] == "ECG"
    p.write_bytes(buf[:40])  # cut inside the second chunk
    with pytest.raises(SignalError, match="XDF"):
        read_signal(p)
    same = b"XDF:" + _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    same += _stream_header(1, "BioAmp", "ExG", ["ExG", "ExG"], ["EMG", "EMG"], fs1)  # one label twice in a stream
    same += _samples(1, t1, bio) + _footer(1, t1[0], t1[-1], n1)
    p.write_bytes(same)
    rec = read_signal(p)
    assert rec.channels == ["BioAmp/ExG", "BioAmp/ExG (2)"]  # both kept
    np.testing.assert_array_equal(rec.signals["BioAmp/ExG (2)"], bio[:, 1].astype(np.float64))


# ----------------------------------------------------------------------------- BIOPAC .acq (bioread's API)
def test_acq_through_bioread(tmp_path, monkeypatch):
    """No library writes .acq files, so bioread.read_file is replaced by an object with bioread's
    documented Datafile/Channel attributes (name, units, samples_per_second, data)."""
    import types

    bioread = pytest.importorskip("bioread")
    rng = np.random.default_rng(9)
    eda, ecg = rng.uniform(2, 8, 200), rng.normal(size=400)
    chans = [types.SimpleNamespace(name="EDA100C", units="microsiemens", samples_per_second=100.0, data=eda),
             types.SimpleNamespace(name="ECG - ECG100C", units="mV", samples_per_second=200.0, data=ecg)]
    monkeypatch.setattr(bioread, "read_file", lambda path: types.SimpleNamespace(channels=chans))
    p = tmp_path / "session.acq"
    p.write_bytes(b"\x00" * 64)
    rec = read_signal(p)
    assert rec.channels == ["EDA100C", "ECG - ECG100C"] and rec.rate("ECG - ECG100C") == 200.0
    assert rec.pick(modality="eda") == ("EDA100C", rec.signals["EDA100C"], 100.0)
    assert rec.pick(modality="ecg")[0] == "ECG - ECG100C" and rec.units["EDA100C"] == "microsiemens"

    def broken(path):
        raise ValueError("Unsupported file revision")

    monkeypatch.setattr(bioread, "read_file", broken)
    with pytest.raises(SignalError, match="not a readable AcqKnowledge file"):
        read_signal(p)


# ----------------------------------------------------------------------------- MNE .fif
def test_fif_written_by_mne(tmp_path):
    mne = pytest.importorskip("mne")
    rng = np.random.default_rng(10)
    fs = 256.0
    data = np.vstack([rng.uniform(1e-6, 5e-6, 512), rng.normal(size=512) * 1e-3, rng.normal(size=512)])
    info = mne.create_info(["GSR", "ECG1", "Belt"], fs, ch_types=["gsr", "ecg", "resp"])
    p = tmp_path / "sub-01_raw.fif"
    mne.io.RawArray(data, info, verbose="error").save(p, verbose="error")
    rec = read_signal(p)
    assert rec.channels == ["GSR", "ECG1", "Belt"] and rec.sampling_rate == fs
    name, x, _ = rec.pick(modality="eda")
    assert name == "GSR" and rec.units["GSR"] == "uS"
    np.testing.assert_allclose(x, data[0] * 1e6, rtol=1e-6)  # S -> uS (fif stores float32)
    assert rec.pick(modality="ecg")[0] == "ECG1" and rec.pick(modality="resp")[0] == "Belt"
    from tiny_biomoe.data import read_events

    raw = mne.io.RawArray(data, info, first_samp=256, verbose="error")  # data starting 1 s into the acquisition
    raw.set_meas_date(1_700_000_000)
    raw.set_annotations(mne.Annotations([1.5, 2.25], [0.5, 0.0], ["pain on", "button"], orig_time=raw.info["meas_date"]))
    q = tmp_path / "ann_raw.fif"
    raw.save(q, verbose="error")
    ev = read_events(read_signal(q))
    assert ev["onset"].tolist() == [0.5, 1.25] and ev["label"].tolist() == ["pain on", "button"]  # from the first sample
    assert ev["onset"].tolist() == read_events(mne.io.read_raw_fif(q, verbose="error"))["onset"].tolist()
    (tmp_path / "junk_raw.fif").write_bytes(b"not fif at all")
    with pytest.raises(SignalError, match="not a readable MNE"):
        read_signal(tmp_path / "junk_raw.fif")


# ----------------------------------------------------------------------------- BrainVision (pybv writes, MNE reads)
@pytest.mark.filterwarnings("ignore:Encountered unsupported")  # pybv: units other than µV are allowed, not advised
def test_brainvision_units_modalities_and_markers(tmp_path):
    import pybv  # in the test extra: it writes the files by the BrainVision specification

    from tiny_biomoe.data import read_events

    fs, n = 500.0, 5000
    t = np.arange(n) / fs
    gsr, ecg_v, eeg_v = 2 + 0.1 * np.sin(t), 0.5e-3 * np.sin(2 * np.pi * 1.2 * t), 10e-6 * np.sin(t)
    pybv.write_brainvision(data=np.vstack([gsr, ecg_v, eeg_v]), sfreq=fs, ch_names=["GSR", "ECG", "Fz"],
                           fname_base="rec", folder_out=str(tmp_path), unit=["µS", "mV", "µV"],
                           resolution=[1e-4, 1e-4, 1e-3], events=np.array([[1000, 1], [2500, 2]]))
    p = tmp_path / "rec.vhdr"
    rec = read_signal(p)
    assert rec.info["format"] == "brainvision" and rec.sampling_rate == fs and rec.channels == ["GSR", "ECG", "Fz"]
    assert rec.units == {"GSR": "µS", "ECG": "mV", "Fz": "µV"}  # as the header states them
    np.testing.assert_allclose(rec.signals["GSR"], gsr, atol=1e-4)  # MNE's misc channel, in S, back to µS
    np.testing.assert_allclose(rec.signals["ECG"], ecg_v * 1e3, atol=1e-4)  # MNE's "eeg" channel, in V, back to mV
    np.testing.assert_allclose(rec.signals["Fz"], eeg_v * 1e6, atol=1e-3)
    assert rec.channel_modalities() == {"GSR": "eda", "ECG": "ecg", "Fz": None}  # by name, not MNE's "eeg" for all
    assert rec.pick(modality="eda")[0] == "GSR"
    raw = read_signal(p, convert=False)
    np.testing.assert_allclose(raw.signals["GSR"], gsr * 1e-6, atol=1e-10)
    assert raw.units["GSR"] == "S" and raw.units["ECG"] == "V"
    ev = read_events(rec)
    assert ev["onset"].tolist() == [2.0, 5.0] and all("S" in lab for lab in ev["label"])
    hdr = p.read_text(encoding="utf-8").replace("Codepage=UTF-8", "Codepage=ANSI")
    p.write_bytes(hdr.encode("cp1252"))  # older recorders: the header in Windows-1252, "µ" one byte
    assert read_signal(p).units == {"GSR": "µS", "ECG": "mV", "Fz": "µV"}
    (tmp_path / "rec.eeg").unlink()
    with pytest.raises(SignalError, match="not a readable BrainVision"):
        read_signal(p)


@pytest.mark.parametrize("module, suffix, content", [("h5py", ".h5", b"\x89HDF\r\n\x1a\n"), ("pyxdf", ".xdf", b"XDF:"),
                                                     ("bioread", ".acq", b"\x00"), ("mne", "_raw.fif", b"\x00"),
                                                     ("fastavro", ".avro", b"Obj\x01")])
def test_missing_library_names_the_extra(tmp_path, monkeypatch, module, suffix, content):
    from tiny_biomoe.errors import MissingDependencyError

    p = tmp_path / f"rec{suffix}"
    p.write_bytes(content + b"\x00" * 64)
    monkeypatch.setitem(__import__("sys").modules, module, None)  # simulate "not installed"
    with pytest.raises(MissingDependencyError, match=r"tiny-biomoe\[io\]"):
        read_signal(p)


def test_empatica_zip_with_the_session_folder_inside(tmp_path):
    files, eda, _, _ = _e4_files(np.random.default_rng(13))
    z = tmp_path / "download.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for k, v in files.items():
            zf.writestr(f"1600000000_A01234/{k}", v)
        zf.writestr("__MACOSX/1600000000_A01234/._EDA.csv", "junk")
    rec = read_signal(z)
    assert rec.rate("EDA") == 4 and rec.pick(modality="eda")[0] == "EDA"
    np.testing.assert_allclose(rec.signals["EDA"], eda, rtol=1e-12)
