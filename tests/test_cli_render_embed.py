"""`biomoe render` and `biomoe embed` end to end on a generated CSV with the reference checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiny_biomoe.cli import main
from tiny_biomoe.embed import load_embeddings

FS = 20.0


@pytest.fixture()
def csv_file(tmp_path) -> Path:
    t = np.arange(int(25 * FS)) / FS
    rng = np.random.default_rng(0)
    eda = 2 + 0.05 * t + 0.01 * rng.normal(size=t.size)
    bvp = np.sin(2 * np.pi * 1.1 * t)
    p = tmp_path / "recording.csv"
    np.savetxt(p, np.c_[t, eda, bvp], delimiter=",", header="time,eda,bvp", comments="", fmt="%.6f")
    return p


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_documented_command_via_console_script(tmp_path, reference_checkpoint):
    """`biomoe embed recording.csv --fs 100 --modality eda`, official weights found through the environment."""
    t = np.arange(2500) / 100.0
    np.savetxt(tmp_path / "recording.csv", 2 + 0.1 * np.sin(t / 3), delimiter=",", header="eda", comments="")
    exe = Path(sys.executable).with_name("biomoe")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tiny_biomoe.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "TINY_BIOMOE_WEIGHTS": str(reference_checkpoint),
           "TINY_BIOMOE_OFFLINE": "1"}
    proc = subprocess.run(cmd + ["embed", "recording.csv", "--fs", "100", "--modality", "eda"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "recording.eda.embeddings.npz"
    assert out.name in proc.stdout
    res = load_embeddings(out)
    assert res.kinds == ["waveform", "spectrogram_psd"] and res.embeddings["waveform"].shape == (2, 192)
    assert res.metadata["channel"] == "eda" and res.metadata["weights"]["source"] == str(reference_checkpoint)
    assert res.metadata["weights"]["sha256"]


def test_embed_options_and_parquet(csv_file, reference_checkpoint, tmp_path, capsys):
    out = tmp_path / "sub" / "bvp.parquet"
    rc = main(["embed", str(csv_file), "--modality", "ppg", "--column", "bvp", "--kinds", "psd,waveform",
               "--window", "8", "--stride", "4", "--max-windows", "2", "--batch-size", "2", "--device", "cpu",
               "--no-progress", "--resample", "10", "--weights", str(reference_checkpoint), "-o", str(out)])
    assert rc == 0
    assert str(out) in capsys.readouterr().out
    res = load_embeddings(out)
    assert res.kinds == ["psd", "waveform"] and len(res) == 2
    np.testing.assert_allclose(res.starts, [0.0, 4.0])
    assert res.metadata["original_sampling_rate"] == pytest.approx(FS)  # from the time column
    assert res.metadata["sampling_rate"] == 10.0
    assert res.metadata["kinds"]["psd"]["params"]["nperseg"] == 20  # BVP's 2 s segment at the new rate


def test_default_outputs_of_two_modalities_of_one_file_do_not_collide(csv_file, reference_checkpoint):
    """EDA then BVP from one two-channel file: two outputs named by the canonical modality (gsr -> eda),
    neither replacing the other, and no --force needed."""
    common = ["--kinds", "waveform", "--window", "8", "--max-windows", "1", "--no-progress", "--weights", str(reference_checkpoint)]
    assert main(["embed", str(csv_file), "--modality", "gsr", "--column", "eda", *common]) == 0
    assert main(["embed", str(csv_file), "--modality", "ppg", "--column", "bvp", *common]) == 0
    eda = load_embeddings(csv_file.with_name("recording.eda.embeddings.npz"))
    bvp = load_embeddings(csv_file.with_name("recording.bvp.embeddings.npz"))
    assert (eda.metadata["modality"], bvp.metadata["modality"]) == ("eda", "bvp")
    assert not np.allclose(eda.embeddings["waveform"], bvp.embeddings["waveform"])
    assert not csv_file.with_name("recording.embeddings.npz").exists()


def test_quiet_embed_draws_no_progress_bar(csv_file, reference_checkpoint, tmp_path, capsys):
    args = ["embed", str(csv_file), "--modality", "eda", "--column", "eda", "--kinds", "waveform", "--window", "5",
            "--weights", str(reference_checkpoint)]
    assert main(args + ["-o", str(tmp_path / "a.npz")]) == 0
    assert "embedding:" in capsys.readouterr().err  # the bar, by default
    assert main(["-q"] + args + ["-o", str(tmp_path / "b.npz")]) == 0
    assert "embedding:" not in capsys.readouterr().err


def test_render_writes_sheets_and_windows(csv_file, tmp_path, capsys):
    out = tmp_path / "previews"
    rc = main(["render", str(csv_file), "--modality", "eda", "--kinds", "waveform", "spectrogram_psd", "multi",
               "--max-windows", "2", "-o", str(out)])
    assert rc == 0
    files = _files(out)
    for kind in ("waveform", "spectrogram_psd", "multi"):
        assert f"{kind}_sheet.png" in files
        assert len([f for f in files if f.startswith(f"{kind}/") and f.endswith(".png")]) == 2
    img = np.asarray(Image.open(out / "waveform" / sorted(os.listdir(out / "waveform"))[0]))
    assert img.shape == (224, 224, 3) and img.min() < 50 and img.max() == 255
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left
    meta = json.loads((out / "previews.json").read_text())
    assert meta["settings"]["windows_rendered"] == meta["settings"]["windows_in_recording"] == 2
    assert meta["settings"]["render"]["waveform"]["kind"] == "waveform" and len(meta["starts_s"]) == 2
    assert "of all 2 windows" in capsys.readouterr().out
    # --force replaces the earlier previews whole: no image of the first run is left beside the new ones
    rc = main(["render", str(csv_file), "--modality", "eda", "--kinds", "waveform", "--max-windows", "1",
               "--window", "3", "-o", str(out), "--force"])
    assert rc == 0 and "the first 1 of 8 windows (--max-windows" in capsys.readouterr().out
    files = _files(out)
    assert "spectrogram_psd_sheet.png" not in files and len([f for f in files if f.startswith("waveform/")]) == 1
    # a folder of other files is never replaced, even with --force
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    rc = main(["render", str(csv_file), "--modality", "eda", "-o", str(mine), "--force"])
    assert rc == 2 and "holds other files" in capsys.readouterr().err and _files(mine) == ["notes.txt"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["embed", "{missing}", "--fs", "20", "--modality", "eda"], "does not exist"),
        (["embed", "{csv}", "--modality", "eeda"], "unknown modality"),
        (["embed", "{csv}", "--modality", "eda", "--kinds", "wave"], "unknown representation kind"),
        (["embed", "{csv}", "--modality", "eda", "--window", "60"], "shorter than one window"),
        (["embed", "{csv}", "--modality", "eda", "--fs", "-3"], "not plausible"),
        (["embed", "{csv}", "--modality", "eda", "-o", "{tmp}/out.txt"], ".npz or .parquet"),
        (["embed", "{csv}", "--modality", "eda", "--weights", "{tmp}/none.pth", "-o", "{tmp}/o.npz"], "does not exist"),
        (["embed", "{csv}", "--modality", "eda", "--column", "ecg"], "no column"),
        (["embed", "{nofs}", "--modality", "eda"], "sampling rate"),
        (["render", "{csv}", "--modality", "eda", "-o", "{csv}"], "not a folder"),
        (["render", "{csv}", "--modality", "multi", "-o", "{tmp}/r"], "unknown modality"),
    ],
)
def test_bad_input_exit_code_2_and_nothing_written(argv, message, csv_file, tmp_path, reference_checkpoint, capsys):
    nofs = tmp_path / "nofs.csv"
    np.savetxt(nofs, np.random.default_rng(0).normal(size=(600, 1)), delimiter=",")
    subs = {"{csv}": str(csv_file), "{missing}": str(tmp_path / "missing.csv"), "{tmp}": str(tmp_path),
            "{nofs}": str(nofs)}
    argv = [subs.get(a, a) for a in argv]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--weights" not in argv and argv[0] == "embed":
        argv += ["--weights", str(reference_checkpoint)]
    before = _files(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert _files(tmp_path) == before


def test_usage_errors_exit_2(csv_file, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["embed", str(csv_file)])  # --modality missing
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["biomoe embed: error: the following arguments are required: --modality",
                                "(run `biomoe embed -h` for help)"]  # the problem, not 15 lines of usage above it
