"""Keyword-only parameters with a grace period: :func:`keyword_only_after`.

Public functions take the signal (or windows) and its identity positionally and everything else by
keyword, as NeuroKit2 does. Calls written before that rule pass the rest positionally; for one
release they still work, with a ``FutureWarning`` that names the keywords to use.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def keyword_only_after(n: int, *, legacy: int, since: str = "0.2") -> Callable[[F], F]:
    """Decorate a function whose parameters after the first ``n`` are keyword-only (``*`` in its
    signature); up to ``legacy`` extra positional arguments (the parameters that were positional
    before) are mapped onto those names, in order, with a ``FutureWarning``; more are a TypeError."""

    def deco(fn: F) -> F:
        params = list(inspect.signature(fn).parameters.values())
        kwonly = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
        assert sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params) == n, fn.__qualname__

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if len(args) > n:
                extra = args[n:]
                if len(extra) > min(legacy, len(kwonly)):
                    raise TypeError(f"{fn.__name__}() takes {n} positional argument{'s' * (n > 1)} (and, until the "
                                    f"deprecation ends, {legacy} more) but {len(args)} were given")
                names = kwonly[: len(extra)]
                dup = [k for k in names if k in kwargs]
                if dup:
                    raise TypeError(f"{fn.__name__}() got multiple values for {dup}")
                warnings.warn(
                    f"{fn.__name__}(): pass {', '.join(f'{k}=' for k in names)} by keyword; positional use of "
                    f"the parameters after the first {n} is deprecated since {since} and will be an error",
                    FutureWarning, stacklevel=2)
                kwargs.update(zip(names, extra))
                args = args[:n]
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco
