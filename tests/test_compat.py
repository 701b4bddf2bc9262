"""Keyword-only parameters after the signal, with a one-release grace period for positional calls."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tiny_biomoe as tb
from tiny_biomoe.embed import embed_file
from tiny_biomoe.representations import informative_share
from tiny_biomoe.signals import (
    condition,
    eda_components,
    fill_short_gaps,
    make_windows,
    normalize,
    preprocess,
    resample,
    zero_phase_filter,
)


@pytest.mark.parametrize("fn", [tb.embed_signal, tb.embed_windows, tb.render, condition, preprocess, make_windows,
                                resample,
                                zero_phase_filter, fill_short_gaps, eda_components, normalize, informative_share,
                                embed_file])
def test_everything_after_the_signal_is_keyword_only(fn):
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].kind is params[0].POSITIONAL_OR_KEYWORD
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[1:]), fn.__name__


def test_positional_calls_still_work_with_a_future_warning_and_give_the_same_result():
    x = np.random.default_rng(0).normal(size=100 * 30)
    new = condition(x, sampling_rate=100.0, modality="eda")
    with pytest.warns(FutureWarning, match=r"condition\(\): pass sampling_rate=, modality= by keyword"):
        old = condition(x, 100.0, "eda")
    np.testing.assert_array_equal(old.data, new.data)
    with pytest.warns(FutureWarning, match="kind=, sampling_rate="):
        img_old = tb.render(new.data[:2], "waveform", 100.0)
    np.testing.assert_array_equal(img_old.numpy(), tb.render(new.data[:2], kind="waveform", sampling_rate=100.0).numpy())


def test_too_many_or_duplicated_positional_arguments_are_type_errors():
    x = np.random.default_rng(0).normal(size=100 * 30)
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        condition(x, 100.0, "eda", 10.0)  # window_s was keyword-only before too
    with pytest.raises(TypeError, match="multiple values"):
        condition(x, 100.0, sampling_rate=100.0, modality="eda")
