"""Spreadsheets (.xlsx) as labs save them from Excel, written here with openpyxl and read through the one
table reader: the first sheet with data, its header, units, time column (numbers or Excel date-times)."""

from __future__ import annotations

import datetime

import numpy as np
import openpyxl  # in the test extra: it writes the workbooks; python-calamine (io extra) reads them
import pytest

from tiny_biomoe.cli import main
from tiny_biomoe.errors import MissingDependencyError, SignalError
from tiny_biomoe.signals import read_signal
from tiny_biomoe.signals.readers import detect_format


def _book(path, sheets):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets:
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)


def _eda(n=2000):
    t = np.arange(n) / 100.0
    return t, 2 + 0.1 * np.sin(t) + 1e-7 * np.arange(n)  # full float precision must survive


def test_first_sheet_with_data_header_units_and_text_columns(tmp_path, capsys):
    t, eda = _eda()
    rows = [["Time", "EDA", "Marker"], ["s", "uS", ""]]
    rows += [[float(a), float(b), "pain on" if i == 100 else None] for i, (a, b) in enumerate(zip(t, eda))]
    p = tmp_path / "session.xlsx"
    _book(p, [("Notes", [["subject S01"]]), ("Data", rows), ("Other", [["x", "y"], [1, 2], [3, 4]])])
    assert detect_format(p) == "table"
    rec = read_signal(p)
    assert rec.channels == ["EDA"] and rec.sampling_rate == pytest.approx(100.0) and rec.units == {"EDA": "uS"}
    np.testing.assert_allclose(rec.signals["EDA"], eda, rtol=1e-15, atol=0)  # every digit (the parser's last ulp aside)
    assert rec.info["sheet"] == "Data" and rec.info["encoding"] is None
    assert main(["inspect", str(p)]) == 0 and "sheet:     'Data'" in capsys.readouterr().out


def test_excel_date_times_as_the_time_column(tmp_path):
    start = datetime.datetime(2024, 5, 6, 10, 0, 0)
    _, eda = _eda(1200)
    rows = [["Timestamp", "GSR"]] + [[start + datetime.timedelta(milliseconds=50 * i), float(v)] for i, v in enumerate(eda)]
    p = tmp_path / "export.xlsx"
    _book(p, [("Sheet1", rows)])
    rec = read_signal(p)
    assert rec.sampling_rate == pytest.approx(20.0) and rec.info["time_unit"] == "datetime"
    assert rec.pick(modality="eda")[0] == "GSR"
    np.testing.assert_allclose(rec.signals["GSR"], eda, rtol=1e-15, atol=0)


def test_embed_a_sheet_named_as_a_file_but_not_found_in_a_folder_scan(tmp_path, reference_checkpoint, capsys):
    t, eda = _eda(3000)
    study = tmp_path / "study"
    study.mkdir()
    _book(study / "rec.xlsx", [("Data", [["time", "eda"]] + [[float(a), float(b)] for a, b in zip(t, eda)])])
    _book(study / "participants.xlsx", [("P", [["id", "age"], ["S01", 31]])])
    (study / "rec.csv").write_text("time,eda\n" + "".join(f"{a},{b}\n" for a, b in zip(t, eda)))
    assert main(["embed", str(study / "rec.xlsx"), "--modality", "eda", "--kinds", "waveform", "--window", "10",
                 "--no-progress", "--weights", str(reference_checkpoint)]) == 0
    assert (study / "rec.eda.embeddings.npz").is_file()
    assert main(["embed", str(study), "--modality", "eda", "--kinds", "waveform", "--dry-run", "-o",
                 str(tmp_path / "all.parquet"), "--weights", str(reference_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "1 to embed" in out and "participants" not in out  # a folder's spreadsheets are a study's notes


def test_broken_or_empty_workbooks_are_refused(tmp_path, monkeypatch):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(SignalError, match="cannot read as a spreadsheet"):
        read_signal(bad)
    empty = tmp_path / "empty.xlsx"
    _book(empty, [("A", [["only a title"]])])
    with pytest.raises(SignalError, match="no sheet holds a table"):
        read_signal(empty)
    monkeypatch.setitem(__import__("sys").modules, "python_calamine", None)
    with pytest.raises(MissingDependencyError, match=r"tiny-biomoe\[io\]"):
        read_signal(empty)
