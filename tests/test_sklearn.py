"""BioMoEEmbedder: equals the manual pipeline, pools windows, caches by content across CV folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from tiny_biomoe.embed import embed_signal, embed_windows
from tiny_biomoe.errors import InputError, SignalError
from tiny_biomoe.signals import preprocess
from tiny_biomoe.sklearn import BioMoEEmbedder, cache_info, clear_memory_cache

FS = 20.0


def _trials(n=4, length=200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / FS
    return np.stack([2 + 0.2 * np.sin(2 * np.pi * (0.05 + 0.02 * i) * t) + 0.02 * rng.normal(size=length).cumsum()
                     for i in range(n)])


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_memory_cache()
    yield
    clear_memory_cache()


def test_transform_equals_embed_signal_per_trial(reference_model):
    X = _trials()
    emb = BioMoEEmbedder(sampling_rate=FS, modality="eda", weights=reference_model).fit(X)
    Z = emb.transform(X)
    assert Z.shape == (4, 384) and Z.dtype == np.float32
    for row, x in zip(Z, X):  # each 10 s trial is one window of embed_signal (same conditioning: filter, 100 Hz)
        res = embed_signal(x, sampling_rate=FS, modality="eda", kinds=("waveform", "spectrogram_psd"),
                           model=reference_model, window=10.0)
        assert len(res) == 1 and res.metadata["sampling_rate"] == 100.0
        np.testing.assert_allclose(row, np.concatenate([res.embeddings["waveform"][0], res.embeddings["spectrogram_psd"][0]]),
                                   rtol=1e-4, atol=1e-5)
    native = clone(emb).set_params(resample="native", kinds="waveform").fit(X).transform(X[:2])
    wins = np.stack([preprocess(x, sampling_rate=FS,
                                modality="eda") for x in X[:2]])  # native rate: the filtered trial itself
    np.testing.assert_allclose(native, embed_windows(wins, sampling_rate=FS, modality="eda", kinds="waveform",
                                                     model=reference_model)["waveform"],
                               rtol=1e-4, atol=1e-5)
    names = emb.get_feature_names_out()
    assert names[0] == "eda_waveform_e0" and names[-1] == "eda_spectrogram_psd_e191" and len(names) == 384
    added = clone(emb).set_params(fusion="add").fit(X).transform(X)
    np.testing.assert_allclose(added, Z[:, :192] + Z[:, 192:], rtol=1e-5, atol=1e-5)
    assert clone(emb).set_params(fusion="mean").fit(X).get_feature_names_out()[0] == "eda_mean_e0"


def test_window_pooling_matches_embed_signal_and_takes_ragged_trials(reference_model):
    X = _trials(2, 400)
    ragged = [X[0], X[1][:300]]
    emb = BioMoEEmbedder(sampling_rate=FS, modality="eda", kinds="waveform", window=5.0, weights=reference_model)
    Z = emb.fit_transform(ragged)
    for row, x in zip(Z, ragged):
        res = embed_signal(x, sampling_rate=FS, modality="eda", kinds="waveform", model=reference_model, window=5.0)
        assert len(res) == x.size // 100
        np.testing.assert_allclose(row, res.embeddings["waveform"].mean(axis=0), rtol=1e-4, atol=1e-5)
    zmax = clone(emb).set_params(pooling="max").fit(ragged).transform(ragged)
    res = embed_signal(ragged[1], sampling_rate=FS, modality="eda", kinds="waveform", model=reference_model, window=5.0)
    np.testing.assert_allclose(zmax[1], res.embeddings["waveform"].max(axis=0), rtol=1e-4, atol=1e-5)


def test_cross_validation_embeds_every_trial_once(reference_model):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X = _trials(12, 200, seed=3)
    X[6:] += np.sin(np.arange(200) / 2.0)  # the second class has a fast component
    y = np.repeat([0, 1], 6)
    groups = np.tile(np.arange(6), 2)
    pipe = Pipeline([("embed", BioMoEEmbedder(sampling_rate=FS, modality="eda", kinds="waveform", weights=reference_model)),
                     ("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    scores = cross_val_score(pipe, X, y, groups=groups, cv=GroupKFold(n_splits=3))
    assert scores.shape == (3,) and np.all((0 <= scores) & (scores <= 1))
    info = cache_info()
    assert info["misses"] == 12  # each trial through the network once, over all folds and clones
    assert info["hits"] == 3 * 12 - 12  # every fold fits on 8 and scores 4 trials: 36 look-ups


def test_disk_cache_and_settings_in_key(reference_model, tmp_path):
    X = _trials(3)
    emb = BioMoEEmbedder(sampling_rate=FS, modality="eda", kinds="waveform", weights=reference_model, cache_dir=tmp_path)
    a = emb.fit_transform(X)
    assert len(list(tmp_path.rglob("*.npy"))) == 3
    clear_memory_cache()
    b = clone(emb).fit(X).transform(X)
    assert cache_info()["misses"] == 0 and np.array_equal(a, b)  # all three from disk
    c = clone(emb).set_params(preprocess=False).fit(X).transform(X)
    assert cache_info()["misses"] == 3 and not np.allclose(a, c)  # another setting, another key


def test_bad_settings_and_inputs(reference_model):
    X = _trials(2)
    with pytest.raises(InputError, match="sampling_rate"):
        BioMoEEmbedder(weights=reference_model).fit(X)
    with pytest.raises(InputError, match="pooling"):
        BioMoEEmbedder(sampling_rate=FS, pooling="median", weights=reference_model).fit(X)
    emb = BioMoEEmbedder(sampling_rate=FS, kinds="waveform", weights=reference_model).fit(X)
    with pytest.raises(ValueError, match="features"):
        emb.transform(X[:, :100])  # fitted on 200-sample trials
    with pytest.raises(SignalError, match="shorter than one window"):
        BioMoEEmbedder(sampling_rate=FS, kinds="waveform", window=20.0, weights=reference_model).fit_transform(X)
