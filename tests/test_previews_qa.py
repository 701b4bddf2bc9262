"""QA sheet of render_file: the signal on a time axis above the windows' images."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np

from tiny_biomoe.previews import qa_sheet, render_file, render_signal


def test_render_file_writes_a_qa_sheet(tmp_path):
    t = np.arange(0, 35, 0.05)
    csv = tmp_path / "rec.csv"
    np.savetxt(csv, np.c_[t, 2 + 0.3 * np.sin(2 * np.pi * 0.1 * t)], delimiter=",", header="time,EDA", comments="")
    paths = render_file(csv, "eda", tmp_path / "prev", kinds=["waveform"])
    qa = tmp_path / "prev" / "qa_sheet.png"
    assert qa in paths and qa.is_file()
    img = mpimg.imread(qa)
    assert img.ndim == 3 and img.shape[1] >= 600 and img.std() > 0.05  # drawn, not blank
    assert [p.name for p in sorted((tmp_path / "prev" / "waveform").iterdir())] == [
        "window_0000_00000.00s.png", "window_0001_00010.00s.png", "window_0002_00020.00s.png"]


def test_qa_sheet_shows_at_most_max_windows(tmp_path):
    x = np.sin(np.arange(3000) / 30.0)
    wins, images = render_signal(x, sampling_rate=50.0, modality="bvp", kinds=["waveform", "spectrogram_psd"], window=5.0,
                                 preprocess=False)
    a = mpimg.imread(qa_sheet(x, 50.0, wins, images, tmp_path / "a.png", max_windows=2))
    b = mpimg.imread(qa_sheet(x, 50.0, wins, images, tmp_path / "b.png", max_windows=6))
    assert len(wins) == 12 and b.shape[1] > a.shape[1]  # wider: more image columns
    assert a.shape[0] == b.shape[0]  # the same rows: signal + two kinds
