"""Deprecated alias of :mod:`tiny_biomoe.pain` (renamed in 0.2: "tasks" clashed with the pretraining tasks).

``import tiny_biomoe.tasks`` and ``from tiny_biomoe.tasks.pipeline import ...`` keep working for one
release and emit a :class:`DeprecationWarning`; import from :mod:`tiny_biomoe.pain` instead.
"""

from __future__ import annotations

import importlib
import sys
import warnings

from . import pain as _pain
from .pain import *  # noqa: F401,F403  (the alias re-exports the whole public API)
from .pain import __all__  # noqa: F401

warnings.warn("tiny_biomoe.tasks was renamed to tiny_biomoe.pain; the alias goes away in 0.3",
              DeprecationWarning, stacklevel=2)

_SUBMODULES = ("demo", "fusion", "heads", "metrics", "pipeline", "predict", "protocols", "report", "run")
for _name in _SUBMODULES:  # make ``tiny_biomoe.tasks.<sub>`` resolve to ``tiny_biomoe.pain.<sub>``
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"{_pain.__name__}.{_name}")
