"""BIOPAC AcqKnowledge ``.acq`` files as labs export them: real bytes from ``_acq_writer`` (App Note 156's
uncompressed PC layout), checked with bioread itself first, then through read_signal and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tiny_biomoe.cli import main
from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals.readers import read_signal

from ._acq_writer import REVISIONS, AcqChannel, write_acq

bioread = pytest.importorskip("bioread")

BASE_HZ = 200.0
TICKS = 5001  # not a multiple of the dividers: the slow channels end on a partial pattern
JOURNAL = "Participant P07, session 2: 5 min baseline, then cold pressor at 300 s. EDA100C gain 5 uS/V."
MARKERS = [(100, "Baseline start"), (4000, "Cold pressor")]


def _channels() -> list[AcqChannel]:
    """EDA (int16, 1/4 of the base rate, with an offset), PPG (int16, full rate), RSP (doubles, 1/2)."""
    rng = np.random.default_rng(156)
    t_eda = np.arange(-(-TICKS // 4)) / (BASE_HZ / 4)
    t_ppg = np.arange(TICKS) / BASE_HZ
    t_rsp = np.arange(-(-TICKS // 2)) / (BASE_HZ / 2)
    eda = 4.0 + 0.03 * t_eda + 0.4 * np.exp(-((t_eda - 12.0) ** 2)) + 0.005 * rng.normal(size=t_eda.size)
    ppg = 0.8 * np.sin(2 * np.pi * 1.2 * t_ppg) + 0.2 * np.sin(2 * np.pi * 2.4 * t_ppg)
    rsp = 1.5 * np.sin(2 * np.pi * 0.25 * t_rsp) + 0.01 * rng.normal(size=t_rsp.size)
    return [
        AcqChannel("EDA100C", "microsiemens", eda, divider=4, scale=10 / 32768 * 5, offset=2.0,
                   description="Electrodermal activity, 5 uS/V", number=1),
        AcqChannel("PPG100C", "Volts", ppg, divider=1, scale=10 / 32768, description="Finger pulse", number=2),
        AcqChannel("RSP100C", "Volts", rsp, divider=2, dtype="float64", description="Chest belt", number=3),
    ]


def _write(path, revision: int = 41):
    chans = _channels()
    offsets = write_acq(path, chans, base_rate=BASE_HZ, revision=revision, markers=MARKERS, journal=JOURNAL,
                        foreign=b"MP150\0\0\0")
    return chans, offsets


@pytest.fixture()
def acq(tmp_path):
    p = tmp_path / "P07_session2.acq"
    chans, _ = _write(p)
    return p, {c.label: c for c in chans}


def _close_to_written(got: np.ndarray, ch: AcqChannel) -> None:
    """Exactly the stored values; within half a count of what was meant (int16) or exact (double)."""
    np.testing.assert_array_equal(got, ch.stored)
    tol = ch.scale / 2 * (1 + 1e-9) if ch.dtype == "int16" else 0.0
    assert np.max(np.abs(got - np.asarray(ch.values))) <= tol


# ----------------------------------------------------------------------------- bioread on the bytes
@pytest.mark.parametrize("revision", sorted(REVISIONS))
def test_bioread_parses_every_section_of_the_written_file(tmp_path, revision):
    from bioread.reader import Reader

    p = tmp_path / f"rev{revision}.acq"
    chans, off = _write(p, revision)
    r = Reader.read(str(p))
    assert r.file_revision == revision and r.version_string == REVISIONS[revision]
    assert r.byte_order_char == "<" and not r.is_compressed
    # every header where it was written, with bioread's own size for that revision
    assert r.graph_header.struct_length == off["channel_headers"] == r.graph_header.effective_len_bytes
    ch_len = (off["foreign"] - off["channel_headers"]) // len(chans)
    assert [h.offset for h in r.channel_headers] == [off["channel_headers"] + i * ch_len for i in range(3)]
    assert all(h.struct_length == h.effective_len_bytes == ch_len for h in r.channel_headers)
    assert [h.offset for h in r.channel_dtype_headers] == [off["dtype_headers"] + 4 * i for i in range(3)]
    assert r.data_start_offset == off["data"]
    # the sections after the samples parsed too: markers, then the journal (from 3.7.0)
    assert [(m.sample_index, m.text) for m in r.event_markers] == MARKERS
    assert r.journal == JOURNAL and r.read_errors == []
    df = bioread.read_file(str(p))
    assert df.samples_per_second == BASE_HZ
    for got, ch in zip(df.channels, chans):
        assert (got.name, got.units, got.frequency_divider) == (ch.label, ch.units, ch.divider)
        assert got.samples_per_second == BASE_HZ / ch.divider and got.point_count == ch.raw.size
        _close_to_written(got.data, ch)


# ----------------------------------------------------------------------------- our reader and the CLI
def test_read_signal_takes_rates_units_values_and_modalities_from_the_file(acq):
    p, chans = acq
    rec = read_signal(p)
    assert rec.channels == ["EDA100C", "PPG100C", "RSP100C"] and rec.info["format"] == "acq"
    assert rec.sampling_rate == {"EDA100C": 50.0, "PPG100C": 200.0, "RSP100C": 100.0}
    assert rec.info["sampling_rate_from"] == "header"
    assert rec.units == {"EDA100C": "microsiemens", "PPG100C": "Volts", "RSP100C": "Volts"}
    for name, ch in chans.items():
        _close_to_written(rec.signals[name], ch)
    assert rec.duration("EDA100C") == pytest.approx(1251 / 50.0)
    for modality, label in (("eda", "EDA100C"), ("bvp", "PPG100C"), ("ppg", "PPG100C"), ("resp", "RSP100C")):
        name, x, fs = rec.pick(modality=modality)
        assert name == label and fs == rec.rate(label)
        np.testing.assert_array_equal(x, chans[label].stored)
    with pytest.raises(SignalError, match="several channels"):
        rec.pick(modality="ecg")  # no ECG channel: not guessed
    only = read_signal(p, columns=["RSP100C"])
    assert only.channels == ["RSP100C"] and only.sampling_rate == 100.0


def test_cli_inspect_json_reports_the_file_as_written(acq, capsys):
    p, chans = acq
    assert main(["inspect", str(p), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["format"] == "acq" and rep["sampling_rate"] == [50.0, 100.0, 200.0]
    assert rep["sampling_rate_from"] == "header"
    got = {c["name"]: c for c in rep["channels"]}
    assert list(got) == ["EDA100C", "PPG100C", "RSP100C"]
    for name, ch in chans.items():
        c = got[name]
        assert (c["unit"], c["sampling_rate"], c["samples"]) == (ch.units, BASE_HZ / ch.divider, ch.raw.size)
        assert c["min"] == pytest.approx(ch.stored.min(), abs=1e-12)
        assert c["max"] == pytest.approx(ch.stored.max(), abs=1e-12)
    assert [got[n]["modality"] for n in got] == ["eda", "bvp", "resp"]
    assert rep["modality_channel"] == {"bvp": "PPG100C", "ecg": None, "eda": "EDA100C", "eeg": None,
                                       "emg": None, "resp": "RSP100C", "spo2": None}


def test_cli_embed_eda_uses_the_eda_channel_at_its_own_rate(acq, tmp_path, capsys, reference_checkpoint,
                                                            reference_model):
    import tiny_biomoe as tb
    from tiny_biomoe.embed import load_embeddings

    p, chans = acq
    out = tmp_path / "eda.npz"
    assert main(["embed", str(p), "--modality", "eda", "--weights", str(reference_checkpoint), "--device", "cpu",
                 "--no-progress", "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    res = load_embeddings(out)
    assert res.metadata["channel"] == "EDA100C" and res.metadata["modality"] == "eda"
    assert res.metadata["original_sampling_rate"] == 50.0
    # the same embeddings as the written EDA values given in memory at 50 Hz
    ref = tb.embed_signal(chans["EDA100C"].stored, sampling_rate=50.0, modality="eda", model=reference_model,
                          device="cpu")
    assert len(res) == len(ref) >= 2 and res.kinds == ref.kinds
    np.testing.assert_allclose(res.starts, ref.starts)
    for kind in res.kinds:
        np.testing.assert_allclose(res.embeddings[kind], ref.embeddings[kind], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- damaged files
def _damaged(tmp_path):
    p = tmp_path / "good.acq"
    _, off = _write(p)
    data = p.read_bytes()
    files = {"cut_in_samples.acq": data[: (off["data"] + off["markers"]) // 2],
             "cut_in_headers.acq": data[: off["channel_headers"] + 100],
             "random.acq": np.random.default_rng(7).bytes(len(data))}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return [tmp_path / n for n in files]


def test_damaged_acq_is_one_signal_error(tmp_path):
    for path in _damaged(tmp_path):
        with pytest.raises(SignalError, match="not a readable AcqKnowledge file") as err:
            read_signal(path)
        assert str(path) in str(err.value) and "copy it again" in str(err.value)


def test_cli_damaged_acq_exit_2_one_line_nothing_written(tmp_path):
    """In a fresh process, so that bioread's own log handler (bound to the real stderr) would show."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for path in _damaged(tmp_path):
        proc = subprocess.run([sys.executable, "-m", "tiny_biomoe.cli", "inspect", str(path), "--json"],
                              capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a readable AcqKnowledge file" in lines[0] and path.name in lines[0]
    assert sorted(q.name for q in tmp_path.iterdir()) == ["cut_in_headers.acq", "cut_in_samples.acq",
                                                         "good.acq", "random.acq"]


def test_pulse_oximeter_percent_channel_is_spo2(tmp_path):
    from tiny_biomoe.signals import read_signal

    t = np.arange(2000) / BASE_HZ
    chans = [AcqChannel("OXY100E", "%", 97.0 + 0.5 * np.sin(2 * np.pi * 0.05 * t), divider=1, dtype="float64",
                        description="SpO2", number=1),
             AcqChannel("OXY100E pleth", "Volts", np.sin(2 * np.pi * 1.1 * t), divider=1, dtype="float64",
                        description="Pleth", number=2)]
    p = tmp_path / "oxy.acq"
    write_acq(p, chans, base_rate=BASE_HZ, revision=41)
    rec = read_signal(p)
    assert rec.info["modalities"] == {"OXY100E": "spo2"}  # only the channel in % is SpO2
    name, x, fs = rec.pick(None, "spo2")
    assert name == "OXY100E" and fs == BASE_HZ
    np.testing.assert_allclose(x, chans[0].values)
