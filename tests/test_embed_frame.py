"""EmbeddingResult.to_frame / repr and TinyBioMoE.embed (gradient-free NumPy embeddings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tiny_biomoe.embed import EmbeddingResult


def _result():
    rng = np.random.default_rng(0)
    emb = {"waveform": rng.normal(size=(3, 192)).astype(np.float32), "spectrogram_psd": rng.normal(size=(3, 192)).astype(np.float32)}
    md = {"source": "rec.csv", "channel": "EDA", "modality": "eda", "window_s": 10.0, "weights": {"source": "w.pth"}}
    return EmbeddingResult(emb, np.array([0.0, 10.0, 20.0]), md)


def test_to_frame_wide_and_long():
    res = _result()
    wide = res.to_frame()
    assert wide.shape == (3, 6 + 2 * 192)
    assert list(wide.columns[:6]) == ["window", "start_s", "end_s", "source", "channel", "modality"]
    np.testing.assert_array_equal(wide["end_s"], [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(wide.filter(like="spectrogram_psd_e").to_numpy(), res.embeddings["spectrogram_psd"])
    long = res.to_frame(wide=False, t0="2024-05-01 10:00:00")
    assert long.shape == (6, 8 + 192) and list(long["kind"]) == ["waveform"] * 3 + ["spectrogram_psd"] * 3
    assert long["time"].iloc[1] == pd.Timestamp("2024-05-01 10:00:10")
    got = long[long.kind == "waveform"][[f"e{i}" for i in range(192)]].to_numpy()
    np.testing.assert_array_equal(got, res.embeddings["waveform"])


def test_repr_is_one_short_line():
    r = repr(_result())
    assert "\n" not in r and len(r) < 200
    assert r.startswith("EmbeddingResult(3 windows x 192, kinds=['waveform', 'spectrogram_psd'], modality='eda'")


def test_model_embed_is_gradient_free_numpy(reference_model):
    imgs = torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    reference_model.train()
    try:
        out = reference_model.embed(imgs, batch_size=2)
        assert reference_model.training  # state restored
    finally:
        reference_model.eval()
    assert isinstance(out, np.ndarray) and out.shape == (3, 192) and out.dtype == np.float32
    with torch.no_grad():
        ref = reference_model(imgs).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reference_model.embed(imgs[0].numpy()), ref[:1], rtol=1e-5, atol=1e-5)
