"""In-memory inputs: pandas, NeuroKit2 frames and MNE Raw give the same channels and rates as arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tiny_biomoe.errors import InputError, SignalError
from tiny_biomoe.signals import read_signal
from tiny_biomoe.signals.inmemory import as_recording

FS = 50.0


def _eda(n=1250, seed=0):
    t = np.arange(n) / FS
    return 2 + 0.2 * np.sin(2 * np.pi * 0.05 * t) + 0.01 * np.random.default_rng(seed).normal(size=n)


def test_series_rate_from_datetime_and_timedelta_index():
    x = _eda()
    s = pd.Series(x, index=pd.date_range("2024-05-01 10:00", periods=x.size, freq="20ms"), name="EDA")
    rec = read_signal(s)
    assert rec.channels == ["EDA"] and rec.sampling_rate == FS and rec.info["sampling_rate_from"] == "index"
    np.testing.assert_array_equal(rec.signals["EDA"], x)
    td = pd.Series(x, index=pd.to_timedelta(np.arange(x.size) * 4, unit="ms"))  # 250 Hz
    assert as_recording(td).sampling_rate == 250.0


def test_dataframe_time_column_columns_and_errors():
    x = _eda()
    df = pd.DataFrame({"time": np.arange(x.size) / FS, "EDA": x, "note": ["a"] * x.size, "BVP": -x})
    rec = read_signal(df)
    assert rec.channels == ["EDA", "BVP"] and rec.sampling_rate == FS  # time and text columns left out
    assert read_signal(df, columns="eda").channels == ["EDA"]  # case-insensitive
    stamps = pd.DataFrame({"ts": pd.date_range("2024", periods=x.size, freq="10ms"), "v": x})
    assert as_recording(stamps, time_column="ts").sampling_rate == 100.0
    with pytest.raises(SignalError, match="sampling_rate="):
        read_signal(pd.DataFrame({"EDA": x}))
    assert read_signal(pd.DataFrame({"EDA": x}), sampling_rate=FS).sampling_rate == FS
    with pytest.raises(SignalError, match="no column 'PPG'"):
        read_signal(df, columns="PPG")
    with pytest.raises(SignalError, match="not numeric"):
        read_signal(df, columns="note")


def test_neurokit_frame_picks_clean_column_and_info_rate():
    nk = pytest.importorskip("neurokit2")
    raw = nk.eda_simulate(duration=20, sampling_rate=int(FS), random_state=0)
    signals, info = nk.eda_process(raw, sampling_rate=int(FS))
    rec = as_recording((signals, info), modality="gsr")  # alias of eda -> EDA_Clean
    assert rec.channels == ["EDA_Clean"] and rec.sampling_rate == FS
    np.testing.assert_array_equal(rec.signals["EDA_Clean"], signals["EDA_Clean"].to_numpy())
    assert as_recording(signals, sampling_rate=FS, column="EDA_Phasic").channels == ["EDA_Phasic"]


def test_mne_raw_by_name_and_type():
    mne = pytest.importorskip("mne")
    x = _eda()
    info = mne.create_info(["GSR", "ECG", "STI"], FS, ["gsr", "ecg", "stim"])
    raw = mne.io.RawArray(np.vstack([x, 2 * x, np.zeros_like(x)]), info, verbose=False)
    rec = read_signal(raw, columns="gsr")
    assert rec.channels == ["GSR"] and rec.sampling_rate == FS
    np.testing.assert_allclose(rec.signals["GSR"], x)
    by_type = as_recording(raw, picks="ecg")
    assert by_type.channels == ["ECG"] and by_type.info["channel_types"] == {"ECG": "ecg"}
    np.testing.assert_allclose(by_type.signals["ECG"], 2 * x)
    with pytest.raises(SignalError, match="neither a channel name nor a channel type"):
        as_recording(raw, picks="eeg")


def test_wrong_types_say_how_to_convert():
    with pytest.raises(SignalError, match="np.asarray"):
        read_signal(object())
    torch = pytest.importorskip("torch")
    with pytest.raises(SignalError, match="numpy"):
        as_recording(torch.zeros(3))


def test_embed_signal_takes_dataframe_and_raw_like_an_array(reference_model):
    from tiny_biomoe.embed import embed_signal

    x = _eda(1000)
    ref = embed_signal(x, sampling_rate=FS, modality="eda", kinds="waveform", model=reference_model)
    df = pd.DataFrame({"EDA": x, "other": -x}, index=pd.timedelta_range(0, periods=x.size, freq="20ms"))
    got = embed_signal(df, sampling_rate=None, modality="eda", kinds="waveform", model=reference_model, column="EDA")
    np.testing.assert_allclose(got.embeddings["waveform"], ref.embeddings["waveform"], rtol=1e-5, atol=1e-6)
    assert got.metadata["channel"] == "EDA" and got.metadata["source"] == "<DataFrame>"
    mne = pytest.importorskip("mne")
    raw = mne.io.RawArray(x[None], mne.create_info(["EDA"], FS, ["misc"]), verbose=False)
    got = embed_signal(raw, sampling_rate=None, modality="eda", kinds="waveform", model=reference_model)
    np.testing.assert_allclose(got.embeddings["waveform"], ref.embeddings["waveform"], rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="embed_file"):
        embed_signal("rec.csv", sampling_rate=FS, modality="eda", model=reference_model)


def test_render_signal_takes_dataframe_neurokit_and_raw_like_an_array():
    import torch

    from tiny_biomoe.previews import render_signal

    x = _eda(1000)
    wins, ref = render_signal(x, sampling_rate=FS, modality="eda", kinds="waveform")
    df = pd.DataFrame({"EDA": x, "other": -x}, index=pd.timedelta_range(0, periods=x.size, freq="20ms"))
    nk_frame = pd.DataFrame({"EDA_Raw": -x, "EDA_Clean": x})
    mne = pytest.importorskip("mne")
    raw = mne.io.RawArray(np.stack([-x, x]), mne.create_info(["other", "EDA"], FS, ["misc", "misc"]), verbose=False)
    for obj, kw in ((df, {"column": "EDA"}), ((nk_frame, {"sampling_rate": FS}), {}), (raw, {"column": "EDA"}),
                    (read_signal(df[["EDA"]]), {})):
        w, got = render_signal(obj, modality="eda", kinds="waveform", **kw)
        assert w.sampling_rate == wins.sampling_rate and np.array_equal(w.starts, wins.starts)
        assert torch.equal(got["waveform"], ref["waveform"])
    w, got = render_signal(df, modality="eda", kinds="waveform")  # no column: the one named like the modality
    assert torch.equal(got["waveform"], ref["waveform"])
    with pytest.raises(SignalError, match="several channels"):
        render_signal(df.rename(columns={"EDA": "a", "other": "b"}), modality="eda", kinds="waveform")
    with pytest.raises(InputError, match="render_file"):
        render_signal("rec.csv", sampling_rate=FS, modality="eda")
    with pytest.warns(FutureWarning, match="sampling_rate=, modality="):  # the old positional form, for one release
        _, old = render_signal(x, FS, "eda", "waveform")
    assert torch.equal(old["waveform"], ref["waveform"])
