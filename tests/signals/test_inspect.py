"""tiny_biomoe.inspect and `biomoe inspect FILE [--json]` on files written here."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tiny_biomoe
from tiny_biomoe.cli import main
from tiny_biomoe.signals.inspection import inspect


def _opensignals(path, n=400):
    rng = np.random.default_rng(11)
    hdr = {"00:07:80:4D:2E:76": {"position": 0, "device": "biosignalsplux", "sampling rate": 200, "resolution": [16, 16],
                                 "column": ["nSeq", "DI", "CH1", "CH2"], "label": ["CH1", "CH2"], "sensor": ["EDA", "BVP"],
                                 "date": "2025-3-14", "time": "10:00:00.000"}}
    a, b = rng.integers(0, 65536, n), rng.integers(0, 65536, n)
    rows = "\n".join(f"{i % 16}\t0\t{a[i]}\t{b[i]}" for i in range(n))
    path.write_text("# OpenSignals Text File Format. Version 1\n# " + json.dumps(hdr) + "\n# EndOfHeader\n" + rows + "\n")
    return a, b


def test_inspect_reports_rate_source_channels_and_modalities(tmp_path):
    p = tmp_path / "rec.txt"
    a, _ = _opensignals(p)
    rep = tiny_biomoe.inspect(p)
    assert rep["format"] == "opensignals-text" and rep["sampling_rate"] == 200 and rep["sampling_rate_from"] == "header"
    assert rep["duration_s"] == pytest.approx(2.0) and rep["values"] == "converted"
    ch = {c["name"]: c for c in rep["channels"]}
    assert ch["CH1"]["sensor"] == "EDA" and ch["CH1"]["unit"] == "uS" and ch["CH2"]["modality"] == "bvp"
    assert ch["CH1"]["min"] == pytest.approx(a.min() / 65536 * 3 / 0.12)
    assert rep["modality_channel"]["eda"] == "CH1" and rep["modality_channel"]["bvp"] == "CH2"
    assert rep["modality_channel"]["ecg"] is None
    assert inspect(p, convert=False)["values"] == "raw ADC"
    assert [c["values"] for c in inspect(p)["channels"]] == ["converted", "converted"]


def test_inspect_table_with_gaps_and_without_a_rate(tmp_path):
    p = tmp_path / "t.csv"
    x = np.arange(10.0)
    x[[2, 3, 7]] = np.nan
    p.write_text("gsr,other\n" + "".join(("" if np.isnan(v) else f"{v}") + f",{i}\n" for i, v in enumerate(x)))
    rep = inspect(p)
    assert rep["sampling_rate"] is None and any("--fs" in w for w in rep["warnings"])
    ch = rep["channels"][0]
    assert ch["name"] == "gsr" and ch["nan_share"] == pytest.approx(0.3) and ch["nan_gaps"] == 2
    assert rep["modality_channel"]["eda"] == "gsr"
    assert inspect(p, sampling_rate=5.0)["channels"][0]["duration_s"] == pytest.approx(2.0)


def test_cli_inspect_text_json_and_errors(tmp_path, capsys):
    p = tmp_path / "rec.txt"
    _opensignals(p)
    assert main(["inspect", str(p)]) == 0
    out = capsys.readouterr().out
    assert "200 Hz (from the header)" in out and "eda: CH1" in out
    assert main(["inspect", str(p), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["sampling_rate"] == 200 and rep["channels"][1]["sensor"] == "BVP"
    q = tmp_path / "t.csv"
    q.write_text("time,bvp\n" + "".join(f"{i / 50},{i % 7}\n" for i in range(100)))
    assert main(["inspect", str(p), str(q), "--json"]) == 0  # several files: a list
    reps = json.loads(capsys.readouterr().out)
    assert [r["sampling_rate"] for r in reps] == [200, 50] and reps[1]["sampling_rate_from"] == "time column"
    assert main(["inspect", str(tmp_path / "missing.txt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("# OpenSignals Text File Format. Version 1\n# {broken\n# EndOfHeader\n1\t2\n")
    assert main(["inspect", str(tmp_path / "bad.txt")]) == 2
    assert "does not parse" in capsys.readouterr().err


def test_cli_time_unit_reaches_the_reader(tmp_path, capsys):
    p = tmp_path / "c.csv"
    p.write_text("counter,eda\n" + "".join(f"{i},{np.sin(i)}\n" for i in range(300)))
    assert main(["inspect", str(p), "--time-column", "counter", "--time-unit", "s", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sampling_rate"] == 1.0
    assert main(["inspect", str(p), "--time-column", "counter", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["sampling_rate"] == 1000.0 and any("read as ms" in w for w in rep["warnings"])


def test_docs_formats_example_runs(tmp_path, capsys):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "signals.md").read_text()
    code = re.search(r"```py\n(.*?)```", doc[doc.index("## Recordings as labs export them"):], re.S).group(1)
    d = tmp_path / "e4"
    d.mkdir()
    (d / "EDA.csv").write_text("1600000000.000000\n4.000000\n" + "".join(f"{1 + i / 100:.4f}\n" for i in range(80)))
    (d / "BVP.csv").write_text("1600000000.000000\n64.000000\n" + "".join(f"{np.sin(i / 5):.3f}\n" for i in range(1280)))
    t = tmp_path / "t.csv"
    t.write_text("timer,eda\n" + "".join(f"{i * 4},{i}\n" for i in range(50)))
    ns = {"path": d, "table_path": t}
    exec(compile(code, "docs/signals.md", "exec"), ns)
    assert capsys.readouterr().out.split() == ["[4.0,", "64.0]", "EDA"]  # two rates: the list
    assert ns["name"] == "EDA" and ns["fs"] == 4.0 and ns["tab"].sampling_rate == 250.0


def test_embed_lab_recordings_with_no_other_flag(tmp_path, reference_checkpoint, capsys):
    """The issue's 'done': `biomoe embed FILE --modality eda` on an OpenSignals file and an E4 session (.zip) gets
    the rate and the channel from the file."""
    from tiny_biomoe.embed import load_embeddings

    p = tmp_path / "rec.txt"
    n = 200 * 12
    rng = np.random.default_rng(12)
    hdr = {"00:07:80:4D:2E:76": {"position": 0, "device": "biosignalsplux", "sampling rate": 200, "resolution": [16, 16],
                                 "column": ["nSeq", "DI", "CH1", "CH2"], "label": ["CH1", "CH2"], "sensor": ["ECG", "EDA"]}}
    eda = (2 + 0.2 * np.sin(np.arange(n) / 300)) * 0.12 / 3 * 65536
    rows = "\n".join(f"{i % 16}\t0\t{rng.integers(0, 65536)}\t{int(eda[i])}" for i in range(n))
    p.write_text("# OpenSignals Text File Format. Version 1\n# " + json.dumps(hdr) + "\n# EndOfHeader\n" + rows + "\n")
    import zipfile

    d = tmp_path / "1600000000_A01234.zip"  # an E4 session as downloaded
    with zipfile.ZipFile(d, "w") as zf:
        zf.writestr("EDA.csv", "1600000000.000000\n4.000000\n" + "".join(f"{2 + np.sin(i / 9):.4f}\n" for i in range(48)))
        zf.writestr("BVP.csv", "1600000000.000000\n64.000000\n" + "".join(f"{np.sin(i / 5):.3f}\n" for i in range(768)))
    for src, fs in ((p, 200.0), (d, 4.0)):
        out = tmp_path / f"{src.stem}.npz"
        rc = main(["embed", str(src), "--modality", "eda", "--max-windows", "1", "--kinds", "waveform", "--device", "cpu",
                   "--no-progress", "--weights", str(reference_checkpoint), "-o", str(out)])
        assert rc == 0, capsys.readouterr().err
        res = load_embeddings(out)
        assert res.metadata["original_sampling_rate"] == pytest.approx(fs)
        assert res.metadata["channel"] == ("CH2" if src is p else "EDA")


def test_broken_recording_exit_2_and_no_output(tmp_path, capsys):
    bad = tmp_path / "opensignals.txt"
    bad.write_text("# OpenSignals Text File Format. Version 1\n# {\"00:07\": {\"sampling rate\": 100, \"column\": "
                   "[\"nSeq\", \"A1\"], \"label\": [\"A1\"], \"sensor\": [\"EDA\"]}}\n# EndOfHeader\n0\t1\t2\n")
    out = tmp_path / "previews"
    assert main(["render", str(bad), "--modality", "eda", "-o", str(out)]) == 2
    assert "3 data columns but the header lists 2" in capsys.readouterr().err and not out.exists()


def test_inspect_a_npy_without_a_rate_lists_its_channels(tmp_path, capsys):
    p = tmp_path / "eda.npy"
    np.save(p, np.linspace(1, 2, 600))
    rep = inspect(p)
    assert [c["samples"] for c in rep["channels"]] == [600] and rep["channels"][0]["duration_s"] is None
    assert any("pass sampling_rate=" in w for w in rep["warnings"])
    assert main(["inspect", str(p)]) == 0
    out = capsys.readouterr().out
    assert "--modality takes: ch0, the only channel, for any modality" in out


def test_a_channel_labelled_for_another_modality_is_refused_unless_chosen(tmp_path, reference_checkpoint, capsys):
    from tiny_biomoe.errors import SignalError
    from tiny_biomoe.signals import read_signal

    p = tmp_path / "rec.csv"
    t = np.arange(3000) / 100.0
    p.write_text("time,eda\n" + "".join(f"{a:.2f},{2 + np.sin(a):.5f}\n" for a in t))
    rec = read_signal(p)
    with pytest.raises(SignalError, match="only channel 'eda' is labelled eda, not bvp.*--column eda"):
        rec.pick(modality="bvp")
    with pytest.warns(UserWarning, match="labelled eda, used as bvp as asked"):
        assert rec.pick("eda", modality="bvp")[0] == "eda"
    assert rec.pick(modality="eda")[0] == "eda"
    rc = main(["embed", str(p), "--modality", "bvp", "--weights", str(reference_checkpoint), "-o", str(tmp_path / "o.npz")])
    assert rc == 2 and "--modality eda" in capsys.readouterr().err and not (tmp_path / "o.npz").exists()


def test_a_too_short_recording_names_the_guessed_time_unit(tmp_path, reference_checkpoint, capsys):
    p = tmp_path / "spo2.csv"  # 1 Hz SpO2 stamped 0, 1, 2, ...: read as milliseconds unless told
    p.write_text("time,spo2\n" + "".join(f"{i},{97 + (i % 3)}\n" for i in range(120)))
    rc = main(["embed", str(p), "--modality", "spo2", "--weights", str(reference_checkpoint), "-o", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "shorter than" in err and "guessed as ms (1000 Hz)" in err and "--time-unit s (1 Hz)" in err
    from tiny_biomoe.signals import read_signal

    with pytest.warns(UserWarning, match="unit not stated; read as ms"):
        rec = read_signal(p)
    guess = rec.info["time_unit_guess"]
    assert guess["unit"] == "ms" and guess["rates_hz"]["s"] == pytest.approx(1.0)  # the guess as data, not only text
    assert all(type(w) is str for w in rec.info["warnings"])
    assert read_signal(p, time_unit="s").info["time_unit_guess"] is None
    rc = main(["embed", str(p), "--modality", "spo2", "--time-unit", "s", "--window", "30", "--no-progress",
               "--weights", str(reference_checkpoint), "-o", str(tmp_path / "o.npz")])
    assert rc == 0 and (tmp_path / "o.npz").is_file()


def test_inspect_names_a_table_encoding_other_than_utf8(tmp_path, capsys):
    p = tmp_path / "excel.txt"
    rows = "".join(f"{i / 10:.1f}\t{1 + i / 1000:.3f}\r\n" for i in range(300))
    p.write_bytes(("Time (s)\tEDA (µS)\r\n" + rows).encode("utf-16"))
    rep = inspect(p)
    assert rep["encoding"] == "utf-16" and [c["name"] for c in rep["channels"]] == ["EDA (µS)"]
    assert main(["inspect", str(p)]) == 0
    assert "text:      utf-16" in capsys.readouterr().out
    q = tmp_path / "plain.csv"
    q.write_text("time,eda\n" + "".join(f"{i / 10},{i}\n" for i in range(300)))
    assert main(["inspect", str(q)]) == 0 and "text:" not in capsys.readouterr().out


def test_cli_inspect_of_several_files_reports_each_and_fails_for_the_bad_one(tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("time,eda\n" + "".join(f"{i / 10},{i}\n" for i in range(300)))
    bad = tmp_path / "empty.csv"
    bad.write_text("")
    missing = tmp_path / "missing.csv"
    assert main(["inspect", str(bad), str(good), str(missing), "--json"]) == 2
    cap = capsys.readouterr()
    reps = json.loads(cap.out)
    assert [r["path"] for r in reps] == [str(bad), str(good), str(missing)]
    assert "empty" in reps[0]["error"] and reps[1]["sampling_rate"] == 10 and "error" not in reps[1]
    assert "error" in reps[2] and "2 of 3 files could not be read" in cap.err
    assert main(["inspect", str(good), str(bad)]) == 2
    out = capsys.readouterr().out
    assert "rate:      10 Hz" in out and f"file:      {bad}\nerror:" in out
    assert main(["inspect", str(bad)]) == 2 and "empty" in capsys.readouterr().err  # one file: its error alone


def test_cli_inspect_of_a_dataset_folder_is_one_line_per_recording(tmp_path, capsys):
    study = tmp_path / "study"
    (study / "s1").mkdir(parents=True)
    (study / "s2").mkdir()
    (study / "s1" / "rec.csv").write_text("time,eda,bvp\n" + "".join(f"{i / 10},{i},{-i}\n" for i in range(300)))
    (study / "s2" / "rec.tsv").write_text("time\tresp\n" + "".join(f"{i / 4}\t{i % 7}\n" for i in range(400)))
    (study / "s2" / "broken.csv").write_text("")
    assert main(["inspect", str(study)]) == 2  # one unreadable recording: reported, the others still listed
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("s1", "s2"))}  # relative paths
    assert set(rows) == {"s1/rec.csv", "s2/rec.tsv", "s2/broken.csv"}
    assert "bvp: bvp; eda: eda" in rows["s1/rec.csv"] and " 10 " in rows["s1/rec.csv"]
    assert "any: resp" in rows["s2/rec.tsv"] and "error: the file is empty" in rows["s2/broken.csv"]  # no path twice
    assert "3 files, 1 unreadable" in out
    (study / "s2" / "broken.csv").unlink()
    assert main(["inspect", str(study), "--json"]) == 0
    reps = json.loads(capsys.readouterr().out)
    assert [r["sampling_rate"] for r in reps] == [10, 4]
    (tmp_path / "nothing").mkdir()
    assert main(["inspect", str(tmp_path / "nothing")]) == 2 and "holds no recordings of a known type" in capsys.readouterr().err
