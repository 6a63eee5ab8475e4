"""Entry point of the ``autoperi`` command: dispatches to one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from autoperi import __version__
from autoperi.errors import AutoPeriError

# Each module defines ``add_parser(subparsers)``, which registers a subcommand whose ``func`` takes the
# parsed arguments and returns an exit code. Modules import only argparse at top level.
COMMAND_MODULES = (
    "autoperi.cli.data",
    "autoperi.cli.train",
    "autoperi.cli.sample",
    "autoperi.cli.csp",
    "autoperi.cli.reconstruct",
    "autoperi.cli.relax",
    "autoperi.cli.evaluate",
    "autoperi.cli.screen",
    "autoperi.cli.pores",
    "autoperi.cli.adsorb",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoperi", description="Generative modelling of periodic crystal structures."
    )
    parser.add_argument("--version", action="version", version=f"autoperi {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show library warnings and the full traceback of unexpected errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        if not (args.debug or sys.warnoptions):
            _hide_library_warnings()
        return _run(args)


def _hide_library_warnings() -> None:
    """Python warnings from numpy, pymatgen, matminer ... stay out of normal output (``--debug`` shows them).

    The CLI's own warnings are printed lines, not Python warnings. Spawned workers read ``PYTHONWARNINGS``.
    """
    warnings.simplefilter("ignore")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except AutoPeriError as error:
        print(f"autoperi: error: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
        print(f"autoperi: error: {error.strerror}: {error.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autoperi: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(
            f"autoperi: internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
