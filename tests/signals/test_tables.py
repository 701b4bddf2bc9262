"""The one table reader (signals.tables): layouts, compression, time columns and the rate precedence.

Every file is written here as text, byte for byte, the way other programs write them (no helper of ours)."""

from __future__ import annotations

import bz2
import gzip
import warnings

import numpy as np
import pytest

from tiny_biomoe.errors import DatasetError, SignalError
from tiny_biomoe.signals import read_signal
from tiny_biomoe.signals.tables import read_table, time_to_seconds

FS = 50.0
N = 200


@pytest.fixture()
def xy():
    rng = np.random.default_rng(3)
    return rng.normal(size=N), rng.normal(size=N)


def _lines(rows, sep=","):
    return "\n".join(sep.join(str(v) for v in r) for r in rows) + "\n"


def test_sec_value_header_is_a_time_column_not_eda(tmp_path, xy):
    # the case: a per-trial 'sec,value' file read the time column as the signal at an assumed rate
    a, _ = xy
    t = np.arange(N) / 25.0
    p = tmp_path / "trial.csv"
    p.write_text("sec,value\n" + _lines(zip(np.round(t, 4), a)))
    tab = read_table(p)
    assert tab.channels == ["value"] and tab.time_column == "sec" and tab.time_unit == "s"
    assert tab.sampling_rate == 25.0 and tab.rate_source == "time column"
    np.testing.assert_allclose(tab.frame["value"], a, rtol=1e-12)
    rec = read_signal(p)
    assert rec.channels == ["value"] and rec.sampling_rate == 25.0


def test_comment_lines_with_a_header_rate_and_compression(tmp_path, xy):
    a, b = xy
    text = "# recorded with some logger\n# Sampling Rate: 256 Hz\n# subject: S01\n\nEDA\tECG\n" + _lines(zip(a, b), "\t")
    plain = tmp_path / "r.tsv"
    plain.write_text(text)
    (tmp_path / "r.tsv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "r.tsv.bz2").write_bytes(bz2.compress(text.encode()))
    for name in ("r.tsv", "r.tsv.gz", "r.tsv.bz2"):
        tab = read_table(tmp_path / name)
        assert tab.sampling_rate == 256.0 and tab.rate_source == "header", name
        assert tab.header["subject"] == "S01" and tab.channels == ["EDA", "ECG"]
        np.testing.assert_allclose(tab.frame["ECG"], b, rtol=1e-12)
        rec = read_signal(tmp_path / name)
        assert rec.rate("EDA") == 256.0 and rec.info["sampling_rate_from"] == "header"


def test_headerless_multichannel_columns_by_index(tmp_path, xy):
    a, b = xy
    p = tmp_path / "plain.txt"
    p.write_text(_lines(zip(a, b, a + b), " "))  # whitespace separated, no header
    tab = read_table(p, sampling_rate=FS)
    assert not tab.has_header and tab.channels == ["0", "1", "2"] and tab.rate_source == "given"
    np.testing.assert_allclose(tab.frame["2"], a + b, rtol=1e-12)
    rec = read_signal(p, sampling_rate=FS, columns=[1])
    np.testing.assert_allclose(rec.signals["1"], b, rtol=1e-12)
    # a headerless file with its time in column 0, named by index
    q = tmp_path / "tv.csv"
    q.write_text(_lines(zip(np.arange(N) * 4, a)))  # a millisecond counter: 250 Hz
    tab = read_table(q, time_column=0)
    assert tab.time_column == "0" and tab.channels == ["1"] and tab.sampling_rate == 250.0 and tab.time_unit == "ms"


@pytest.mark.parametrize("name, scale, unit", [("time", 1.0, "s"), ("time_ms", 1e3, "ms"), ("Time (ms)", 1e3, "ms"),
                                               ("timestamp_us", 1e6, "us"), ("t", 1e6, "us")])
def test_time_column_units(tmp_path, xy, name, scale, unit):
    a, _ = xy
    t = np.arange(N) / FS * scale
    p = tmp_path / "t.csv"
    p.write_text(f'"{name}",eda\n' + _lines(zip(np.round(t, 6), a)))
    tab = read_table(p)
    assert tab.time_column == name and tab.time_unit == unit and tab.sampling_rate == FS


def test_millisecond_timer_at_117_hz(tmp_path, xy):
    # the case: '--time-column timer' with a ms timer read as 0.117 Hz. Integer ms at 117 Hz alternate 8/9 ms.
    a, _ = xy
    fs = 117.0
    t = np.floor(np.arange(N) * 1000 / fs).astype(int)
    p = tmp_path / "timer.csv"
    p.write_text("timer,eda\n" + _lines(zip(t, a)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one plausible unit only: no warning
        rec = read_signal(p, time_column="timer")
    assert rec.sampling_rate == pytest.approx((N - 1) / (t[-1] - t[0]) * 1000, rel=1e-9)
    assert rec.sampling_rate == pytest.approx(fs, rel=0.01) and rec.info["time_unit"] == "ms"


def test_ambiguous_unit_warns_and_time_unit_decides(tmp_path, xy):
    a, _ = xy
    p = tmp_path / "c.csv"
    p.write_text("counter,eda\n" + _lines(zip(range(N), a)))
    with pytest.warns(UserWarning, match="read as ms"):
        tab = read_table(p, time_column="counter")
    assert tab.sampling_rate == 1000.0
    assert read_table(p, time_column="counter", time_unit="s").sampling_rate == 1.0
    # a given rate decides the unit of an unnamed one, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_table(p, time_column="counter", sampling_rate=1.0).sampling_rate == 1.0


def test_clock_and_datetime_columns(tmp_path, xy):
    a, _ = xy
    base = np.datetime64("2024-05-01T23:59:58.000")
    stamps = base + (np.arange(N) * 20).astype("timedelta64[ms]")  # 50 Hz, over midnight
    iso = [str(s).replace("T", " ") for s in stamps]
    clock = [s.split(" ")[1] for s in iso]
    for col in (iso, clock):
        p = tmp_path / "d.csv"
        p.write_text("datetime,eda\n" + _lines(zip(col, a)))
        tab = read_table(p)
        assert tab.sampling_rate == FS, col[0]
        assert tab.time_unit == ("datetime" if col is iso else "clock")
        assert tab.start_time == col[0]
        assert tab.time[-1] == pytest.approx((N - 1) / FS)
    sec, unit, first = time_to_seconds(np.array(["00:01.000", "00:01.500", "00:02.000"]))
    assert unit == "clock" and first == "00:01.000" and list(sec) == [0.0, 0.5, 1.0]


def test_precedence_header_then_time_then_given_with_warnings(tmp_path, xy):
    a, _ = xy
    t = np.arange(N) / FS
    p = tmp_path / "p.csv"
    p.write_text("time,eda\n" + _lines(zip(np.round(t, 4), a)))
    with pytest.warns(UserWarning, match="given rate 100 Hz differs from the time column's 50 Hz"):
        tab = read_table(p, sampling_rate=100.0)
    assert tab.sampling_rate == FS and tab.rate_source == "time column"
    assert read_table(p, sampling_rate=100.0, time_column=False).sampling_rate == 100.0  # the documented escape
    q = tmp_path / "q.csv"
    q.write_text("# fs = 64\ntime,eda\n" + _lines(zip(np.round(t, 4), a)))
    with pytest.warns(UserWarning, match="time column rate 50 Hz differs from the header's 64 Hz"):
        assert read_table(q).sampling_rate == 64.0


def test_semicolon_with_decimal_comma_and_gaps(tmp_path):
    t = np.arange(20) * 0.1
    t = np.r_[t[:10], t[10:] + 1.0]  # a 1 s gap
    p = tmp_path / "eu.csv"
    p.write_text("Zeit;time;EDA\n" + "".join(f"x;{v:.1f};{i},5\n".replace(".", ",", 1) for i, v in enumerate(t)))
    with pytest.warns(UserWarning, match="1 gaps"):
        tab = read_table(p, time_column="time")
    assert tab.sampling_rate == pytest.approx(10.0) and tab.non_numeric == ["Zeit"]
    # every sample keeps its time: the 1 s gap (0.9 -> 2.0 s) becomes 10 missing samples
    eda = tab.frame["EDA"].to_numpy()
    assert eda.size == 30 and np.isnan(eda[10:20]).all()
    np.testing.assert_allclose(eda[np.r_[0:10, 20:30]], np.arange(20) + 0.5)


def _csv(path, t, x):
    path.write_text("time,eda\n" + "".join(f"{float(a)!r},{float(b)!r}\n" for a, b in zip(t, x)))
    return path


def test_a_gap_in_the_time_column_keeps_every_later_sample_at_its_time(tmp_path):
    """A paused logger: 0-30 s and 40-70 s at 100 Hz. Closed up, the windows after the gap would start
    10 s early; on the grid they start where the file says, and the gap is NaN for the gap policy."""
    from tiny_biomoe.signals import condition

    t = np.arange(7000) / 100.0
    keep = (t < 30) | (t >= 40)
    x = 2 + np.sin(2 * np.pi * 0.05 * t)
    with pytest.warns(UserWarning, match="1 gaps .*filled with 1000 missing samples"):
        rec = read_signal(_csv(tmp_path / "gap.csv", np.round(t[keep], 2), x[keep]))
    eda = rec.signals["eda"]
    assert rec.sampling_rate == 100.0 and eda.size == 7000
    assert np.isnan(eda[3000:4000]).all() and not np.isnan(eda[:3000]).any() and not np.isnan(eda[4000:]).any()
    np.testing.assert_allclose(eda[4000:], x[4000:])  # the sample written at 40.00 s is at index 4000
    with pytest.warns(UserWarning, match="more than 50% missing"):
        w = condition(eda, sampling_rate=100.0, modality="eda", window_s=10.0)
    np.testing.assert_allclose(w.starts, [0, 10, 20, 40, 50, 60])


def test_jittered_times_are_kept_and_irregular_ones_resampled_onto_the_grid(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(3000) / 100.0
    jit = t + rng.uniform(-0.002, 0.002, t.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_signal(_csv(tmp_path / "jitter.csv", jit, np.arange(t.size, dtype=float)))
    np.testing.assert_array_equal(rec.signals["eda"], np.arange(t.size))  # samples untouched, no NaN added
    irr = np.sort(rng.uniform(0, 60, 6000))
    with pytest.warns(UserWarning, match="irregular.*resampled linearly"):
        rec = read_signal(_csv(tmp_path / "irregular.csv", irr, 3 * irr + 1))
    fs = rec.sampling_rate
    assert fs == pytest.approx(5999 / (irr[-1] - irr[0]))  # the mean rate over the span, not of short steps
    y = rec.signals["eda"]
    np.testing.assert_allclose(y, 3 * (irr[0] + np.arange(y.size) / fs) + 1, rtol=1e-9)  # a line stays a line
    assert y.size / fs == pytest.approx(irr[-1] - irr[0], abs=1 / fs)


def test_a_gap_too_long_to_fill_is_a_clear_error(tmp_path):
    t = np.r_[np.arange(100) / 1000.0, 4e6 + np.arange(100) / 1000.0]  # 46 days of nothing at 1 kHz
    with pytest.raises(SignalError, match="split the file at the gaps"):
        read_signal(_csv(tmp_path / "long_gap.csv", t, np.ones(t.size)), time_unit="s")


def test_dataframe_with_a_datetime_index_gap_keeps_times():
    import pandas as pd

    idx = pd.date_range("2026-01-01", periods=600, freq="100ms")
    df = pd.DataFrame({"EDA": np.arange(600.0)}, index=idx).drop(idx[200:300])
    with pytest.warns(UserWarning, match="filled with 100 missing samples"):
        rec = read_signal(df)
    y = rec.signals["EDA"]
    assert rec.sampling_rate == pytest.approx(10.0) and y.size == 600 and np.isnan(y[200:300]).all()
    np.testing.assert_array_equal(y[300:], np.arange(300.0, 600.0))


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (b"# only a comment\n", "only comment lines"),
    (b"\x00\x01\x02binary", "binary"),
    (b"time,eda\n0,1\n0.02,2\n0.01,3\n", "goes backwards"),
    (b"time,eda\n0,1\n", "fewer than 2"),
    (b"time,eda\nstart,1\nend,2\n", "neither numbers nor clock"),
    (b"a,b\nx,y\n", "no numeric signal columns"),
])
def test_broken_tables(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(SignalError, match=match):
        read_table(p, sampling_rate=FS)
    with pytest.raises(DatasetError, match=match):
        read_table(p, sampling_rate=FS, error=DatasetError)


def test_truncated_gzip_is_a_clear_error(tmp_path, xy):
    a, _ = xy
    data = gzip.compress(("eda\n" + _lines(zip(a))).encode())
    p = tmp_path / "cut.csv.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(SignalError, match="complete|cannot"):
        read_signal(p, sampling_rate=FS)


def test_no_rate_anywhere_names_the_fix(tmp_path, xy):
    a, b = xy
    p = tmp_path / "n.csv"
    p.write_text("eda,bvp\n" + _lines(zip(a, b)))
    with pytest.raises(SignalError, match="--fs"):
        read_table(p)
    assert read_table(p, require_rate=False).sampling_rate is None


def test_dataset_adapters_share_the_reader(tmp_path, xy):
    """data/_files (every adapter) reads through signals.tables: same layouts, same precedence, DatasetErrors."""
    from tiny_biomoe.data import _files
    from tiny_biomoe.data.dataset import DatasetWarning

    a, _ = xy
    p = tmp_path / "S1_NP_1.csv.gz"
    p.write_bytes(gzip.compress(("# exported by a lab logger\nsec,value\n"
                                 + _lines(zip(np.round(np.arange(N) / 25.0, 4), a))).encode()))
    df = _files.read_table(p)
    assert list(df.columns) == ["sec", "value"]
    with pytest.warns(DatasetWarning, match="given rate 100 Hz differs from the time column's 25 Hz"):
        fs, col = _files.resolve_rate(df, "auto", 100.0, "auto", p)  # an adapter's assumed default rate
    assert (fs, col) == (25.0, "sec") and _files.find_column(df, "*") == "value"
    q = tmp_path / "h.tsv"
    q.write_text("# fs: 64\nEDA\n" + _lines(zip(a)))
    assert _files.resolve_rate(_files.read_table(q), "auto", None, "auto", q) == (64.0, None)
    (tmp_path / "bad.csv").write_bytes(b"\x00\x01binary")
    with pytest.raises(DatasetError, match="binary"):
        _files.read_table(tmp_path / "bad.csv")
    matched, _ = _files.find_files(tmp_path, __import__("re").compile(r"S1"))
    assert [m[0].name for m in matched] == ["S1_NP_1.csv.gz"]


def test_comment_lines_between_rows_are_dropped_and_counted(tmp_path, xy):
    # loggers write event marks into the data ('# stimulus on'): they are not rows, and the values around them stay
    a, b = xy
    rows = [f"{i / FS:.4f},{float(a[i])!r},{float(b[i])!r}" for i in range(N)]
    rows.insert(50, "# stimulus on")
    rows.insert(120, "   % marker 2")
    p = tmp_path / "marks.csv"
    p.write_text("# logger v2\ntime,EDA,BVP\n" + "\n".join(rows) + "\n")
    tab = read_table(p, comment="#%")
    assert tab.comment_lines_in_table == 2 and tab.comments == ["logger v2"]
    assert tab.channels == ["EDA", "BVP"] and len(tab.frame) == N and tab.sampling_rate == FS
    np.testing.assert_allclose(tab.frame["EDA"], a, rtol=1e-12)
    np.testing.assert_allclose(tab.frame["BVP"], b, rtol=1e-12)
    assert tab.info()["comment_lines_in_table"] == 2


def test_compressed_opensignals_text_is_detected_and_read(tmp_path):
    import json

    from tiny_biomoe.signals.readers import detect_format

    mac = "00:07:80:4D:2E:76"
    head = {mac: {"sampling rate": 100, "resolution": [16], "column": ["nSeq", "DI", "A1"], "label": ["A1"],
                  "sensor": ["EDA"], "position": 0, "device": "biosignalsplux"}}
    adc = np.arange(N) % 997 + 1000
    text = ("# OpenSignals Text File Format. Version 1\n# " + json.dumps(head) + "\n# EndOfHeader\n"
            + "\n".join(f"{i % 16}\t0\t{v}" for i, v in enumerate(adc)) + "\n")
    plain, gz = tmp_path / "os.txt", tmp_path / "os.txt.gz"
    plain.write_text(text)
    gz.write_bytes(gzip.compress(text.encode()))
    assert detect_format(gz) == detect_format(plain) == "opensignals"
    r1, r2 = read_signal(plain), read_signal(gz)
    assert r2.channels == r1.channels == ["A1"] and r2.sampling_rate == 100.0
    np.testing.assert_array_equal(r2.signals["A1"], r1.signals["A1"])
    # biosignalsplux EDA in uS = ADC / 2^16 * 3 / 0.12 (PLUX datasheet)
    np.testing.assert_allclose(r2.signals["A1"], adc / 2 ** 16 * 3 / 0.12, rtol=1e-12)


def test_the_table_reader_and_inspect_are_public_in_signals():
    import tiny_biomoe
    import tiny_biomoe.signals as s

    assert s.read_table is read_table and s.inspect is tiny_biomoe.inspect
    assert {"read_table", "Table", "inspect", "format_inspection"} <= set(s.__all__)


# ----------------------------------------------------------------------------- text encodings
def _eda_text(newline: str = "\n", sep: str = "\t") -> tuple[str, np.ndarray]:
    t = np.arange(0, 20, 0.01)
    eda = 2 + 0.1 * np.sin(t)
    rows = "".join(f"{a:.2f}{sep}{b:.5f}{newline}" for a, b in zip(t, eda))
    return f"Time (s){sep}EDA (µS){newline}" + rows, eda


@pytest.mark.parametrize("encoding, name", [
    ("utf-16", "utf-16"),  # Excel's "Unicode text": UTF-16 LE with a byte-order mark, CRLF, tabs
    ("utf-16-le", "utf-16-le"),  # the same without the mark
    ("utf-16-be", "utf-16-be"),
    ("utf-8-sig", "utf-8-sig"),  # Excel's "CSV UTF-8"
    ("utf-32", "utf-32"),
    ("cp1252", "cp1252"),  # Windows lab software: "µS" as the single byte 0xB5
    ("utf-8", "utf-8"),
])
@pytest.mark.parametrize("compress", [None, gzip])
def test_tables_in_the_encodings_lab_software_writes(tmp_path, encoding, name, compress):
    text, eda = _eda_text("\r\n")
    data = text.encode(encoding)
    p = tmp_path / ("rec.txt.gz" if compress else "rec.txt")
    p.write_bytes(compress.compress(data) if compress else data)
    tab = read_table(p)
    assert tab.channels == ["EDA (µS)"] and tab.time_column == "Time (s)"  # no mark, no replacement character
    assert tab.sampling_rate == pytest.approx(100.0) and tab.info()["encoding"] == name
    np.testing.assert_allclose(tab.frame["EDA (µS)"].to_numpy(), eda, atol=5e-6)
    rec = read_signal(p, columns=["EDA (µS)"])
    assert list(rec.signals) == ["EDA (µS)"]


def test_text_encoding_rules():
    from tiny_biomoe.signals.tables import text_encoding

    assert text_encoding(b"time,eda\n0,1\n") == "utf-8"
    assert text_encoding("EDA (µS)\n".encode("utf-8")) == "utf-8"
    assert text_encoding("EDA (µS)\n".encode("utf-8")[:-2] + "µ".encode("utf-8")[:1]) == "utf-8"  # cut mid-character
    assert text_encoding("EDA (µS)\n".encode("latin-1")) == "cp1252"
    assert text_encoding("time,eda\n0,1\n".encode("utf-16-le")[:-1]) == "utf-16-le"  # cut mid-unit: still told
    # raw 16-bit samples with small values have NUL high bytes too, but decode to control characters
    raw = np.array([1, 3, 2, 7, 5, 4, 6, 2, 1, 0, 3, 8], dtype="<i2").tobytes()
    assert text_encoding(raw) != "utf-16-le"


def test_a_utf16_file_cut_mid_character_reads_to_its_last_whole_row(tmp_path):
    p = tmp_path / "cut.csv"
    p.write_bytes(("time,eda\n" + "".join(f"{i / 10},{i}\n" for i in range(40))).encode("utf-16-le")[:-1])
    tab = read_table(p)
    assert tab.frame["eda"].tolist()[:39] == list(range(39)) and tab.sampling_rate == pytest.approx(10)


def test_a_raw_16_bit_file_is_still_refused_as_binary(tmp_path):
    p = tmp_path / "adc.txt"
    p.write_bytes(np.tile(np.arange(1, 30, dtype="<i2"), 200).tobytes())
    with pytest.raises(SignalError, match="binary file"):
        read_table(p)


# ----------------------------------------------------------------------------- Excel's sep= line, a units row
def _shimmer_csv(path, sep=",", n=3000, sep_text=None):
    """The layout of a Shimmer Consensys CSV export: Excel's "sep=" line, signal names with the device id,
    a row of units, Unix time in ms, a separator after every field."""
    t = np.arange(n) / 128.0
    eda = 2 + 0.1 * np.sin(t)
    ppg = 1000 + 50 * np.sin(2 * np.pi * 1.2 * t)
    names = ["Shimmer_8A2B_Timestamp_Unix_CAL", "Shimmer_8A2B_GSR_Skin_Conductance_CAL", "Shimmer_8A2B_PPG_A13_CAL"]
    lines = [f'"sep={sep_text or sep}"', sep.join(names) + sep, sep.join(["ms", "uS", "mV"]) + sep]
    lines += [sep.join([f"{1617181920000 + 1000 * a:.3f}", f"{b:.5f}", f"{c:.4f}"]) + sep for a, b, c in zip(t, eda, ppg)]
    path.write_text("\n".join(lines) + "\n")
    return eda, ppg


@pytest.mark.parametrize("sep, sep_text", [(",", None), ("\t", None), ("\t", "\\t")])  # "\t": the tab as written
def test_excel_sep_line_and_units_row_as_shimmer_exports_them(tmp_path, sep, sep_text):
    p = tmp_path / "shimmer.csv"
    eda, ppg = _shimmer_csv(p, sep, sep_text=sep_text)
    tab = read_table(p)
    assert tab.time_column == "Shimmer_8A2B_Timestamp_Unix_CAL" and tab.time_unit == "ms"  # from the units row
    assert tab.sampling_rate == pytest.approx(128.0, rel=1e-6)
    assert tab.channels == ["Shimmer_8A2B_GSR_Skin_Conductance_CAL", "Shimmer_8A2B_PPG_A13_CAL"]
    assert tab.units == {"Shimmer_8A2B_GSR_Skin_Conductance_CAL": "uS", "Shimmer_8A2B_PPG_A13_CAL": "mV"}
    np.testing.assert_allclose(tab.frame.iloc[:, 0].to_numpy(), eda, atol=5e-6)
    rec = read_signal(p)
    assert rec.units["Shimmer_8A2B_PPG_A13_CAL"] == "mV"
    assert rec.channel_modalities() == {"Shimmer_8A2B_GSR_Skin_Conductance_CAL": "eda", "Shimmer_8A2B_PPG_A13_CAL": "bvp"}
    name, x, fs = rec.pick(modality="ppg")
    assert name == "Shimmer_8A2B_PPG_A13_CAL" and fs == pytest.approx(128.0, rel=1e-6)
    np.testing.assert_allclose(x, ppg, atol=5e-5)


def test_a_units_row_is_told_from_data():
    from tiny_biomoe.signals.tables import _is_units_row

    assert _is_units_row(["s", "mV", "-"], ["0.0", "1.5", "2"], 3)
    assert not _is_units_row(["0.0", "mV", "%"], ["0.1", "1.5", "2"], 3)  # a number: data
    assert not _is_units_row(["s", "mV"], ["0.0", "1.5", "2"], 3)  # narrower than the header
    assert not _is_units_row(["-", ""], ["0.0", "1.5"], 2)  # no text
    assert not _is_units_row(["s", "mV"], ["start", "stop"], 2)  # no numbers below: not a units row


def test_a_table_without_a_units_row_keeps_its_first_sample(tmp_path):
    p = tmp_path / "rec.csv"
    p.write_text('"sep=;"\ntime;eda\n0;1,5\n0,1;1,6\n0,2;1,7\n0,3;1,8\n')
    tab = read_table(p)
    assert tab.units == {} and tab.frame["eda"].tolist() == [1.5, 1.6, 1.7, 1.8] and tab.sampling_rate == pytest.approx(10)


def test_units_from_the_column_names_when_no_units_row(tmp_path):
    p = tmp_path / "polar.csv"  # the layout of Polar Sensor Logger's ECG export
    rows = "".join(f"2024-05-06T10:00:{i / 130:09.6f};{i * 7692307};{i / 0.13:.3f};{(i % 13) * 10}\n" for i in range(1300))
    p.write_text("Phone timestamp;sensor timestamp [ns];timestamp [ms];ecg [uV]\n" + rows)
    tab = read_table(p, columns=["ecg [uV]"])
    assert tab.time_column == "timestamp [ms]" and tab.sampling_rate == pytest.approx(130.0, rel=1e-3)
    assert tab.units == {"ecg [uV]": "uV"}
    rec = read_signal(p)
    assert rec.units["ecg [uV]"] == "uV" and rec.pick(modality="ecg")[0] == "ecg [uV]"
    assert rec.units["sensor timestamp [ns]"] == "ns"  # a second clock is a numeric column like any other


@pytest.mark.parametrize("name, unit, step", [("Zeit [s]", "s", "0,01"), ("Zeitstempel (ms)", "ms", "10"),
                                              ("Temps (s)", "s", "0,01"), ("tiempo", "s", "0,01"), ("Tijd_ms", "ms", "10")])
def test_localised_time_column_names(tmp_path, name, unit, step):
    p = tmp_path / "rec.csv"
    k = float(step.replace(",", "."))
    rows = "".join(f"{i * k:.2f};{2 + i / 1e4:.4f}\n".replace(".", ",") for i in range(2000))
    p.write_text(f"{name};EDA [µS]\n" + rows, encoding="cp1252")
    tab = read_table(p)
    assert tab.time_column == name and tab.time_unit == unit and tab.sampling_rate == pytest.approx(100.0)
    assert tab.channels == ["EDA [µS]"] and tab.units == {"EDA [µS]": "µS"}
