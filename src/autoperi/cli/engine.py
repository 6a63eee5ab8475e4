"""``--scheduler``: the Dask cluster a command's parallel work runs on (``autoperi screen``'s engine)."""

from __future__ import annotations

import argparse


def add_scheduler_option(parser: argparse.ArgumentParser, default_engine: str) -> None:
    """``--scheduler tcp://HOST:PORT``; ``default_engine`` says what runs the work without it."""
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help=f"run the parallel work as tasks on this running Dask scheduler (default: {default_engine}); "
        "--workers is then the cluster's",
    )
