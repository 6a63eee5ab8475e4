"""How every command that reads many structures reports the entries it skipped: one line each, on stderr."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoperi.io.readers import ReadReport


def warn_skipped(report: ReadReport, consequence: str = "") -> None:
    """A summary line, then each skipped entry by id (or file) and reason; nothing if none was skipped."""
    if not report.errors:
        return
    suffix = f" ({consequence})" if consequence else ""
    print(f"autoperi: warning: {report.summary()}{suffix}", file=sys.stderr)
    for line in report.skipped_lines():
        print(f"  {line}", file=sys.stderr)
