"""The ``biomoe`` command line: a thin layer over the Python API.

Every sub-command parses its arguments, calls one public function of the package and prints
where its outputs went. Errors caused by user input (:class:`~tiny_biomoe.errors.TinyBioMoEError`)
are printed as one clear message and give exit code 2; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import TinyBioMoEError

Handler = Callable[[argparse.Namespace], int]


def _add_weights_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--weights",
        default="tiny-biomoe",
        help="checkpoint: a .pth (official layout) or .safetensors path, or 'tiny-biomoe' "
        "to resolve the official weights (TINY_BIOMOE_WEIGHTS, cache, download)",
    )


def _add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="'auto' (CUDA if available, else CPU), 'cpu', 'cuda', 'cuda:1', ...")


# ----------------------------------------------------------------------------- info (model)
def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="version, parameter count, device and where weights are looked for")
    _add_device_arg(p)
    p.set_defaults(func=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from .info import info_text

    print(info_text(device=args.device))
    return 0


# ----------------------------------------------------------------------------- end of sections

_SECTIONS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_info,
]


def build_parser() -> argparse.ArgumentParser:
    """Return the ``biomoe`` argument parser with all sub-commands."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="biomoe",
        description="Tiny-BioMoE: biosignals -> images -> 192-D embeddings -> pain recognition.",
    )
    parser.add_argument("--version", action="version", version=f"tiny-biomoe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _SECTIONS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0 ok, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TinyBioMoEError as exc:
        print(f"biomoe {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
