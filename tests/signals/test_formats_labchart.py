"""ADInstruments LabChart text exports, written here in their layout: per block the ``Key=<tab>value``
header lines, then tab-separated rows (optional time column, one value per channel, optional
``#n comment``), in either decimal convention and text encoding."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tiny_biomoe.cli import main
from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import read_signal
from tiny_biomoe.signals.labchart import is_labchart_text
from tiny_biomoe.signals.readers import detect_format

DAY = 86400.0
START = 45117.41666666667  # 2023-07-10 10:00 as an Excel serial day


def _header(interval="0.01 s", start=START, titles=("EDA", "BVP"), units=("µS", "V"), time_format=True):
    lines = [f"Interval=\t{interval}", f"ExcelDateTime=\t{start:.14E}\t10/07/2023 10:00:00.000000"]
    if time_format:
        lines += ["TimeFormat=\tStartOfBlock", "DateFormat=\tdd/MM/yyyy"]
    if titles is not None:
        lines.append("ChannelTitle=\t" + "\t".join(titles))
    lines += ["Range=\t" + "\t".join("10.000 V" for _ in units), "UnitName=\t" + "\t".join(units),
              "TopValue=\t" + "\t".join("10" for _ in units), "BottomValue=\t" + "\t".join("-10" for _ in units)]
    return "\n".join(lines) + "\n"


def _rows(values, fs, with_time=True, decimal=".", comments=None):
    out = []
    for i, row in enumerate(values):
        cells = ([f"{i / fs:.4f}"] if with_time else []) + [f"{v:.6f}" if np.isfinite(v) else "NaN" for v in row]
        line = "\t".join(cells)
        if decimal == ",":
            line = line.replace(".", ",")
        if comments and i in comments:
            line += f"\t#{comments[i]}"
        out.append(line)
    return "\n".join(out) + "\n"


def _signals(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    return np.c_[2 + 0.1 * np.sin(t) + 0.01 * rng.normal(size=n), np.sin(2 * np.pi * 1.2 * t)]


@pytest.mark.parametrize("decimal, encoding", [(".", "utf-8"), (",", "cp1252"), (".", "utf-16")])
def test_one_block_with_time_column_units_and_comments(tmp_path, decimal, encoding):
    x = _signals(3000)
    x[100, 1] = np.nan  # LabChart writes NaN where a channel has no data
    interval = "0,01 s" if decimal == "," else "0.01 s"
    text = _header(interval) + _rows(x, 100, decimal=decimal, comments={10: "1 pain on", 2000: "2 pain off"})
    p = tmp_path / "session.txt"
    p.write_bytes(text.encode(encoding))
    assert detect_format(p) == "labchart" and is_labchart_text(p)
    rec = read_signal(p)
    assert rec.sampling_rate == pytest.approx(100.0) and rec.channels == ["EDA", "BVP"]
    assert rec.units == {"EDA": "µS", "BVP": "V"} and rec.info["format"] == "labchart-text"
    assert rec.info["start_time"] == "10/07/2023 10:00:00.000000" and rec.info["sampling_rate_from"] == "header"
    np.testing.assert_allclose(rec.signals["EDA"], x[:, 0], atol=5e-7)
    np.testing.assert_allclose(rec.signals["BVP"], x[:, 1], atol=5e-7, equal_nan=True)
    assert rec.channel_modalities() == {"EDA": "eda", "BVP": "bvp"}


def test_without_time_column_titles_or_in_gzip(tmp_path):
    x = _signals(500)
    p = tmp_path / "a.txt"
    p.write_text(_header(interval="1 ms", titles=None, units=("mV", "mV"), time_format=False) + _rows(x, 1000, with_time=False))
    rec = read_signal(p)
    assert rec.sampling_rate == pytest.approx(1000.0) and rec.channels == ["Channel 1", "Channel 2"]
    np.testing.assert_allclose(rec.signals["Channel 2"], x[:, 1], atol=5e-7)
    g = tmp_path / "b.txt.gz"
    g.write_bytes(gzip.compress((_header() + _rows(x, 100)).encode()))
    assert detect_format(g) == "labchart"
    np.testing.assert_allclose(read_signal(g, columns=["EDA"]).signals["EDA"], x[:, 0], atol=5e-7)


def test_blocks_are_placed_at_their_start_times(tmp_path):
    a, b = _signals(500, 1), _signals(300, 2)
    pause = 7.0  # seconds between the end of block 1 and the start of block 2
    text = _header() + _rows(a, 100) + "\n" + _header(start=START + (5.0 + pause) / DAY) + _rows(b, 100)
    p = tmp_path / "two.txt"
    p.write_text(text)
    rec = read_signal(p)
    eda = rec.signals["EDA"]
    assert eda.size == 500 + 700 + 300 and rec.info["blocks"] == 2 and rec.info["pauses_filled"] == 1
    np.testing.assert_allclose(eda[:500], a[:, 0], atol=5e-7)
    assert np.isnan(eda[500:1200]).all()
    np.testing.assert_allclose(eda[1200:], b[:, 0], atol=5e-7)


def test_a_block_with_other_channels_is_left_out_with_a_warning(tmp_path):
    a, b = _signals(400, 1), _signals(300, 2)
    text = _header() + _rows(a, 100) + _header(interval="0.001 s", start=START + 10 / DAY) + _rows(b, 1000)
    p = tmp_path / "mixed.txt"
    p.write_text(text)
    with pytest.warns(UserWarning, match="2 LabChart blocks, of which 1 have other channels or another interval"):
        rec = read_signal(p)
    assert rec.signals["EDA"].size == 400 and rec.info["blocks_in_file"] == 2


@pytest.mark.parametrize("text, match", [
    ("Interval=\tsoon\nChannelTitle=\tEDA\n1\n2\n", "'Interval=' reads 'soon'"),
    ("ChannelTitle=\tEDA\tBVP\n0\t1\t2\n", "without an 'Interval=' line"),
    (_header() + "0\t1\t2\t3\n", "4 values but 'ChannelTitle=' names 2 channels"),
    (_header(), "no sample rows"),
])
def test_damaged_exports_are_refused_with_the_reason(tmp_path, text, match, capsys):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(SignalError, match=match):
        read_signal(p)
    assert main(["inspect", str(p)]) == 2 and "LabChart" in capsys.readouterr().err


def test_an_ordinary_table_is_not_taken_for_labchart(tmp_path):
    p = tmp_path / "rec.txt"
    p.write_text("time\teda\n0\t1\n0.1\t2\n0.2\t3\n")
    assert not is_labchart_text(p) and detect_format(p) == "table"


def test_embed_a_labchart_export_by_modality(tmp_path, reference_checkpoint):
    from tiny_biomoe.embed import load_embeddings

    p = tmp_path / "session.txt"
    p.write_text(_header() + _rows(_signals(3000), 100))
    assert main(["embed", str(p), "--modality", "gsr", "--kinds", "waveform", "--window", "10", "--no-progress",
                 "--weights", str(reference_checkpoint)]) == 0
    res = load_embeddings(tmp_path / "session.eda.embeddings.npz")
    assert res.embeddings["waveform"].shape == (3, 192) and res.metadata["channel"] == "EDA"
