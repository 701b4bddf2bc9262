"""waveform: drawn pixels against min-max scaled samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_biomoe.representations import render

S, M = 224, 4  # image size and default margin
TOP, BOTTOM = M, S - 1 - M


def _rows(v01):
    return BOTTOM - np.asarray(v01) * (BOTTOM - TOP)


def _dark(img):
    return 1.0 - img[0].numpy()  # black line: channel 0 darkness = coverage


def test_upsampled_line_matches_interpolated_samples():
    x = np.sin(np.linspace(0, 3 * np.pi, 60)) * 5 + 2  # fewer samples than columns
    d = _dark(render(x, kind="waveform", sampling_rate=10.0)[0])
    v = (x - x.min()) / (x.max() - x.min())
    pos = np.linspace(TOP, BOTTOM, x.size)
    for c in range(TOP, BOTTOM + 1):
        # the line over this column: interpolated samples at its centre and edges
        at = np.interp(np.clip([c - 0.5, c, c + 0.5], TOP, BOTTOM), pos, _rows(v))
        dark_rows = np.flatnonzero(d[:, c] > 0.75)  # the line core: within 0.5 px of its centre
        assert abs(dark_rows.min() - at.min()) <= 1.0 and abs(dark_rows.max() - at.max()) <= 1.0, c


def test_envelope_per_column_when_more_samples_than_columns():
    n = 20000
    t = np.arange(n) / n
    # 60 wiggles over 216 columns: each column spans a good part of one, so its envelope is tall,
    # while neighbouring samples stay < 0.5 px apart
    x = np.sin(2 * np.pi * 3 * t) + 0.3 * np.sin(2 * np.pi * 60 * t)
    d = _dark(render(x, kind="waveform", sampling_rate=100.0)[0])
    rows = _rows((x - x.min()) / (x.max() - x.min()))
    col_of = np.floor(np.linspace(TOP, BOTTOM, n) + 0.5).astype(int)
    for c in range(TOP + 1, BOTTOM):
        r = rows[col_of == c]
        dark_rows = np.flatnonzero(d[:, c] > 0.75)  # the line core: within 0.5 px of its centre
        assert abs(dark_rows.min() - r.min()) <= 1.0 and abs(dark_rows.max() - r.max()) <= 1.0, c


def test_single_sample_spike_is_never_lost():
    x = np.zeros(10000)
    x[4321] = 1.0
    d = _dark(render(x, kind="waveform", sampling_rate=1000.0)[0])
    c = int(np.floor(TOP + 4321 / 9999 * (BOTTOM - TOP) + 0.5))
    assert d[TOP, c] > 0.9  # the spike reaches the top row
    assert d[TOP, : c - 1].max() < 0.3 and d[TOP, c + 2 :].max() < 0.3


def test_line_width_margin_orientation():
    flat = render(np.ones(500), kind="waveform", sampling_rate=50.0)[0]
    d = _dark(flat)
    np.testing.assert_allclose(d[:, TOP:BOTTOM + 1].sum(axis=0), 1.5, atol=0.01)  # 1.5 px per column
    # white margins (the antialiased line end may touch the innermost margin column)
    assert d[:, : M - 1].max() == 0 and d[:, S - M + 1 :].max() == 0 and d[:, M - 1].max() <= 0.25
    ramp = _dark(render(np.arange(500.0), kind="waveform", sampling_rate=50.0)[0])
    assert np.argmax(ramp[:, TOP]) > np.argmax(ramp[:, BOTTOM])  # larger values are higher up
    assert torch.equal(flat[0], flat[1]) and torch.equal(flat[1], flat[2])  # black on white


def test_fixed_range_for_spo2():
    x = np.full(500, 90.0)
    x[:10] = 70.0  # below the range: clipped to the bottom
    d = _dark(render(x, kind="waveform", sampling_rate=50.0, modality="spo2")[0])
    mid = (TOP + BOTTOM) / 2
    assert abs(np.argmax(d[:, 150]) - mid) <= 0.5
    assert np.argmax(d[:, TOP]) == BOTTOM
    # without the modality the same window is min-max scaled: 90 is the top
    d2 = _dark(render(x, kind="waveform", sampling_rate=50.0)[0])
    assert np.argmax(d2[:, 150]) == TOP
    d3 = _dark(render(x, kind="waveform", sampling_rate=50.0, modality="spo2", use_modality_range=False)[0])
    assert np.argmax(d3[:, 150]) == TOP


def test_bad_parameters():
    from tiny_biomoe.errors import InputError, SignalError

    with pytest.raises(InputError, match="no parameter"):
        render(np.ones(100), kind="waveform", sampling_rate=10.0, linewidth=2)
    with pytest.raises(InputError, match="value_range"):
        render(np.ones(100), kind="waveform", sampling_rate=10.0, value_range=(5, 1))
    x = np.ones(100)
    x[3] = np.nan
    with pytest.raises(SignalError, match="NaN"):
        render(x, kind="waveform", sampling_rate=10.0)
