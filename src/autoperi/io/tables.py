"""Tables of rows written as CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


def write_rows(rows: Sequence[dict[str, object]], path: Path) -> Path:
    """A CSV with one column per key of the first row."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
