"""Energy-ranked structure prediction (``autoperi csp --rank``, benchmarks/csp_ranked.py): the distinct
candidates of each target, relaxed with CHGNet, ordered by relaxed energy per atom.

Candidates of one target that pymatgen's ``StructureMatcher`` (its defaults, as for uniqueness) finds to be
the same structure are relaxed once: the first of them stands for the others, which follow the distinct
candidates in their original order, each marked with the id of the candidate it duplicates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from autoperi.crystal import Crystal
from autoperi.metrics.uniqueness import first_matches
from autoperi.parallel import parallel_map


def duplicate_candidates(groups: list[list[Crystal]], workers: int | None = 1) -> list[dict[str, str]]:
    """Per target: the id of every candidate that duplicates an earlier one, mapped to that one's id."""
    firsts = parallel_map(first_matches, groups, workers, "duplicate candidates", unit="target")
    return [
        {group[i].id: group[first].id for i, first in enumerate(group_firsts) if first != i}
        for group, group_firsts in zip(groups, firsts, strict=True)
    ]


def energy_ranked(group: list[Crystal], duplicates: Mapping[str, str], energies: Mapping[str, float]) -> list[Crystal]:
    """The distinct candidates by energy per atom (those without a finite energy last), then the duplicates."""

    def energy(crystal: Crystal) -> float:
        value = energies.get(crystal.id, math.nan)
        return math.inf if math.isnan(value) else value

    distinct = sorted((c for c in group if c.id not in duplicates), key=energy)
    return distinct + [c for c in group if c.id in duplicates]
