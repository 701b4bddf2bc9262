"""_validate: bools are not numbers, finiteness, ranges, work bounds, input files."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from tiny_biomoe._validate import (
    MAX_SEED, check_bool, check_input_file, check_int, check_number, check_seed, check_work, limit,
)
from tiny_biomoe.errors import ConfigError, InputError, LimitError


@pytest.mark.parametrize("bad", [True, False, np.bool_(True), "3", None, [1], 1 + 2j, np.complex64(1)])
def test_check_number_refuses_non_numbers(bad):
    with pytest.raises(InputError, match="rate"):
        check_number(bad, "rate")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_check_number_refuses_non_finite(bad):
    with pytest.raises(InputError, match="finite"):
        check_number(bad, "lr")


def test_check_number_ranges_and_types():
    assert check_number(3, "x") == 3.0 and isinstance(check_number(3, "x"), float)
    assert check_number(np.float32(2.5), "x", min=0, min_inclusive=False) == 2.5
    with pytest.raises(InputError, match="must be > 0, got 0"):
        check_number(0, "x", min=0, min_inclusive=False)
    with pytest.raises(InputError, match="must be <= 10"):
        check_number(11, "x", max=10)
    with pytest.raises(InputError, match="must be < 1"):
        check_number(1, "x", max=1, max_inclusive=False)
    assert check_number(None, "x", allow_none=True) is None
    with pytest.raises(ConfigError, match="use 5"):
        check_number(-1, "x", min=0, hint="use 5", error=ConfigError)


def test_check_int():
    assert check_int(3.0, "n") == 3 and isinstance(check_int(np.int64(4), "n"), int)
    for bad in (3.5, math.nan, math.inf):
        with pytest.raises(InputError, match="whole number"):
            check_int(bad, "n")
    with pytest.raises(InputError, match=">= 1"):
        check_int(0, "batch_size", min=1)


def test_check_bool():
    assert check_bool(np.bool_(False), "flag") is False
    for bad in (1, 0, "yes", None):
        with pytest.raises(InputError, match="True or False"):
            check_bool(bad, "flag")


def test_check_seed():
    assert check_seed(0) == 0 and check_seed(MAX_SEED) == MAX_SEED
    for bad in (-1, MAX_SEED + 1, 10**30, 1.5, True):
        with pytest.raises(InputError):
            check_seed(bad)


def test_check_work_and_env_override(monkeypatch):
    check_work(1024, "a small thing")
    with pytest.raises(LimitError, match=r"over the limit of 8 GiB.*TINY_BIOMOE_MAX_BYTES"):
        check_work(9 * 2**30, "rendering 1e6 windows", hint="use --max-windows")
    with pytest.raises(LimitError):
        check_work(math.inf, "x")
    monkeypatch.setenv("TINY_BIOMOE_MAX_BYTES", str(16 * 2**30))
    assert limit("MAX_BYTES") == 16 * 2**30
    check_work(9 * 2**30, "now allowed")
    monkeypatch.setenv("TINY_BIOMOE_MAX_BYTES", "nan")
    with pytest.raises(InputError, match="positive finite"):
        limit("MAX_BYTES")
    with pytest.raises(LimitError, match="windows"):
        check_work(2e6, "2e6 windows", limit_name="MAX_WINDOWS")


def test_check_input_file(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("1\n")
    assert check_input_file(f) == f
    with pytest.raises(InputError, match="does not exist"):
        check_input_file(tmp_path / "none.csv")
    with pytest.raises(InputError, match="is a folder"):
        check_input_file(tmp_path)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        check_input_file(fifo)  # returns at once: stat does not open the FIFO


def test_npy_sample_bound(tmp_path, monkeypatch):
    from tiny_biomoe._validate import check_npy_file

    np.save(tmp_path / "x.npy", np.zeros((3, 1000)))
    check_npy_file(tmp_path / "x.npy")
    monkeypatch.setenv("TINY_BIOMOE_MAX_SAMPLES", "2999")
    with pytest.raises(InputError, match="3000 samples x channels would need 3000, over the limit of 2999"):
        check_npy_file(tmp_path / "x.npy")
