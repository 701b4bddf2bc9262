"""One validation layer for values that come from users: CLI arguments, public API parameters, file headers.

Each check returns the cleaned value or raises one of the package's errors (``error=``, default
:class:`~tiny_biomoe.errors.InputError`) with a message that names the parameter, the allowed range
and how to fix it. The rules:

* a bool is not a number (``sampling_rate=True`` is refused, not taken as 1 Hz);
* numbers are finite (no NaN, no inf) unless ``finite=False``;
* ranges are checked with inclusive/exclusive bounds;
* the work and memory a request implies (windows x image size, samples x channels) are bounded
  *before* anything is allocated (:func:`check_work`, :data:`LIMITS`), with the limit in the message
  and the environment variable that raises it.
* input files are regular files (a FIFO would block forever) of bounded size (:func:`check_input_file`).
"""

from __future__ import annotations

import math
import numbers
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, LimitError, TinyBioMoEError

__all__ = ["check_bool", "check_number", "check_int", "check_float", "check_seed", "check_work", "check_input_file",
           "check_npy_file", "check_npz_file", "check_wfdb_rate", "limit", "LIMITS", "MAX_SEED"]

#: Largest seed accepted (numpy's and torch's generators take 0 .. 2**32 - 1 everywhere).
MAX_SEED = 2**32 - 1

#: Default upper bounds; each can be raised with the environment variable ``TINY_BIOMOE_<NAME>``.
LIMITS: dict[str, float] = {
    "MAX_BYTES": 8 * 2**30,  # one array or a request's working set (8 GiB)
    "MAX_SAMPLES": 2**31,  # samples x channels of one recording
    "MAX_WINDOWS": 1_000_000,  # windows of one request
    "MAX_INPUT_BYTES": 16 * 2**30,  # one input file
    "MAX_UNCOMPRESSED_RATIO": 200.0,  # .npz members: uncompressed / compressed size
    "MAX_YAML_NODES": 100_000,  # nodes of one YAML config with its aliases expanded
    "MAX_HEAD_DIM": 1 << 16,  # in_dim / hidden / n_classes of a saved head
}


def limit(name: str) -> float:
    """The bound ``name`` (a key of :data:`LIMITS`), overridden by ``$TINY_BIOMOE_<NAME>`` if set."""
    raw = os.environ.get(f"TINY_BIOMOE_{name}")
    if raw:
        try:
            v = float(raw)
        except ValueError:
            raise InputError(f"environment variable TINY_BIOMOE_{name}={raw!r} is not a number") from None
        if math.isfinite(v) and v > 0:
            return v
        raise InputError(f"environment variable TINY_BIOMOE_{name}={raw!r} must be a positive finite number")
    return LIMITS[name]


def _err(error: type[TinyBioMoEError], msg: str) -> TinyBioMoEError:
    return error(msg)


def check_bool(value: Any, name: str, *, error: type[TinyBioMoEError] = InputError) -> bool:
    """``value`` must be ``True`` or ``False`` (numpy bools too); ``1``/``"yes"`` are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise _err(error, f"{name} must be True or False, got {value!r}")


def _fmt(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def check_number(
    value: Any,
    name: str,
    *,
    min: float | None = None,
    max: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    integer: bool = False,
    finite: bool = True,
    allow_none: bool = False,
    hint: str = "",
    error: type[TinyBioMoEError] = InputError,
) -> Any:
    """Check a real number (not a bool, not a string) and its range; return it as ``int`` or ``float``.

    ``integer=True`` accepts integral values only (``3`` and ``3.0``, not ``3.5``). ``hint`` is appended
    to the message (e.g. ``"use --window 10"``).
    """
    tail = f"; {hint}" if hint else ""
    if value is None:
        if allow_none:
            return None
        raise _err(error, f"{name} is required (got None){tail}")
    if isinstance(value, (bool, np.bool_)):
        raise _err(error, f"{name} must be a number, not the bool {value!r}{tail}")
    if isinstance(value, complex) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "c"):
        raise _err(error, f"{name} must be a real number, got the complex {value!r}{tail}")
    if not isinstance(value, numbers.Real):
        raise _err(error, f"{name} must be a number, got {type(value).__name__} {value!r}{tail}")
    if integer:
        if isinstance(value, numbers.Integral):
            v: Any = int(value)
        else:
            f = float(value)
            if not math.isfinite(f) or f != int(f):
                raise _err(error, f"{name} must be a whole number, got {value!r}{tail}")
            v = int(f)
    else:
        v = float(value)
        if finite and not math.isfinite(v):
            raise _err(error, f"{name} must be a finite number, got {value!r}{tail}")
    if min is not None and (v < min or (v == min and not min_inclusive)):
        op = ">=" if min_inclusive else ">"
        raise _err(error, f"{name} must be {op} {_fmt(min)}, got {_fmt(v)}{tail}")
    if max is not None and (v > max or (v == max and not max_inclusive)):
        op = "<=" if max_inclusive else "<"
        raise _err(error, f"{name} must be {op} {_fmt(max)}, got {_fmt(v)}{tail}")
    return v


def check_int(value: Any, name: str, **kw: Any) -> Any:
    """:func:`check_number` with ``integer=True``."""
    return check_number(value, name, integer=True, **kw)


def check_float(value: Any, name: str, **kw: Any) -> Any:
    """:func:`check_number` for a finite float."""
    return check_number(value, name, **kw)


def check_seed(value: Any, name: str = "seed", *, error: type[TinyBioMoEError] = InputError) -> int:
    """A seed is a whole number in ``0 .. 2**32 - 1``."""
    return check_number(value, name, integer=True, min=0, max=MAX_SEED, error=error)


def check_work(amount: float, what: str, *, limit_name: str = "MAX_BYTES", hint: str = "",
               error: type[TinyBioMoEError] = LimitError) -> None:
    """Refuse a request whose size ``amount`` (bytes, windows, samples: see ``limit_name``) is over the bound.

    The message says how much was asked for, the limit, ``hint`` (how to ask for less) and the
    environment variable that raises the limit.
    """
    bound = limit(limit_name)
    if not math.isfinite(float(amount)) or amount > bound:
        unit = " bytes" if limit_name.endswith("BYTES") else ""
        size = f"{amount / 2**30:.3g} GiB" if unit and math.isfinite(float(amount)) else f"{amount:.4g}{unit}"
        lim = f"{bound / 2**30:.3g} GiB" if unit else f"{bound:.4g}"
        tail = f"; {hint}" if hint else ""
        raise _err(error, f"{what} would need {size}, over the limit of {lim}{tail} (or raise the limit with "
                          f"TINY_BIOMOE_{limit_name}=...)")


def check_input_file(path: str | os.PathLike, *, what: str = "input file",
                     error: type[TinyBioMoEError] = InputError) -> Path:
    """``path`` must exist and be a regular file (not a folder, FIFO, socket or device) of bounded size."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _err(error, f"{what} {str(p)!r} does not exist") from None
    except OSError as exc:
        raise _err(error, f"{what} {str(p)!r} cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _err(error, f"{what} {str(p)!r} is a folder; give a file")
    if not stat.S_ISREG(st.st_mode):
        raise _err(error, f"{what} {str(p)!r} is not a regular file (a FIFO, socket or device would block or "
                          "never end); copy the data into a file first")
    check_work(st.st_size, f"{what} {str(p)!r}", limit_name="MAX_INPUT_BYTES", error=error)
    return p


# ----------------------------------------------------------------------------- file headers
def _check_npy_header(fh: Any, payload: int, where: str, error: type[TinyBioMoEError]) -> None:
    """Read a .npy header from ``fh`` and check dtype and size against ``payload`` bytes (what the file holds)."""
    from numpy.lib import format as npf

    try:
        version = npf.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npf.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npf.read_array_header_2_0(fh)
        else:  # 3.0 (UTF-8 field names): numpy's internal reader
            from numpy.lib import _format_impl

            shape, fortran, dtype = _format_impl._read_array_header(fh, version)
    except (ValueError, EOFError, OSError, SyntaxError, ImportError, AttributeError) as exc:
        raise _err(error, f"{where}: not a plain numeric .npy file ({exc or 'empty file'})") from None
    if dtype.hasobject:
        raise _err(error, f"{where}: not a plain numeric array: it holds Python objects, which are never loaded (they could run code); save a "
                          "numeric array")
    if dtype.kind == "c" or (dtype.names and any(dtype[n].kind == "c" for n in dtype.names)):
        raise _err(error, f"{where}: complex values ({dtype}); pass the real part, the magnitude (np.abs) or the "
                          "phase explicitly")
    if dtype.names is None and dtype.kind not in "biuf":
        raise _err(error, f"{where}: values of dtype {dtype} are not numbers; save a numeric array")
    n = 1
    for s in shape:
        n *= int(s)
    need = n * dtype.itemsize
    check_work(n * max(1, len(dtype.names or ())), f"{where}: {n} samples x channels", limit_name="MAX_SAMPLES",
               error=error)
    check_work(need, f"{where}: an array of shape {tuple(shape)} ({dtype})", error=error)
    if need > payload:
        raise _err(error, f"{where}: the header claims shape {tuple(shape)} ({need} bytes) but the file holds "
                          f"{payload}; the file is truncated or not a real .npy")


def check_npy_file(path: str | os.PathLike, *, error: type[TinyBioMoEError] = InputError) -> None:
    """Check a ``.npy`` file before loading: not empty, a real numeric dtype (no objects, strings or complex),
    a size within :data:`LIMITS` that the file really holds (a header may claim terabytes)."""
    p = check_input_file(path, error=error)
    size = p.stat().st_size
    if size == 0:
        raise _err(error, f"{p}: the file is empty")
    with open(p, "rb") as fh:
        _check_npy_header(fh, size, str(p), error)
        offset = fh.tell()
    if offset > size:  # pragma: no cover - header reader would have failed
        raise _err(error, f"{p}: truncated header")


def check_npz_file(path: str | os.PathLike, *, error: type[TinyBioMoEError] = InputError) -> None:
    """Check a ``.npz`` file before loading: a zip archive (a renamed .npy says so), members whose declared
    sizes are bounded (total and compression ratio: a zip bomb is refused before decompressing) and whose
    .npy headers pass the checks of :func:`check_npy_file`."""
    import zipfile

    p = check_input_file(path, error=error)
    if p.stat().st_size == 0:
        raise _err(error, f"{p}: the file is empty")
    if not zipfile.is_zipfile(p):
        with open(p, "rb") as fh:
            magic = fh.read(6)
        extra = "; it is a .npy file: rename it to .npy" if magic == b"\x93NUMPY" else ""
        raise _err(error, f"{p}: not a plain numeric .npz file (not a zip archive){extra}")
    try:
        with zipfile.ZipFile(p) as zf:
            members = zf.infolist()
            total = sum(m.file_size for m in members)
            check_work(total, f"{p}: its arrays uncompressed", error=error)
            packed = sum(m.compress_size for m in members)
            ratio = total / max(1, packed)
            if total > 64 * 2**20 and ratio > limit("MAX_UNCOMPRESSED_RATIO"):
                raise _err(error, f"{p}: expands {ratio:.0f}-fold to {total / 2**30:.3g} GiB (a zip bomb?); real "
                                  f"signals compress far less (limit {limit('MAX_UNCOMPRESSED_RATIO'):g}x, "
                                  "TINY_BIOMOE_MAX_UNCOMPRESSED_RATIO)")
            for m in members:
                if not m.filename.endswith(".npy"):
                    continue
                with zf.open(m) as fh:
                    _check_npy_header(fh, m.file_size, f"{p}:{m.filename[:-4]}", error)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise _err(error, f"{p}: not a plain numeric .npz file ({exc})") from None


def check_wfdb_rate(header: str | os.PathLike, *, error: type[TinyBioMoEError] = InputError) -> float | None:
    """The sampling rate written on a WFDB header's record line, checked (> 0, finite); ``None`` if absent.

    (The wfdb package reads a negative rate as its default of 250 Hz, silently.)"""
    p = check_input_file(header, what="WFDB header", error=error)
    try:
        with open(p, encoding="latin-1") as fh:
            for line in fh:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split()
                break
            else:
                raise _err(error, f"{p}: the WFDB header has no record line")
    except OSError as exc:
        raise _err(error, f"{p}: cannot read the WFDB header ({exc.strerror or exc})") from None
    if len(parts) < 3:
        return None
    field = parts[2].split("/")[0].split("(")[0]
    try:
        fs = float(field)
    except ValueError:
        raise _err(error, f"{p}: the WFDB header's sampling rate {parts[2]!r} is not a number") from None
    if not math.isfinite(fs) or fs <= 0:
        raise _err(error, f"{p}: the WFDB header's sampling rate is {parts[2]!r}; it must be a positive number of Hz "
                          "(fix the header)")
    return fs
