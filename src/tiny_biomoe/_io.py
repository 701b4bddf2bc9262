"""Small file helpers: atomic writes so that no command leaves a half-written output.

* :func:`atomic_path` / :func:`atomic_write_text`: one file, written to a temporary sibling and
  renamed onto the target only when complete. The file gets the permissions of any new file
  (``0666 & ~umask``), not the private mode of the temporary file.
* :func:`atomic_dir`: a whole output folder (several files that belong together), built in a
  temporary sibling folder and renamed into place, so a reader sees the old folder or the new
  one, never a mix.
* :func:`check_output`: checks a file or folder output *before* any work (empty name, a parent
  that is a file, a folder where a file is expected, not writable, an existing output that would
  be replaced without ``force``).
* Temporaries carry the writer's process id; :func:`cleanup_stale` (called by every atomic write)
  removes those of dead writers, so a killed run leaves nothing behind after the next one.

Write errors that are the machine's (full disk, quota, read-only file system, permission) become
:class:`~tiny_biomoe.errors.OutputError` with the path and a fix.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from .errors import OutputError

__all__ = ["atomic_path", "atomic_write_text", "atomic_dir", "check_output", "cleanup_stale", "current_umask",
           "temp_dir_beside", "STALE_AFTER_S"]

#: A temporary of ours whose writer process is gone, or older than this (seconds), is stale.
STALE_AFTER_S = 24 * 3600.0

#: errno values that mean "this machine cannot store the output here" (not a bug of ours).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.ENAMETOOLONG, errno.ENOTDIR, errno.EISDIR}
#: ``.<name>.p<pid>[@<host>].<random>.tmp...``; names written before the host tag read as this host's
_TMP_RE = re.compile(r"^\..+\.p(\d+)(?:@([A-Za-z0-9-]+))?\.[^.]+\.tmp")


@functools.lru_cache(maxsize=1)
def _host_tag() -> str:
    """This machine's name as it goes into temporary names (a pid means nothing on another node of a
    shared file system, so only temporaries of this host are judged by their pid)."""
    import socket

    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def current_umask() -> int:
    """The process umask (read from ``/proc`` where possible, which does not change it even briefly)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _public_mode(path: Path) -> None:
    """Give a finished temporary the mode a plain new file/folder would have had."""
    base = 0o777 if path.is_dir() else 0o666
    with contextlib.suppress(OSError):
        os.chmod(path, base & ~current_umask())


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def cleanup_stale(folder: str | os.PathLike, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove our temporaries in ``folder`` left by killed runs; return what was removed.

    Only names of the form ``.<name>.p<pid>@<host>.<random>.tmp...`` (what this module creates) are
    touched, and only when the entry is older than ``older_than_s`` or was made on this host by a
    process ``pid`` that is gone. A temporary of another host (several nodes writing into one shared
    folder under torchrun) is never judged by its pid: it may belong to a live process there.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    host = _host_tag()
    for e in entries:
        m = _TMP_RE.match(e.name)
        if not m:
            continue
        try:
            age = now - e.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        local = m.group(2) in (None, host)
        if age < older_than_s and (not local or _pid_alive(int(m.group(1)))):
            continue
        p = Path(e.path)
        with contextlib.suppress(OSError):
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


def _prefix(path: Path) -> str:
    return f".{path.name[:80]}.p{os.getpid()}@{_host_tag()}."


def _output_error(path: Path, exc: OSError) -> OutputError:
    what = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
            errno.EFBIG: "the file is too large for this file system", errno.EROFS: "the file system is read-only",
            errno.ENAMETOOLONG: "the name is too long"}.get(exc.errno or 0, exc.strerror or str(exc))
    return OutputError(f"cannot write {str(path)!r}: {what}; nothing was written. Free space or choose another "
                       "output location (-o/--out)")


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write {str(path)!r}: a parent of it is a file, not a folder; choose another output "
                          "location") from None
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise _output_error(path, exc) from None
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file keeps ``path``'s suffix (or ``suffix``) so that libraries which pick a
    format from the extension still work. On error the temporary file is removed and ``path``
    is left untouched; a full disk or another write error of the machine is an
    :class:`~tiny_biomoe.errors.OutputError`. The file ends with mode ``0666 & ~umask``.
    """
    path = Path(path)
    _make_parent(path)
    cleanup_stale(path.parent)
    if path.is_dir():
        raise OutputError(f"cannot write the file {str(path)!r}: a folder of that name exists; choose another name")
    sfx = suffix if suffix is not None else "".join(path.suffixes)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=f".tmp{sfx}", dir=path.parent)
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise _output_error(path, exc) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _public_mode(tmp_path)
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            if tmp_path.is_dir():
                shutil.rmtree(tmp_path)
            else:
                tmp_path.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in _WRITE_ERRNOS:
            raise _output_error(path, exc) from exc
        raise


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def temp_dir_beside(path: str | os.PathLike) -> Path:
    """A new empty temporary folder beside ``path`` (mode ``0777 & ~umask``), named so that
    :func:`cleanup_stale` removes it if this process dies before renaming it into place; stale
    temporaries of dead writers in that folder are removed first."""
    path = Path(path)
    _make_parent(path)
    cleanup_stale(path.parent)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise _output_error(path, exc) from None
        raise
    _public_mode(tmp)
    return tmp


def check_replaceable_dir(path: str | os.PathLike, ours: "Callable[[Path], bool]", what: str, mark: str) -> None:
    """An existing folder ``path`` may be replaced only when it is empty or ``ours(path)`` (an earlier
    output of the same writer, recognised by ``mark``, e.g. its settings file): a report or previews
    folder never replaces a folder of other files (``--out ~`` is one typo away)."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"{what} {str(path)!r} exists and is not a folder; choose a folder name")
    if any(path.iterdir()) and not ours(path):
        raise OutputError(f"{what} {str(path)!r} exists and holds other files (it is not an earlier one: no {mark}); "
                          "choose a new folder, or empty or remove this one yourself")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; when the block succeeds it becomes ``path``.

    With ``replace=True`` an existing ``path`` is swapped out (moved aside, then deleted after the new
    folder is in place); otherwise an existing ``path`` is an :class:`OutputError`. On error the
    temporary folder is removed and ``path`` is untouched. The folder gets mode ``0777 & ~umask``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{str(path)!r} exists and is not a folder; choose a folder name")
    if path.exists() and not replace:
        raise OutputError(f"{str(path)!r} exists; choose a new folder (CLI: pass --force to replace it)")
    tmp = temp_dir_beside(path)
    try:
        yield tmp
        _public_mode(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
            os.replace(path, old / "old")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) and exc.errno in _WRITE_ERRNOS:
            raise _output_error(path, exc) from exc
        raise


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def check_output(
    path: "str | os.PathLike | None",
    *,
    kind: str = "file",
    force: bool = False,
    suffixes: "tuple[str, ...] | None" = None,
    option: str = "-o/--output",
) -> Path:
    """Check that ``path`` can take a new output *before* any work; return it as a :class:`Path`.

    ``kind`` is ``"file"`` or ``"dir"``. Refused (:class:`OutputError`): an empty name; a name that is
    too long; a wrong suffix (``suffixes``); a folder where a file is expected or a file (or FIFO,
    device, ...) where a folder is expected; an existing output unless ``force``; a parent that is a
    file; a location where no file can be created (a test file is created and removed to be sure).
    Missing parent folders are fine (they are created when the output is written).
    """
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', not {kind!r}")
    if path is None or str(path).strip() == "":
        raise OutputError(f"{option}: the output name is empty; give a {'file' if kind == 'file' else 'folder'} name")
    p = Path(os.path.expanduser(str(path)))
    if p.name in ("", ".", ".."):
        raise OutputError(f"{option} {str(path)!r}: give a {'file' if kind == 'file' else 'folder'} name, not a "
                          "bare folder reference")
    if suffixes is not None and not p.name.lower().endswith(tuple(s.lower() for s in suffixes)):
        raise OutputError(f"{option} {str(path)!r} must end in {' or '.join(suffixes)}")
    # nearest existing ancestor must be a folder we can create files in
    anc = p.parent if str(p.parent) else Path(".")
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if len(p.name.encode("utf-8", "surrogateescape")) + 40 > _name_max(anc if anc.is_dir() else anc.parent):
        raise OutputError(f"{option} {str(path)!r}: the name is too long for this file system "
                          f"(at most {_name_max(anc if anc.is_dir() else anc.parent) - 40} bytes here); choose a "
                          "shorter name")
    if not anc.is_dir():
        raise OutputError(f"{option} {str(path)!r}: {str(anc)!r} is a file, not a folder; choose another location")
    if p.exists() or p.is_symlink():
        if kind == "file" and p.is_dir():
            raise OutputError(f"{option} {str(path)!r} is an existing folder; give a file name")
        if kind == "dir" and not p.is_dir():
            raise OutputError(f"{option} {str(path)!r} exists and is not a folder; choose a folder name")
        if kind == "file" and not p.is_file():
            raise OutputError(f"{option} {str(path)!r} exists and is not a regular file (a FIFO, device or "
                              "socket); choose another name")
        if not force:
            raise OutputError(f"{option} {str(path)!r} already exists; choose a new name or pass --force to "
                              "replace it")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".tiny-biomoe-probe.p{os.getpid()}.", suffix=".tmp", dir=anc)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"{option} {str(path)!r}: cannot create files in {str(anc)!r} ({reason}); choose a "
                          "writable location") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return p
