"""Embedding cache under concurrency and damage: never a half-written entry, never a crash, damaged entries are misses."""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import stat

import numpy as np
import pytest

from tiny_biomoe.data import EmbeddingCache

KEY = "k" * 64


def _array(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(5, 192)).astype(np.float32)


def _worker(directory: str, seed: int, rounds: int, queue) -> None:
    """Write the same entry over and over (two processes race on it) and read it back each time."""
    try:
        c = EmbeddingCache(directory)
        valid = {0: _array(0).tobytes(), 1: _array(1).tobytes()}
        for i in range(rounds):
            c.put(KEY, _array(seed), {"round": i})
            got = c.get(KEY)
            if got is not None and got.tobytes() not in valid.values():
                queue.put(f"read a mixed or partial entry in round {i}")
                return
        queue.put("ok")
    except BaseException as exc:  # noqa: BLE001 - report any crash to the parent
        queue.put(f"crash: {type(exc).__name__}: {exc}")


def test_two_processes_writing_one_entry(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), s, 60, q)) for s in (0, 1)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok", "ok"]
    names = sorted(os.listdir(tmp_path))
    assert names == [f"{KEY}.json", f"{KEY}.npy"]  # no temporaries left behind


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "nan"])
def test_damaged_entries_are_misses_then_rewritten(tmp_path, damage):
    c = EmbeddingCache(tmp_path)
    arr = _array(3)
    c.put(KEY, arr)
    p = tmp_path / f"{KEY}.npy"
    raw = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        p.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # one bit of the last float: only the checksum sees it
    elif damage == "garbage":
        p.write_bytes(b"not numpy at all" * 10)
    elif damage == "empty":
        p.write_bytes(b"")
    else:
        bad = arr.copy()
        bad[0, 0] = np.nan
        np.save(p, bad)
    assert c.get(KEY) is None and c.corrupt == 1 and c.misses == 1
    c.put(KEY, arr)
    np.testing.assert_array_equal(c.get(KEY), arr)


def test_entry_without_sidecar_is_used(tmp_path):
    """Between the two renames of put (another process) the .npy is already whole."""
    c = EmbeddingCache(tmp_path)
    c.put(KEY, _array(4))
    (tmp_path / f"{KEY}.json").unlink()
    np.testing.assert_array_equal(c.get(KEY), _array(4))


def test_full_disk_only_warns(tmp_path, monkeypatch):
    c = EmbeddingCache(tmp_path / "c")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    with pytest.warns(UserWarning, match="disk is full"):
        c.put(KEY, _array(5))
    c.put(KEY, _array(5))  # warned once only
    assert c.get(KEY) is None
    assert os.listdir(tmp_path / "c") == []


def test_entries_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        EmbeddingCache(tmp_path).put(KEY, _array(6))
    finally:
        os.umask(old)
    for name in (f"{KEY}.npy", f"{KEY}.json"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644
