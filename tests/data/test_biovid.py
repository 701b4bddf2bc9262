"""BioVid part A from the database's own folder: biosignals_filtered/<subject>/<subject>-<class>-<nr>_bio.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tiny_biomoe.data import DatasetWarning, load_biovid
from tiny_biomoe.data.biovid import detect_time_unit
from tiny_biomoe.data.load import load_dataset
from tiny_biomoe.errors import DatasetError
from tiny_biomoe.pain.pipeline import trial_windows

N = 2816  # 5.5 s at 512 Hz


def _write_trial(path, rng, *, time_factor=1e6, offset=0.0, facial=False, n=N):
    """Tab-separated as distributed; the time column in whole microseconds (rounded, as in the files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = {"time": np.round(offset + np.arange(n) * time_factor / 512).astype(np.int64 if time_factor >= 1e6 else float),
            "gsr": rng.normal(size=n), "ecg": rng.normal(size=n), "emg_trapezius": rng.normal(size=n)}
    if facial:
        cols |= {"emg_corrugator": rng.normal(size=n), "emg_zygomaticus": rng.normal(size=n)}
    pd.DataFrame(cols).to_csv(path, sep="\t", index=False)
    return cols


@pytest.fixture
def biovid(tmp_path):
    rng = np.random.default_rng(0)
    base = tmp_path / "PartA" / "biosignals_filtered"
    written = {}
    for i, subj in enumerate(("071309_w_21", "080314_w_25")):
        for cls in ("BL1", "PA1", "PA4"):
            for k in (1, 2):
                p = base / subj / f"{subj}-{cls}-{k:03d}_bio.csv"
                written[(subj, f"{cls}-{k:03d}")] = _write_trial(p, rng, offset=1.234e9 * i, facial=(i == 1))
    return tmp_path, base, written


def test_biovid_as_distributed(biovid):
    root, base, written = biovid
    ds = load_biovid(root / "PartA")  # the database folder: biosignals_filtered/ is found
    assert ds.classes == ["BL1", "PA1", "PA2", "PA3", "PA4"]
    assert len(ds.trials) == 12 and ds.modalities == ["EDA", "ECG", "EMG"]
    assert ds.info["time_unit"] == {"us": 12}  # detected from the time column, not assumed
    assert all(r == 512.0 for t in ds.trials for r in t.sampling_rates.values())
    for t in ds.trials:
        w = written[(t.subject, t.trial)]
        np.testing.assert_allclose(t.signals["EDA"], w["gsr"])
        np.testing.assert_allclose(t.signals["EMG"], w["emg_trapezius"])
    assert ds.window_s == 5.5
    s = ds.summary()
    assert s["trials_per_class"] == {"BL1": 4, "PA1": 4, "PA4": 4}
    assert s["partitions"]["all"]["duration_s_per_class"]["PA4"] == {"min": 5.5, "median": 5.5, "max": 5.5}
    assert "emg_corrugator" in ds.info["also_in_files"] and "window: 5.5 s" in ds.summary_text()
    # the windows follow the 5.5 s trial: nothing is padded
    w, fs, info = trial_windows(ds.select(["ECG"]), "ECG")  # at ECG's model rate, 250 Hz
    assert w.shape == (12, 1375) and fs == 250.0 and info["window_s"] == 5.5 and info["original_rates"] == [512.0]
    w, fs, info = trial_windows(ds.select(["ECG"]), "ECG", resample="native")  # the whole 5.5 s trial at 512 Hz
    assert w.shape == (12, N) and fs == 512.0 and info["window_s"] == 5.5 and info["resampled"] == 0
    assert len(load_biovid(base).trials) == 12  # biosignals_filtered/ itself
    with pytest.warns(DatasetWarning, match="left out by the class selection"):
        binary = load_biovid(root, classes=("BL1", "PA4"))
    assert {t.label for t in binary.trials} == {"BL1", "PA4"} and len(binary.trials) == 8
    with pytest.warns(DatasetWarning, match="6 files have none of the columns"):  # the release without facial EMG
        facial = load_biovid(root, modalities=["EMG_corrugator", "EMG_zygomaticus"])
    assert len(facial.trials) == 6 and facial.modalities == ["EMG_corrugator", "EMG_zygomaticus"]
    with pytest.raises(DatasetError, match="unknown"):
        load_biovid(root, classes=("BL1", "PA9"))


def test_time_unit_detection():
    t = np.arange(2816)
    for factor, unit in ((1.0, "s"), (1e3, "ms"), (1e6, "us"), (1e9, "ns")):
        u, fs = detect_time_unit(np.round(5 + t * factor / 512, 6), 512.0)
        assert u == unit and fs == pytest.approx(512.0, rel=1e-6)
    u, fs = detect_time_unit(np.round(t * 1e6 / 256), 512.0)  # a file at 256 Hz is found to be 256 Hz
    assert u == "us" and fs == pytest.approx(256.0)
    with pytest.raises(DatasetError, match="goes backwards"):
        detect_time_unit(np.array([0.0, 2.0, 1.0, 3.0]))


def test_biovid_millisecond_time_no_time_column_and_errors(tmp_path):
    rng = np.random.default_rng(1)
    _write_trial(tmp_path / "s1" / "s1-BL1-001_bio.csv", rng, time_factor=1e3)
    _write_trial(tmp_path / "s1" / "s1-PA4-001_bio.csv", rng, time_factor=1e3)
    ds = load_biovid(tmp_path)
    assert ds.info["time_unit"] == {"ms": 2} and ds.trials[0].sampling_rates["ECG"] == 512.0
    # no time column: the nominal rate
    pd.DataFrame({"gsr": rng.normal(size=N)}).to_csv(tmp_path / "s1" / "s1-PA1-001_bio.csv", sep="\t", index=False)
    with pytest.warns(DatasetWarning, match="columns missing"):
        ds = load_biovid(tmp_path, sampling_rate=512.0)
    assert len(ds.trials) == 3
    # a shorter trial: the window follows it (never padded), with a warning
    _write_trial(tmp_path / "s1" / "s1-PA2-001_bio.csv", rng, n=2700)
    with pytest.warns(DatasetWarning, match="shortest trial"):
        ds = load_biovid(tmp_path)
    assert ds.window_s == 5.27
    with pytest.raises(DatasetError, match="no files under"):
        load_biovid(tmp_path / "s1", file_pattern=r"^(?P<subject>x)-(?P<label>BL1)-(?P<trial>\d+)\.csv$")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("biovid", root=tmp_path / "nope")


def test_biovid_gaps_are_interpolated_and_counted(tmp_path):
    rng = np.random.default_rng(3)
    p = tmp_path / "biosignals_filtered" / "s2" / "s2-PA3-007_bio.csv"
    cols = _write_trial(p, rng)
    lines = p.read_text().splitlines()
    f = lines[11].split("\t")
    f[2] = ""  # one empty ecg cell (sample 10)
    lines[11] = "\t".join(f)
    p.write_text("\n".join(lines) + "\n")
    with pytest.warns(DatasetWarning, match="1 empty or non-numeric values in 1 files were interpolated"):
        ds = load_biovid(tmp_path)
    ecg = ds.trials[0].signals["ECG"]
    assert ecg[10] == pytest.approx((cols["ecg"][9] + cols["ecg"][11]) / 2)
    np.testing.assert_allclose(np.delete(ecg, 10), np.delete(cols["ecg"], 10))
    assert ds.trials[0].trial == "PA3-007" and ds.trials[0].label == "PA3"


@pytest.mark.usefixtures("one_torch_thread")
def test_biovid_evaluate_cli_uses_5_5_s_windows(biovid, reference_checkpoint, tmp_path, capsys):
    import json

    from tiny_biomoe.cli import main

    root, _, _ = biovid
    rc = main(["evaluate", "--dataset", "biovid", "--root", str(root / "PartA"), "--classes", "BL1", "PA4",
               "--modalities", "EDA", "--kinds", "waveform", "--levels", "single", "--head", "logreg", "--protocol", "loso",
               "--no-cache", "--device", "cpu", "--weights", str(reference_checkpoint), "--out", str(tmp_path / "rep")])
    assert rc == 0
    assert "window: 5.5 s" in capsys.readouterr().out
    res = json.loads((tmp_path / "rep" / "results.json").read_text())
    w = res["windows"]["EDA"]
    assert (w["window_s"], w["samples"], w["sampling_rate"]) == (5.5, 550, 100.0)  # the trial at EDA's model rate, not 10 s
    assert "published_comparison" not in res and len(res["folds"]) == 2


def test_biovid_facial_emg_channels(tmp_path):
    """A release with all six columns: each facial channel is that column's samples, conditioned as EMG."""
    from tiny_biomoe.signals import get_modality

    rng = np.random.default_rng(7)
    base = tmp_path / "biosignals_filtered"
    written = {}
    for subj in ("071309_w_21", "080314_w_25"):
        for cls in ("BL1", "PA4"):
            p = base / subj / f"{subj}-{cls}-001_bio.csv"
            written[(subj, f"{cls}-001")] = _write_trial(p, rng, facial=True)
    header = (base / "071309_w_21" / "071309_w_21-BL1-001_bio.csv").read_text().splitlines()[0]
    assert header.split("\t") == ["time", "gsr", "ecg", "emg_trapezius", "emg_corrugator", "emg_zygomaticus"]
    ds = load_biovid(tmp_path)  # default: EMG stays the trapezius
    assert ds.modalities == ["EDA", "ECG", "EMG"]
    for mod in ("EMG_corrugator", "EMG_zygomaticus"):
        assert get_modality(mod).name == "emg"  # the EMG conditioning defaults
        col = mod.lower()
        one = load_biovid(tmp_path, modalities=["EMG", mod])
        assert one.modalities == ["EMG", mod] and len(one.trials) == 4
        for t in one.trials:
            w = written[(t.subject, t.trial)]
            np.testing.assert_array_equal(t.signals[mod], w[col])
            np.testing.assert_array_equal(t.signals["EMG"], w["emg_trapezius"])
            assert t.sampling_rates[mod] == 512.0
        # after conditioning: the same windows as that column read under the EMG modality itself
        got, fs, info = trial_windows(one.select([mod]), mod)
        ref, fs_ref, _ = trial_windows(load_biovid(tmp_path, columns={"EMG": [col]}), "EMG")
        trap, _, _ = trial_windows(one.select(["EMG"]), "EMG")
        assert fs == fs_ref == get_modality("emg").model_rate_hz and info["window_s"] == 5.5
        np.testing.assert_array_equal(got, ref)
        assert not np.allclose(got, trap)  # the facial column, not the trapezius
        assert info["preprocessing"]["modality"] == "emg"


def test_biovid_release_without_facial_emg(tmp_path):
    """Asking for a facial channel in a release without it names the missing column."""
    rng = np.random.default_rng(8)
    for cls in ("BL1", "PA4"):
        _write_trial(tmp_path / "old" / "s1" / f"s1-{cls}-001_bio.csv", rng)  # gsr, ecg, emg_trapezius only
    with pytest.raises(DatasetError, match=r"no file under .* has the column\(s\) \{'EMG_zygomaticus': "
                                           r"\['emg_zygomaticus'\]\}.*Leave EMG_zygomaticus out of modalities="):
        load_biovid(tmp_path / "old", modalities=["EDA", "EMG_zygomaticus"])
    with pytest.raises(DatasetError, match=r"emg_corrugator"):
        load_dataset("biovid", root=tmp_path / "old", modalities=["EMG_corrugator"])
    assert load_biovid(tmp_path / "old", modalities=["EDA", "EMG"]).modalities == ["EDA", "EMG"]
