"""File names for crystals written one per file."""

from __future__ import annotations

import re
from collections.abc import Sequence

from autoperi.crystal import Crystal


def unique_stems(crystals: Sequence[Crystal], fallback: str = "structure") -> list[str]:
    """A unique, filesystem-safe stem per crystal: its id when it has one (``-2``, ``-3`` ... on repeats)."""
    stems: list[str] = []
    taken: set[str] = set()
    for index, crystal in enumerate(crystals):
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", crystal.id or "") or f"{fallback}-{index}"
        stem, repeat = base, 1
        while stem in taken:
            repeat += 1
            stem = f"{base}-{repeat}"
        taken.add(stem)
        stems.append(stem)
    return stems
