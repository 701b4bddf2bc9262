"""AI4PAIN 2025/2026 exactly as distributed: <partition>/<Modality>/<subject>.csv, one column per segment.

The folders are written here in that layout (padded columns, interleaved REST, spelling variants,
blinded test columns, an optional wrapper folder); expected segments are computed from the arrays
written, independently of the adapter.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from tiny_biomoe.data import AI4PAIN_2026_CLASSES, AI4PAIN_CLASSES, DatasetWarning, load_ai4pain
from tiny_biomoe.data import make_synthetic_pain, write_ai4pain_layout
from tiny_biomoe.data.ai4pain import parse_segment_name
from tiny_biomoe.data.load import load_dataset
from tiny_biomoe.errors import ConfigError, DatasetError

FS = 100
FOLDERS = {"EDA": "Eda", "BVP": "Bvp", "RESP": "Resp", "SpO2": "SpO2"}


def _write(base, part, subject, cols_by_mod):
    """One participant: a CSV per modality folder, columns padded with empty cells, no time column."""
    for m, cols in cols_by_mod.items():
        p = base / part / FOLDERS[m] / f"{subject}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({c: pd.Series(v) for c, v in cols.items()}).to_csv(p, index=False, na_rep="")


def _session_2025(subject, rng, *, spelling=("Baseline", "LOW", "HIGH", "REST"), n_stim=2, base_s=61.0, blinded=False):
    """Columns of a 2025 session in recording order: baseline, then LOW/HIGH stimuli each followed by REST.
    Returns {modality: {column: samples}}; every modality has the same segments, lengths and order."""
    b, lo, hi, re_ = spelling
    names, lens = [], []
    if blinded:
        for k in range(1, 2 * n_stim + 2):
            names.append(f"{subject}_{k}")
            lens.append(int((9.8 + 0.1 * k) * FS))
    else:
        names.append(f"{subject}_{b}_1")
        lens.append(int(base_s * FS))
        r = 0
        for k in range(1, n_stim + 1):
            for st, L in ((lo, 9.8 + 0.05 * k), (hi, 10.1 + 0.05 * k)):
                names.append(f"{subject}_{st}_{k}")
                lens.append(int(round(L * FS)))
                r += 1
                names.append(f"{subject}_{re_}_{r}")
                lens.append(int((40 + r) * FS))
    return {m: {n: rng.normal(size=L) + 10 * i for n, L in zip(names, lens)} for i, m in enumerate(FOLDERS)}


@pytest.fixture
def ai4pain_2025(tmp_path):
    """train S1 (canonical spelling), S2 (other spellings); validation S3; test S4 (blinded); in a wrapper folder."""
    rng = np.random.default_rng(0)
    base = tmp_path / "AI4Pain 2025 Dataset"
    data = {
        ("train", "S1"): _session_2025("S1", rng),
        ("train", "S2"): _session_2025("S2", rng, spelling=("BASELINE", "Low", "High", "Rest")),
        ("validation", "S3"): _session_2025("S3", rng, spelling=("baseline", "low", "HIGH", "Rest")),
        ("test", "S4"): _session_2025("S4", rng, blinded=True),
    }
    for (part, s), cols in data.items():
        _write(base, part, s, cols)
    return tmp_path, base, data


def _baseline_starts(n, L, count):
    """Evenly spread, non-overlapping pieces (the documented rule), computed here independently."""
    return [int(round(i * (n - L) / (count - 1))) for i in range(count)]


def test_2025_default_construction(ai4pain_2025):
    root, base, data = ai4pain_2025
    ds = load_ai4pain(root)  # the folder the zip unpacked to: the wrapper folder is entered
    assert ds.name == "ai4pain" and ds.classes == AI4PAIN_CLASSES == ["No_Pain", "Low_Pain", "High_Pain"]
    assert ds.modalities == ["EDA", "BVP", "RESP", "SpO2"] and sorted(ds.subjects) == ["S1", "S2", "S3", "S4"]
    s = ds.summary()
    parts = s["partitions"]
    # 6 baseline segments, each LOW/HIGH one trial, REST left out; test columns blinded
    assert parts["train"]["trials_per_class"] == {"No_Pain": 12, "Low_Pain": 4, "High_Pain": 4}
    assert parts["validation"]["trials_per_class"] == {"No_Pain": 6, "Low_Pain": 2, "High_Pain": 2}
    assert parts["test"]["trials_per_class"] == {"(unlabelled)": 5}
    assert parts["train"]["participants"] == 2 and s["participants"] == 4
    assert not any(t.info.get("state") == "REST" for t in ds.trials)
    assert ds.info["counts"]["REST columns left out"] == 12
    by_id = {(t.subject, t.trial): t for t in ds.trials}
    for (part, subj), cols in data.items():
        for m in FOLDERS:
            for col, x in cols[m].items():
                st = parse_segment_name(col).state
                if st is None or st in ("LOW", "HIGH"):  # taken whole, padding trimmed, nothing added
                    t = by_id[(subj, col)]
                    np.testing.assert_array_equal(t.signals[m], x)
                    assert t.partition == part and t.sampling_rates[m] == 100.0
                    assert t.label == {None: None, "LOW": "Low_Pain", "HIGH": "High_Pain"}[st]
                elif st == "Baseline":
                    starts = _baseline_starts(x.size, 1000, 6)
                    assert all(b - a >= 1000 for a, b in zip(starts, starts[1:]))  # non-overlapping
                    for j, a in enumerate(starts, 1):
                        t = by_id[(subj, f"{col}#{j}")]
                        np.testing.assert_array_equal(t.signals[m], x[a:a + 1000])
                        assert t.label == "No_Pain" and t.info["start_s"] == pytest.approx(a / 100)
    # durations: baseline pieces 10 s, stimuli as distributed (9.85..10.2 s); the window follows the shortest trial
    d = parts["train"]["duration_s_per_class"]
    assert d["No_Pain"] == {"min": 10.0, "median": 10.0, "max": 10.0}
    assert d["Low_Pain"]["min"] == pytest.approx(9.85) and d["High_Pain"]["max"] == pytest.approx(10.2)
    assert ds.window_s == pytest.approx(9.85)
    text = ds.summary_text()
    for part in ("train", "validation", "test"):
        assert f"partition {part}" in text
    assert "4 participants" in text and "segment durations" in text and "REST left out" in text
    assert "No_Pain=12" in text and "(unlabelled)=5" in text
    # the same folder given directly, and the inner folder named by the user, read the same
    assert len(load_ai4pain(base).trials) == len(ds.trials)


def test_rest_variant_segment_length_and_equal_parts(ai4pain_2025):
    root, _, data = ai4pain_2025
    cols = data[("train", "S1")]["EDA"]
    rests = [c for c in cols if "_REST_" in c]
    assert len(rests) == 4
    with pytest.warns(DatasetWarning, match="fewer than rest_periods=6"):
        ds = load_ai4pain(root, partitions=["train"], modalities=["EDA"], rest="no_pain")
    got = {t.trial: t for t in ds.trials if t.subject == "S1" and t.info["state"] == "REST"}
    assert sorted(got) == sorted(f"{c}#last" for c in rests)
    for c in rests:  # the last 10 s of each REST period, as further No_Pain
        np.testing.assert_array_equal(got[f"{c}#last"].signals["EDA"], cols[c][-1000:])
        assert got[f"{c}#last"].label == "No_Pain"
    assert ds.summary()["partitions"]["train"]["trials_per_class"]["No_Pain"] == 12 + 8
    # two of the four REST periods, spread over the session (first and last), 5 s segments
    ds = load_ai4pain(root, partitions=["train"], modalities=["EDA"], rest="no_pain", rest_periods=2, segment_s=5.0)
    s1 = [t for t in ds.trials if t.subject == "S1"]
    rest = [t for t in s1 if t.info["state"] == "REST"]
    assert [t.info["column"] for t in rest] == [rests[0], rests[-1]]
    np.testing.assert_array_equal(rest[1].signals["EDA"], cols[rests[-1]][-500:])
    base = [t for t in s1 if t.info["state"] == "Baseline"]
    x = cols["S1_Baseline_1"]
    assert len(base) == 6
    for j, a in enumerate(_baseline_starts(x.size, 500, 6)):
        np.testing.assert_array_equal(base[j].signals["EDA"], x[a:a + 500])
    assert ds.window_s == 5.0
    # segment_s=None: the baseline cut into equal consecutive parts; 3 segments instead of 6
    ds = load_ai4pain(root, partitions=["train"], modalities=["EDA"], segment_s=None, baseline_segments=3)
    base = [t for t in ds.trials if t.subject == "S1" and t.info["state"] == "Baseline"]
    edges = [0, 2033, 4067, 6100]  # round(k * 6100 / 3)
    for j, t in enumerate(base):
        np.testing.assert_array_equal(t.signals["EDA"], x[edges[j]:edges[j + 1]])
    # a baseline too short for six 10 s segments gives as many as fit, with a warning naming it
    with pytest.warns(DatasetWarning, match="3 segments of 20 s fit"):
        ds = load_ai4pain(root, partitions=["train"], modalities=["EDA"], segment_s=20.0)
    assert sum(t.info["state"] == "Baseline" for t in ds.trials if t.subject == "S1") == 3
    with pytest.raises(DatasetError, match="rest must be one of"):
        load_ai4pain(root, rest="sometimes")


def test_2026_edition(tmp_path):
    rng = np.random.default_rng(1)
    for part, subj in (("train", "P1"), ("train", "P2"), ("validation", "P3")):
        names = [f"{subj}_{st}_{k}" for st in ("Baseline", "ARM", "HAND") for k in range(1, 4)]
        _write(tmp_path, part, subj, {m: {n: rng.normal(size=1000 - 5 * i) for i, n in enumerate(names)}
                                      for m in ("EDA", "BVP")})
    _write(tmp_path, "test", "P4", {m: {f"P4_{k}": rng.normal(size=1000) for k in range(1, 5)} for m in ("EDA", "BVP")})
    ds = load_ai4pain(tmp_path, modalities=["EDA", "BVP"])
    assert ds.name == "ai4pain-2026" and ds.classes == AI4PAIN_2026_CLASSES == ["No_Pain", "Arm_Pain", "Hand_Pain"]
    assert ds.info["edition"] == "AI4PAIN 2026"
    parts = ds.summary()["partitions"]
    assert parts["train"]["trials_per_class"] == {"No_Pain": 6, "Arm_Pain": 6, "Hand_Pain": 6}  # each column one trial
    assert parts["validation"]["trials_per_class"] == {"No_Pain": 3, "Arm_Pain": 3, "Hand_Pain": 3}
    assert parts["test"]["trials_per_class"] == {"(unlabelled)": 4}
    t = next(t for t in ds.trials if t.trial == "P1_HAND_3")
    assert t.label == "Hand_Pain" and t.signals["EDA"].size == 1000 - 5 * 8
    assert ds.window_s == 9.6
    with pytest.raises(DatasetError, match="has AI4PAIN 2026 segments .ARM.HAND columns. but edition=.2025. was asked"):
        load_ai4pain(tmp_path, modalities=["EDA"], edition="2025")
    assert load_ai4pain(tmp_path, modalities=["EDA"], edition="2026").classes == AI4PAIN_2026_CLASSES


def test_column_names(tmp_path):
    assert parse_segment_name("12_Baseline_1") == parse_segment_name("12_Baseline_1", "12")
    s = parse_segment_name(" 12_BASELINE ")
    assert (s.subject, s.state, s.k) == ("12", "Baseline", None)
    s = parse_segment_name("S_01-Low-3")
    assert (s.subject, s.state, s.k) == ("S_01", "LOW", 3)
    s = parse_segment_name("S_01_7")
    assert (s.subject, s.state, s.k) == ("S_01", None, 7)
    assert parse_segment_name("3_rest_12").state == "REST" and parse_segment_name("3_hand_2").state == "HAND"
    with pytest.raises(DatasetError, match="does not parse"):
        parse_segment_name("12_Stimulus_A")
    with pytest.raises(DatasetError, match="names participant '13'"):
        parse_segment_name("13_LOW_1", "12")


def _broken(tmp_path, ai4pain_2025):
    _, base, data = ai4pain_2025
    return base, data


def test_broken_folders(ai4pain_2025):
    root, base, data = ai4pain_2025
    rng = np.random.default_rng(5)
    # a missing modality folder: named, with the fix; the other modalities still load
    shutil.rmtree(base / "validation" / "Resp")
    with pytest.raises(DatasetError, match=r"AI4PAIN/validation: no folder for \['RESP'\].*modalities="):
        load_ai4pain(root)
    assert set(load_ai4pain(root, modalities=["EDA", "BVP", "SpO2"]).modalities) == {"EDA", "BVP", "SpO2"}
    _write(base, "validation", "S3", {"RESP": data[("validation", "S3")]["RESP"]})
    # a participant missing from one modality
    (base / "train" / "Bvp" / "S2.csv").unlink()
    with pytest.raises(DatasetError, match=r"participant\(s\) \['S2'\] have no file in .*Bvp"):
        load_ai4pain(root)
    _write(base, "train", "S2", {"BVP": data[("train", "S2")]["BVP"]})
    load_ai4pain(root)  # repaired
    # a column name that does not parse
    bad = dict(data[("train", "S1")]["EDA"])
    bad["S1_Stim_1"] = rng.normal(size=500)
    _write(base, "train", "S1", {"EDA": bad})
    with pytest.raises(DatasetError, match=r"S1.csv: column 'S1_Stim_1' does not parse"):
        load_ai4pain(root)
    # the same segment with different lengths across modalities (EDA one sample short)
    short = dict(data[("train", "S1")]["EDA"])
    short["S1_LOW_1"] = short["S1_LOW_1"][:-1]
    _write(base, "train", "S1", {"EDA": short})
    with pytest.raises(DatasetError, match=r"segment 'S1_LOW_1' has different lengths across modalities"):
        load_ai4pain(root)
    ds = load_ai4pain(root, length_tolerance=1)  # or cropped to the shortest, on request
    from tiny_biomoe.cli import main

    assert main(["evaluate", "--dataset", "ai4pain", "--root", str(root), "--out", str(root / "r")]) == 2  # CLI: exit 2
    assert len(load_dataset("ai4pain", root=root, length_tolerance=1).trials) == len(ds.trials)
    t = next(t for t in ds.trials if t.trial == "S1_LOW_1")
    assert {m: x.size for m, x in t.signals.items()} == {m: short["S1_LOW_1"].size for m in FOLDERS}
    # a column in one modality only
    extra = dict(data[("train", "S1")]["EDA"])
    extra["S1_LOW_9"] = rng.normal(size=1000)
    _write(base, "train", "S1", {"EDA": extra})
    with pytest.raises(DatasetError, match=r"participant S1: the columns of .* differ .*S1_LOW_9"):
        load_ai4pain(root)
    _write(base, "train", "S1", {"EDA": data[("train", "S1")]["EDA"]})
    # a blinded column in a labelled partition; a column of another participant
    _write(base, "validation", "S3", {m: {**data[("validation", "S3")][m], "S3_9": rng.normal(size=900)} for m in FOLDERS})
    with pytest.raises(DatasetError, match="carries no label"):
        load_ai4pain(root)
    _write(base, "validation", "S3", {m: {**data[("validation", "S3")][m], "S9_LOW_1": rng.normal(size=900)} for m in FOLDERS})
    with pytest.raises(DatasetError, match="names participant 'S9'"):
        load_ai4pain(root)
    # no partition folders at all
    (root / "empty").mkdir()
    with pytest.raises(DatasetError, match="no train/ validation/ test/"):
        load_ai4pain(root / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        load_ai4pain(root / "nope")


def test_missing_partition_is_a_warning(ai4pain_2025):
    root, base, _ = ai4pain_2025
    shutil.rmtree(base / "test")
    with pytest.warns(DatasetWarning, match="partition folder .*test not found"):
        ds = load_ai4pain(root)
    assert ds.partitions == ["train", "validation"]


def test_write_ai4pain_layout_writes_the_distributed_layout(tmp_path):
    syn = make_synthetic_pain(n_subjects=5, trials_per_class=2, seed=4)  # 10 s trials, 2 per class
    base = write_ai4pain_layout(syn, tmp_path, wrapper="AI4Pain 2025 Dataset")
    assert base == tmp_path / "AI4Pain 2025 Dataset"
    test_subj = sorted({t.subject for t in syn.trials if t.partition == "test"})
    for part in ("train", "validation", "test"):
        assert sorted(p.name for p in (base / part).iterdir()) == ["Bvp", "Eda", "Resp", "SpO2"]
    f = base / "test" / "Eda" / f"{test_subj[0]}.csv"
    head = f.read_text().splitlines()
    assert head[0].split(",") == [f"{test_subj[0]}_{k}" for k in range(1, 7)]  # blinded, no time column
    train_subj = next(t.subject for t in syn.trials if t.partition == "train")
    lines = (base / "train" / "Bvp" / f"{train_subj}.csv").read_text().splitlines()
    cols = lines[0].split(",")
    assert cols[0] == f"{train_subj}_Baseline_1" and len(cols) == 5
    assert {c.rsplit("_", 1)[0] for c in cols[1:]} == {f"{train_subj}_LOW", f"{train_subj}_HIGH"}
    assert len(lines) == 1 + 2000 and lines[-1].endswith(",,,,")  # stimuli padded with empty cells to the baseline
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 2 baseline trials: 2 of the 6 segments fit
        ds = load_ai4pain(tmp_path)
    orig = {}
    for t in syn.trials:
        orig.setdefault((t.subject, t.label if t.partition != "test" else None), []).append(t)
    got = {}
    for t in ds.trials:
        got.setdefault((t.subject, t.label), []).append(t)
    assert sorted(got) == sorted(orig)
    for k, ts in orig.items():  # the same trials back, in order, at float precision
        assert len(got[k]) == len(ts)
        for a, b in zip(ts, got[k]):
            assert b.partition == a.partition
            for m in a.signals:
                np.testing.assert_allclose(b.signals[m], a.signals[m], rtol=1e-7, atol=1e-9)


def test_load_dataset_passes_the_options(ai4pain_2025):
    root, _, _ = ai4pain_2025
    ds = load_dataset("ai4pain", root=root, modalities=["EDA"], rest="no_pain", rest_periods=4, segment_s=5.0)
    assert ds.summary()["partitions"]["train"]["trials_per_class"]["No_Pain"] == 12 + 8
    assert ds.info["rest"] == "last 5 s of 4 REST periods as No_Pain"
    with pytest.raises(ConfigError, match="apply to --dataset ai4pain only"):
        load_dataset("synthetic", rest="no_pain")


def test_byte_order_mark_unnamed_index_and_inner_gaps(tmp_path):
    # Files saved by spreadsheet tools: a byte-order mark, an index column, an empty cell inside a segment.
    p = tmp_path / "train" / "Eda" / "7.csv"
    p.parent.mkdir(parents=True)
    base = np.arange(1200) / 10.0
    low = np.arange(500) * 1.0
    rows = ["\ufeff,7_Baseline,7_LOW_1"]
    for i in range(1200):
        b = "" if i == 33 else f"{base[i]:.1f}"
        rows.append(f"{i},{b},{low[i]:.1f}" if i < 500 else f"{i},{b},")
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.warns(DatasetWarning, match="1 empty or non-numeric cells inside segments were interpolated"):
        ds = load_ai4pain(tmp_path, partitions=["train"], modalities=["EDA"], segment_s=2.0)
    assert ds.info["counts"]["unnamed (index) columns ignored"] == 1
    got = {t.trial: t.signals["EDA"] for t in ds.trials}
    np.testing.assert_allclose(got["7_LOW_1"], low)  # trailing padding trimmed
    np.testing.assert_allclose(got["7_Baseline#1"], base[:200])  # the gap at 3.3 s filled linearly
    assert [got[f"7_Baseline#{j}"][0] for j in range(1, 7)] == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]


def test_zip_debris_and_the_wrapper_search(ai4pain_2025, tmp_path_factory):
    root, base, _ = ai4pain_2025
    n = len(load_ai4pain(root).trials)
    # what a zip made on macOS and a download carry beside the data: __MACOSX/ with AppleDouble copies,
    # ._* and .DS_Store files in every folder, a README and a docs folder beside the wrapper
    junk = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \xff\xfe"
    for part in ("train", "validation", "test"):
        for folder in FOLDERS.values():
            d = base / part / folder
            (d / "._S1.csv").write_bytes(junk)
            (d / ".DS_Store").write_bytes(junk)
            mac = root / "__MACOSX" / base.name / part / folder
            mac.mkdir(parents=True, exist_ok=True)
            (mac / "._S1.csv").write_bytes(junk)
    (root / "README.txt").write_text("AI4Pain 2025\n")
    (root / "docs").mkdir()
    assert len(load_ai4pain(root).trials) == n
    # nested two levels down, beside other folders
    outer = tmp_path_factory.mktemp("download")
    (outer / "extra").mkdir()
    shutil.move(str(root), str(outer / "unzipped"))
    assert len(load_ai4pain(outer).trials) == n
    # two candidate roots at the same depth: refused, naming both
    shutil.copytree(outer / "unzipped" / base.name, outer / "extra" / "copy")
    with pytest.raises(DatasetError, match=r"several folders .*hold partition folders.*unzipped.*point --root"):
        load_ai4pain(outer)
    # deeper than max_depth: not found, with the fix
    top = tmp_path_factory.mktemp("deep")
    (top / "a" / "b" / "c" / "d").mkdir(parents=True)
    shutil.move(str(outer / "extra" / "copy"), str(top / "a" / "b" / "c" / "d" / "copy"))
    with pytest.raises(DatasetError, match=r"no train/ validation/ test/ folders .* 3 levels"):
        load_ai4pain(top)


def test_modalities_in_any_case_or_alias(tmp_path):
    from tiny_biomoe.data.dataset import resolve_modalities

    assert resolve_modalities(["eda", "ppg", "spo2", "Resp", "EDA", "nope"], ["EDA", "BVP", "RESP", "SpO2"]) == \
        ["EDA", "BVP", "SpO2", "RESP", "EDA", "nope"]
    ds = make_synthetic_pain(n_subjects=2, trials_per_class=1, seed=0, partitions=None)
    assert ds.select(["eda", "ppg"]).modalities == ["EDA", "BVP"]
    with pytest.raises(DatasetError, match=r"not found; available"):
        ds.select(["ecg"])
    root = write_ai4pain_layout(make_synthetic_pain(n_subjects=3, trials_per_class=1, seed=1), tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert set(load_ai4pain(root, modalities=["eda", "bvp"]).modalities) == {"EDA", "BVP"}
    with pytest.raises(DatasetError, match="unknown modalities"):
        load_ai4pain(tmp_path, modalities=["ecg"])
