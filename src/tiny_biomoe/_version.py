"""The package version, in a leaf module that imports nothing (read by pyproject.toml and the package)."""

__version__ = "0.2.0.dev0"
