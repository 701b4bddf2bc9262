"""Exception types of tiny-biomoe.

Every error the package raises on bad input derives from :class:`TinyBioMoEError`, so a
caller (and the ``biomoe`` CLI, which maps them to exit code 2) can tell a user mistake
from a bug. Messages say what was wrong *and* how to fix it.
"""

from __future__ import annotations

__all__ = [
    "TinyBioMoEError",
    "InputError",
    "CheckpointError",
    "WeightsNotFoundError",
    "SignalError",
    "DatasetError",
    "ConfigError",
    "MissingDependencyError",
    "OutputError",
    "LimitError",
]


class TinyBioMoEError(Exception):
    """Base class of all tiny-biomoe errors caused by user input or environment."""


class InputError(TinyBioMoEError, ValueError):
    """A tensor or array given to the model or a function has the wrong shape, dtype or values."""


class CheckpointError(TinyBioMoEError, ValueError):
    """A weights file is unreadable, unsafe, or does not match the network."""


class WeightsNotFoundError(TinyBioMoEError, FileNotFoundError):
    """Pretrained weights could not be found locally nor downloaded."""


class SignalError(TinyBioMoEError, ValueError):
    """A biosignal (file, array, sampling rate, modality) cannot be used as given."""


class DatasetError(TinyBioMoEError, ValueError):
    """A dataset folder or manifest does not have the expected layout or content."""


class ConfigError(TinyBioMoEError, ValueError):
    """A configuration value or file is invalid."""


class MissingDependencyError(TinyBioMoEError, ImportError):
    """An optional dependency is needed for this feature but not installed."""


class OutputError(TinyBioMoEError, OSError):
    """An output cannot be written where asked: missing or non-writable folder, an existing file or
    folder that would be replaced without ``--force``, a full disk."""


class LimitError(TinyBioMoEError, ValueError):
    """A request would need more work or memory than the configured bound (the message names the
    limit and how to raise it), or an input file claims more than it may hold (a zip or YAML bomb)."""


def require(module: str, extra: str, feature: str):
    """Import an optional dependency or raise :class:`MissingDependencyError` naming the extra.

    >>> np = require("numpy", "core", "arrays")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise MissingDependencyError(
            f"{feature} needs the package '{module}', which is not installed. "
            f"Install it with: pip install 'tiny-biomoe[{extra}]'"
        ) from exc
