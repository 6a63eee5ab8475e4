"""Progress for long loops: a tqdm bar on a terminal, plain lines at intervals in a log file.

tqdm disables itself when its stream is not a terminal, so a command redirected to a log printed nothing
until it ended; here a loop that runs longer than ``LOG_INTERVAL_S`` seconds reports one line per interval
(and its final state), without carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

LOG_INTERVAL_S = 30.0


class _LineStream:
    """A stream that writes each tqdm status as its own line (tqdm redraws with a leading carriage return),
    from ``LOG_INTERVAL_S`` seconds on: a short loop leaves the log (and a one-line error) untouched."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.start = time.monotonic()

    def write(self, text: str) -> None:
        text = text.strip("\r\n")
        if text and time.monotonic() - self.start >= LOG_INTERVAL_S:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(total: int | None, description: str, unit: str = "it", enabled: bool = True, **options: Any) -> tqdm:
    """A progress bar on stderr: live on a terminal, a line every ``LOG_INTERVAL_S`` seconds otherwise."""
    if not enabled:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=description, unit=unit, **options)
    options.update(leave=True, ascii=True, mininterval=LOG_INTERVAL_S, maxinterval=LOG_INTERVAL_S, dynamic_ncols=False)
    return tqdm(total=total, desc=description, unit=unit, file=_LineStream(sys.stderr), ncols=100, **options)
