"""The candidate list of a screen, frozen on first use: read once, invalid and duplicate structures dropped.

``DIR/candidates.jsonl`` holds the kept candidates (exact coordinates), ``DIR/dropped.csv`` every entry left
out and why (unreadable, structurally invalid, duplicate). A rerun reads the frozen list back, so resuming
never resamples or rereads the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.io import read_crystals
from autoperi.io.names import unique_stems
from autoperi.io.readers import ReadReport
from autoperi.io.tables import write_rows
from autoperi.metrics.uniqueness import unique_mask
from autoperi.metrics.validity import is_structurally_valid
from autoperi.screening.store import RecordWriter, crystal_from_record, crystal_record, read_records

CANDIDATES_FILE = "candidates.jsonl"
DROPPED_FILE = "dropped.csv"


@dataclass
class Candidates:
    crystals: list[Crystal]
    dropped: list[dict[str, str]] = field(default_factory=list)  # id, formula, reason
    read_report: ReadReport | None = None  # None when read back from a frozen list


def _filtered(crystals: list[Crystal]) -> tuple[list[Crystal], list[dict[str, str]]]:
    flags = [is_structurally_valid(c) for c in crystals]
    valid = [c for c, ok in zip(crystals, flags, strict=True) if ok]
    dropped = [
        {"id": c.id, "formula": c.formula, "reason": "structurally invalid"}
        for c, ok in zip(crystals, flags, strict=True)
        if not ok
    ]
    unique = unique_mask(valid, workers=1) if valid else []
    kept = [c for c, first in zip(valid, unique, strict=True) if first]
    dropped += [
        {"id": c.id, "formula": c.formula, "reason": "duplicate of an earlier candidate"}
        for c, first in zip(valid, unique, strict=True)
        if not first
    ]
    return kept, dropped


def freeze_candidates(source: Path | None, out: Path, max_atoms: int | None = None) -> Candidates:
    """The kept candidates of ``source`` (written under ``out``), or those frozen there by an earlier run
    (``source`` may then be None: a sampled screen is not sampled again). ``max_atoms``: the atom limit
    (default: the one in force, see autoperi.limits)."""
    frozen = out / CANDIDATES_FILE
    if frozen.exists():
        return Candidates([crystal_from_record(r) for r in read_records(frozen).values()])
    if source is None:
        raise AutoPeriError(f"{out} holds no {CANDIDATES_FILE} and no candidate source was given")
    report = read_crystals(source, max_atoms=max_atoms, workers=1)
    crystals = [c.copy(id=name) for c, name in zip(report.crystals, unique_stems(report.crystals), strict=True)]
    kept, dropped = _filtered(crystals)
    unreadable = [{"id": message, "formula": "", "reason": reason} for reason, message in report.errors]
    dropped = unreadable + dropped
    if not kept:
        reason = dropped[0]["reason"] if dropped else "no structures"
        raise AutoPeriError(f"{source}: no candidate left to screen ({len(dropped)} dropped, first: {reason})")
    partial = frozen.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with RecordWriter(partial) as writer:
        writer.write_all(crystal_record(c) for c in kept)
    if dropped:
        write_rows(dropped, out / DROPPED_FILE)
    partial.rename(frozen)  # the list exists whole or not at all
    return Candidates(kept, dropped, report)
