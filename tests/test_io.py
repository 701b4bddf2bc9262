"""_io: atomic files and folders, permissions from the umask, full disk, stale temporaries, output checks."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys

import pytest

from tiny_biomoe._io import atomic_dir, atomic_path, atomic_write_text, check_output, cleanup_stale, current_umask
from tiny_biomoe.errors import OutputError


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture()
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_current_umask_reads_the_process_umask(umask_027):
    assert current_umask() == 0o027


def test_atomic_file_gets_umask_mode_not_0600(tmp_path, umask_027):
    p = atomic_write_text(tmp_path / "a.txt", "x")
    assert _mode(p) == 0o640  # 0666 & ~027
    reference = tmp_path / "plain.txt"
    reference.write_text("x")  # what open() gives a new file under the same umask
    assert _mode(p) == _mode(reference)


def test_atomic_dir_gets_umask_mode(tmp_path, umask_027):
    with atomic_dir(tmp_path / "out") as d:
        (d / "f.txt").write_text("1")
    assert _mode(tmp_path / "out") == 0o750
    assert (tmp_path / "out" / "f.txt").read_text() == "1"


def test_atomic_path_error_leaves_target_and_no_temporary(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["t.txt"]


def test_full_disk_is_a_clear_error_and_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "emb.npz"

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="disk is full"):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"abc")
                full()
    assert os.listdir(tmp_path) == []
    # the same for a folder, and for os.replace failing at the very end
    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputError, match="disk is full"):
        with atomic_dir(tmp_path / "rep") as d:
            (d / "x").write_text("1")
    assert os.listdir(tmp_path) == []


def test_atomic_dir_refuses_existing_unless_replace(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "user.txt").write_text("keep")
    with pytest.raises(OutputError, match="--force"):
        with atomic_dir(out):
            pass
    assert (out / "user.txt").read_text() == "keep"
    with atomic_dir(out, replace=True) as d:
        (d / "new.txt").write_text("n")
    assert sorted(os.listdir(out)) == ["new.txt"]
    assert sorted(os.listdir(tmp_path)) == ["rep"]  # the old folder is gone, no temporaries
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        with atomic_dir(f, replace=True):
            pass
    assert f.read_text() == "x"


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    # a real dead pid: a finished child process
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(child.stdout)
    stale_file = tmp_path / f".out.npz.p{dead}.abcd1234.tmp.npz"
    stale_dir = tmp_path / f".rep.p{dead}.abcd1234.tmp"
    live = tmp_path / f".out.npz.p{os.getpid()}.zzzz9999.tmp.npz"
    user = tmp_path / ".hidden.p1.tmp"  # not our pattern (no random part): never touched
    stale_file.write_bytes(b"")
    stale_dir.mkdir()
    (stale_dir / "x.png").write_bytes(b"1")
    live.write_bytes(b"")
    user.write_bytes(b"")
    removed = cleanup_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted([stale_file.name, stale_dir.name])
    assert live.exists() and user.exists()
    # the next atomic write in that folder cleans up too
    stale_file.write_bytes(b"")
    atomic_write_text(tmp_path / "other.txt", "1")
    assert not stale_file.exists()


def test_temporaries_of_another_host_are_judged_by_age_not_pid(tmp_path):
    """Several nodes writing into one shared folder (torchrun across machines): a pid from another host
    says nothing about whether that writer is alive here, so only age removes its temporaries."""
    import time

    from tiny_biomoe import _io

    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(child.stdout)
    here = _io._host_tag()
    other = "node-" + ("b" if not here.endswith("b") else "c") * 8
    mine_dead = tmp_path / f".part-1.parquet.p{dead}@{here}.aaaa1111.tmp.parquet"
    theirs = tmp_path / f".part-2.parquet.p{dead}@{other}.bbbb2222.tmp.parquet"
    theirs_old = tmp_path / f".part-3.parquet.p{dead}@{other}.cccc3333.tmp.parquet"
    for p in (mine_dead, theirs, theirs_old):
        p.write_bytes(b"")
    old = time.time() - 2 * _io.STALE_AFTER_S
    os.utime(theirs_old, (old, old))
    removed = cleanup_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted([mine_dead.name, theirs_old.name])
    assert theirs.exists()
    # what this module writes carries the pid and this host
    seen = []
    with atomic_path(tmp_path / "x.npz") as tmp:
        seen.append(tmp.name)
        tmp.write_bytes(b"1")
    assert _io._TMP_RE.match(seen[0]).groups() == (str(os.getpid()), here)


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_check_output_refusals(tmp_path, kind):
    f = tmp_path / "f.csv"
    f.write_text("user data")
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(OutputError, match="empty"):
        check_output("", kind=kind)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(f / "x.csv", kind=kind)
    with pytest.raises(OutputError, match="too long"):
        check_output(tmp_path / ("a" * 300), kind=kind)
    if kind == "file":
        with pytest.raises(OutputError, match="existing folder"):
            check_output(d, kind="file", force=True)
        with pytest.raises(OutputError, match="already exists"):
            check_output(f, kind="file")
        assert check_output(f, kind="file", force=True) == f
        with pytest.raises(OutputError, match="must end in .npz"):
            check_output(tmp_path / "o.txt", suffixes=(".npz",))
    else:
        with pytest.raises(OutputError, match="not a folder"):
            check_output(f, kind="dir", force=True)
        with pytest.raises(OutputError, match="already exists"):
            check_output(d, kind="dir")
        assert check_output(d, kind="dir", force=True) == d
    assert check_output(tmp_path / "new" / "deeper" / "o.csv", kind=kind) == tmp_path / "new" / "deeper" / "o.csv"
    assert sorted(os.listdir(tmp_path)) == ["d", "f.csv"]  # the probe left nothing, nothing was created


def test_check_output_not_writable(tmp_path):
    with pytest.raises(OutputError, match="cannot create files"):
        check_output("/proc/biomoe-out.npz")
    if os.geteuid() != 0:  # root may write anywhere on a normal file system
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        with pytest.raises(OutputError, match="cannot create files"):
            check_output(ro / "x.npz")


def test_check_output_fifo_is_not_a_file(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        check_output(fifo, force=True)
