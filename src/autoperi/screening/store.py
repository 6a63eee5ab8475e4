"""Records on disk, one JSON object per line, appended and flushed one at a time so a kill loses at most the
line being written (which a reader ignores and the next writer truncates)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal


def crystal_record(crystal: Crystal) -> dict[str, object]:
    """A crystal as JSON-ready lists (floats round-trip exactly)."""
    return {
        "id": crystal.id,
        "lattice": crystal.lattice.tolist(),
        "frac_coords": crystal.frac_coords.tolist(),
        "atomic_numbers": crystal.atomic_numbers.tolist(),
    }


def crystal_from_record(record: dict) -> Crystal:
    return Crystal(
        np.asarray(record["lattice"], dtype=float),
        np.asarray(record["frac_coords"], dtype=float),
        np.asarray(record["atomic_numbers"], dtype=int),
        id=record["id"],
    )


def read_records(path: Path) -> dict[str, dict]:
    """Every complete record by id (a later record of an id replaces an earlier one)."""
    if not path.exists():
        return {}
    records = {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # the line a kill interrupted
            continue
        records[record["id"]] = record
    return records


def _drop_partial_line(path: Path) -> None:
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)


class RecordWriter:
    """Appends records to a JSON-lines file, each one on disk (flushed and fsynced) before the next."""

    def __init__(self, path: Path) -> None:
        if path.exists():
            _drop_partial_line(path)
        self.handle = path.open("a")

    def write(self, record: dict) -> None:
        self.handle.write(json.dumps(record) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def write_all(self, records: Iterable[dict]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
