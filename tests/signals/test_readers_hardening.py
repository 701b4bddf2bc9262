"""read_signal on files that are not what they claim: a SignalError naming the problem, quickly, without allocating."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from tiny_biomoe.errors import SignalError
from tiny_biomoe.signals import read_signal


def _npy_with_header(path, shape, dtype="<f8", payload=b"\0" * 64):
    from numpy.lib import format as npf

    with open(path, "wb") as fh:
        npf.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": False, "shape": shape})
        fh.write(payload)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: np.save(p, np.arange(4) + 1j), "complex"),
    (lambda p: np.save(p, np.array(["a", "b"])), "not numbers"),
    (lambda p: _npy_with_header(p, (200_000_000_000,)), "over the limit"),  # 1.46 TiB claimed, 64 bytes held
    (lambda p: _npy_with_header(p, (1000, 1000)), "truncated"),
    (lambda p: p.write_bytes(b"\x93NUMPY garbage"), "not a plain numeric .npy"),
])
def test_odd_npy(tmp_path, make, message):
    p = tmp_path / "x.npy"
    make(p)
    with pytest.raises(SignalError, match=message):
        read_signal(p, sampling_rate=100.0)


def test_odd_npz(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(SignalError, match="empty"):
        read_signal(empty, sampling_rate=100.0)
    renamed = tmp_path / "renamed.npz"
    np.save(tmp_path / "a.npy", np.arange(100.0))
    (tmp_path / "a.npy").rename(renamed)
    with pytest.raises(SignalError, match="rename it to .npy"):
        read_signal(renamed, sampling_rate=100.0)
    cplx = tmp_path / "c.npz"
    np.savez(cplx, eda=np.arange(100) * 1j)
    with pytest.raises(SignalError, match="complex"):
        read_signal(cplx, sampling_rate=100.0)


def test_zip_bomb_npz_refused_before_decompressing(tmp_path):
    p = tmp_path / "bomb.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("eda.npy", "w", force_zip64=True) as fh:
            from numpy.lib import format as npf

            npf.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (12_500_000,)})
            chunk = bytes(2**20)
            for _ in range(100):  # 100 MiB of zeros -> about 100 KB on disk
                fh.write(chunk)
    assert p.stat().st_size < 2**20
    with pytest.raises(SignalError, match="zip bomb"):
        read_signal(p, sampling_rate=100.0)


def test_fifo_input_refused_without_blocking(tmp_path):
    fifo = tmp_path / "signal.csv"
    os.mkfifo(fifo)
    with pytest.raises(SignalError, match="not a regular file"):
        read_signal(fifo, sampling_rate=100.0)


def test_in_memory_complex_refused():
    with pytest.raises(SignalError, match="complex"):
        read_signal(np.arange(100) * (1 + 1j), sampling_rate=100.0)


@pytest.mark.parametrize("fs", ["-100", "0", "abc", "nan"])
def test_wfdb_bad_header_rate(tmp_path, fs):
    wfdb = pytest.importorskip("wfdb")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        wfdb.wrsamp("r", fs=100, units=["mV"], sig_name=["ecg"], p_signal=np.sin(np.arange(1000) / 10)[:, None],
                    fmt=["16"])
    finally:
        os.chdir(old)
    hea = tmp_path / "r.hea"
    lines = hea.read_text().splitlines()
    parts = lines[0].split()
    parts[2] = fs
    hea.write_text("\n".join([" ".join(parts), *lines[1:]]) + "\n")
    with pytest.raises(SignalError, match="sampling rate"):
        read_signal(hea)


def test_good_files_still_read(tmp_path):
    np.save(tmp_path / "ok.npy", np.arange(1000.0))
    assert read_signal(tmp_path / "ok.npy", sampling_rate=100.0).signals["ch0"].size == 1000
    np.savez_compressed(tmp_path / "ok.npz", eda=np.sin(np.arange(5000.0)), fs=np.array(50.0))
    rec = read_signal(tmp_path / "ok.npz")
    assert rec.rate("eda") == 50.0


def test_a_text_table_named_dat_gets_the_renaming_hint(tmp_path):
    from tiny_biomoe.errors import SignalError
    from tiny_biomoe.signals import read_signal

    p = tmp_path / "eda.dat"
    p.write_text("time,eda\n0,1\n0.01,2\n0.02,3\n")
    with pytest.raises(SignalError, match=r"eda.hea' does not exist; if eda.dat is a text table, name it .csv"):
        read_signal(p)
    assert read_signal(p, format="csv").channels == ["eda"]
