"""Registry, and properties every kind must have (shape, range, determinism, batch = loop)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiny_biomoe.errors import InputError
from tiny_biomoe.representations import (
    Kind,
    get_kind,
    list_kinds,
    register_kind,
    render,
    render_info,
    unregister_kind,
)

BUILTIN = ["multi", "psd", "spectrogram_angle", "spectrogram_phase", "spectrogram_psd", "waveform"]


def test_builtins_listed_and_unknown_kind_lists_them():
    assert set(BUILTIN) <= set(list_kinds())
    with pytest.raises(InputError, match="known kinds: .*waveform"):
        get_kind("wavefrom")
    info = render_info("spectrogram_psd", 100.0, 1000, "bvp")
    assert info["version"] == "spectrogram_psd/3" and info["params"]["nfft"] == 200


def test_register_custom_kind():
    @dataclasses.dataclass(frozen=True)
    class GreyParams:
        level: float = 0.5

    def grey(x, fs, p):
        return torch.full((x.shape[0], 3, 224, 224), p.level, device=x.device)

    kind = Kind("test_grey", "test_grey/1", GreyParams, grey)
    register_kind(kind)
    try:
        assert "test_grey" in list_kinds()
        img = render(np.zeros((2, 50)), kind="test_grey", sampling_rate=10.0, level=0.25)
        assert img.shape == (2, 3, 224, 224) and torch.all(img == 0.25)
        with pytest.raises(InputError, match="already registered"):
            register_kind(kind)
    finally:
        unregister_kind("test_grey")
    assert "test_grey" not in list_kinds()


@st.composite
def _batches(draw):
    n = draw(st.integers(1, 3))
    length = draw(st.integers(64, 1500))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, length)).cumsum(axis=1) * draw(st.sampled_from([1e-3, 1.0, 1e4])) + 95.0
    return x


@pytest.mark.parametrize("kind", BUILTIN)
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=_batches(), modality=st.sampled_from(["eda", "bvp", "spo2", "resp"]))
def test_kind_properties(kind, x, modality):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short windows shrink the STFT segment (warned)
        img = render(x, kind=kind, sampling_rate=50.0, modality=modality)
        again = render(x, kind=kind, sampling_rate=50.0, modality=modality)
        loop = torch.cat([render(x[i], kind=kind, sampling_rate=50.0, modality=modality) for i in range(x.shape[0])])
    assert img.shape == (x.shape[0], 3, 224, 224) and img.dtype == torch.float32
    assert torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1
    assert torch.equal(img, again)
    torch.testing.assert_close(img, loop, atol=1e-5, rtol=0)
    assert img.std() > 0  # something was drawn


def test_float32_tensor_input_stays_on_its_device_and_is_close_to_float64():
    x = np.random.default_rng(0).normal(size=(2, 1000)).cumsum(axis=1)
    for kind in BUILTIN:
        a = render(torch.from_numpy(x).float(), kind=kind, sampling_rate=100.0, modality="eda")
        b = render(x, kind=kind, sampling_rate=100.0, modality="eda")
        assert a.device == torch.device("cpu")
        assert (a - b).abs().mean() < 2e-3, kind
