"""embed_windows / embed_signal / EmbeddingResult with the reference model (few images: ~0.1 s each)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import signal as sps

from tiny_biomoe.embed import EmbeddingResult, embed_signal, embed_windows, load_embeddings
from tiny_biomoe.errors import InputError, SignalError
from tiny_biomoe.representations import render
from tiny_biomoe.signals import read_signal

FS = 20.0


def _eda(seconds=25.0, seed=0):
    t = np.arange(int(seconds * FS)) / FS
    rng = np.random.default_rng(seed)
    return 2.0 + 0.05 * t + 0.3 * np.exp(-((t - 6) / 1.5) ** 2) + 0.01 * rng.normal(size=t.size)


@pytest.fixture(scope="module")
def result(reference_model):
    return embed_signal(_eda(), sampling_rate=FS, modality="gsr", kinds=("waveform", "spectrogram_psd"),
                        model=reference_model, batch_size=1)


def test_embed_signal_equals_manual_pipeline(result, reference_model):
    x = _eda()
    sos = sps.butter(4, 5.0, btype="lowpass", fs=FS, output="sos")  # EDA default: low-pass 5 Hz
    settle = int(np.ceil(np.log(1e-3) / np.log(np.abs(sps.sos2zpk(sos)[1]).max())))  # mirror-padded edges
    y = sps.sosfiltfilt(sos, x, padtype="even", padlen=min(settle, x.size - 1))
    y = sps.resample_poly(y, 5, 1, padtype="line")  # filtered first, then to EDA's model rate, 100 Hz
    wins = np.stack([y[0:1000], y[1000:2000]])  # 10 s windows, no overlap; 25 s -> 2 windows
    np.testing.assert_array_equal(result.starts, [0.0, 10.0])
    for kind in ("waveform", "spectrogram_psd"):
        with torch.inference_mode():
            expect = reference_model(render(wins, kind=kind, sampling_rate=100.0, modality="eda")).numpy()
        got = result.embeddings[kind]
        assert got.shape == (2, 192) and got.dtype == np.float32
        np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    assert not np.allclose(result.embeddings["waveform"], result.embeddings["spectrogram_psd"])
    np.testing.assert_allclose(result.fused(), result.embeddings["waveform"] + result.embeddings["spectrogram_psd"])


def test_metadata_records_how_embeddings_were_made(result):
    md = result.metadata
    assert md["modality"] == "eda" and md["sampling_rate"] == 100.0 and md["original_sampling_rate"] == FS
    assert md["conditioning"] == {"order": ["gaps", "filter", "resample", "windows"], "version": 2}
    assert md["signal"]["resample"] == "model" and md["signal"]["model_rate_hz"] == 100.0
    assert (md["window_s"], md["stride_s"], md["n_windows"]) == (10.0, 10.0, 2)
    assert md["kinds"]["spectrogram_psd"]["version"] == "spectrogram_psd/3"
    assert md["kinds"]["spectrogram_psd"]["params"]["nfft"] == 400  # 4 s at the model rate, 100 Hz
    assert md["quality"]["counts"] == {"windows": 2, "flagged": 0, "flatline": 0, "clipped": 0, "low_sqi": 0}
    assert set(result.quality) >= {"flatline", "clipped", "low_sqi", "sqi"} and not result.flagged.any()
    assert md["preprocessing"]["filter"]["lowpass_hz"] == 5.0
    assert md["weights"]["source"].endswith("checkpoint.pt")
    assert md["weights"]["sha256"] == hashlib.sha256(Path(md["weights"]["source"]).read_bytes()).hexdigest()
    assert md["package_version"] and md["embed_dim"] == 192
    json.dumps(md)  # serialisable


def test_embed_windows_batching_does_not_change_results(result, reference_model, monkeypatch):
    import tiny_biomoe.model.weights as weights

    def no_hashing(path):
        raise AssertionError("embed_windows returns no weights description; it must not hash the weights file")

    monkeypatch.setattr(weights, "file_sha256", no_hashing)  # the pipeline calls embed_windows once per block
    wins = np.random.default_rng(1).normal(size=(3, 200)).cumsum(axis=1)
    a = embed_windows(wins, sampling_rate=FS, modality="eda", kinds="waveform", model=reference_model, batch_size=3)
    b = embed_windows(wins, sampling_rate=FS, modality="eda", kinds=["waveform"], model=reference_model, batch_size=2,
                      device="cpu")
    assert list(a) == ["waveform"] and a["waveform"].shape == (3, 192)
    np.testing.assert_allclose(a["waveform"], b["waveform"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_save_load_roundtrip(result, tmp_path, suffix):
    path = result.save(tmp_path / f"emb{suffix}")
    back = load_embeddings(path)
    assert isinstance(back, EmbeddingResult) and back.kinds == result.kinds
    for k in result.kinds:
        np.testing.assert_array_equal(back.embeddings[k], result.embeddings[k])
    np.testing.assert_array_equal(back.starts, result.starts)
    assert back.metadata == json.loads(json.dumps(result.metadata))
    assert set(back.quality) == set(result.quality)  # per-window flags travel with the embeddings
    for k, v in result.quality.items():
        np.testing.assert_array_equal(back.quality[k], v)
        assert back.quality[k].dtype == v.dtype
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"emb{suffix}"]  # no temp files left


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_loading_a_file_that_is_not_ours_is_an_input_error(tmp_path, suffix):
    import pyarrow as pa
    import pyarrow.parquet as pq

    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"not an embedding file")
    with pytest.raises(InputError, match="not an embedding file"):
        load_embeddings(garbage)
    if suffix == ".parquet":  # a real Parquet file with broken metadata
        bad_meta = tmp_path / "bad_meta.parquet"
        pq.write_table(pa.table({"start_s": [0.0]}).replace_schema_metadata({"tiny_biomoe": "{oops"}), bad_meta)
        with pytest.raises(InputError, match="not an embedding file"):
            load_embeddings(bad_meta)


def test_failed_save_leaves_nothing(result, tmp_path, monkeypatch):
    with pytest.raises(InputError, match=".npz or .parquet"):
        result.save(tmp_path / "emb.csv")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(RuntimeError):
        result.save(tmp_path / "emb.npz")
    assert list(tmp_path.iterdir()) == []


def test_recording_input_and_errors(reference_model):
    rec = read_signal({"time_ignored": _eda(12, 1) * 0 + np.arange(240), "eda": _eda(12, 1)}, sampling_rate=FS)
    res = embed_signal(rec, sampling_rate=None, modality="eda", kinds="waveform", model=reference_model, window=5.0,
                       stride=5.0,
                       max_windows=1)
    assert res.metadata["channel"] == "eda" and res.metadata["source"] == "<dict>" and len(res) == 1
    with pytest.raises(SignalError, match="shorter than one window"):
        embed_signal(_eda(5), sampling_rate=FS, modality="eda", model=reference_model)
    with pytest.raises(InputError, match="unknown representation kind"):
        embed_signal(_eda(), sampling_rate=FS, modality="eda", kinds=["waveform", "nope"], model=reference_model)
    with pytest.raises(SignalError, match="unknown modality"):
        embed_signal(_eda(), sampling_rate=FS, modality="skin", model=reference_model)
    with pytest.raises(InputError, match="batch_size"):
        embed_windows(np.ones((1, 100)).cumsum(axis=1), sampling_rate=FS, modality="eda", kinds="waveform",
                      model=reference_model, batch_size=0)
