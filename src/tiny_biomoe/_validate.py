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
           "limit", "LIMITS", "MAX_SEED"]

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
