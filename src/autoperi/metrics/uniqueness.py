"""Uniqueness (no earlier duplicate in the set) and novelty (no match among known crystals).

Two crystals are the same when pymatgen's ``StructureMatcher`` (its defaults: ltol 0.2, stol 0.3,
angle_tol 5°) says so. Only crystals with the same reduced formula and the same number of sites in the
matcher's reduced (Niggli, then primitive) cell can match: with its default ``attempt_supercell=False`` the matcher
rejects cells of different sizes. So crystals are grouped by both first and the matcher runs within a group
(for one-element sets such as Carbon-24 that is what keeps the pairs few); groups are processed in parallel.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np

from autoperi.crystal import Crystal
from autoperi.parallel import parallel_map


@lru_cache(maxsize=1)
def _matcher():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher()


def same_structure(first, second) -> bool:
    """Whether two pymatgen Structures are the same crystal under StructureMatcher's defaults."""
    try:
        return bool(_matcher().fit(first, second))
    except Exception:  # pymatgen fails on some degenerate cells: treat them as different
        return False


def _structures(crystals: list[Crystal]) -> list:
    from autoperi.io.pymatgen_adapter import structure_from_crystal

    return [structure_from_crystal(c) for c in crystals]


MatchKey = tuple[str, int]


def _match_key(crystal: Crystal) -> MatchKey:
    """Reduced formula and site count of the matcher's reduced cell: crystals with different keys never match
    (a cell pymatgen cannot reduce gets -1; the matcher fails on it too, so it matches nothing)."""
    structure = _structures([crystal])[0]
    try:
        reduced = _matcher()._get_reduced_structure(structure, primitive_cell=True, niggli=True)
    except Exception:
        return crystal.formula, -1
    return crystal.formula, len(reduced)


def _match_keys(crystals: list[Crystal], workers: int | None) -> list[MatchKey]:
    return parallel_map(_match_key, crystals, workers, "reduced cells")


def _key_groups(crystals: list[Crystal], workers: int | None) -> dict[MatchKey, list[int]]:
    groups: dict[MatchKey, list[int]] = defaultdict(list)
    for index, key in enumerate(_match_keys(crystals, workers)):
        groups[key].append(index)
    return groups


def first_matches(group: list[Crystal]) -> list[int]:
    """For crystals in order (meant for one composition: every pair is compared): the position of the first
    crystal each one matches, its own position when it matches no earlier one."""
    structures = _structures(group)
    representatives: list[int] = []
    firsts = []
    for index, structure in enumerate(structures):
        first = next((r for r in representatives if same_structure(structure, structures[r])), index)
        if first == index:
            representatives.append(index)
        firsts.append(first)
    return firsts


def unique_mask(crystals: list[Crystal], workers: int | None = None) -> np.ndarray:
    """True for each crystal that does not duplicate an earlier one in the list."""
    groups = list(_key_groups(crystals, workers).values())
    firsts = parallel_map(
        first_matches, [[crystals[i] for i in g] for g in groups], workers, "uniqueness", unit="group"
    )
    mask = np.zeros(len(crystals), dtype=bool)
    for indices, group_firsts in zip(groups, firsts, strict=True):
        mask[indices] = [first == position for position, first in enumerate(group_firsts)]
    return mask


# Known structures by match key; set before the worker processes fork, so they inherit it unpickled.
_known_by_key: dict[MatchKey, list] = {}


def _has_known_match(item: tuple[Crystal, MatchKey]) -> bool:
    crystal, key = item
    known = _known_by_key.get(key, [])
    if not known:
        return False
    structure = _structures([crystal])[0]
    return any(same_structure(structure, other) for other in known)


def novel_mask(crystals: list[Crystal], known: list[Crystal], workers: int | None = None) -> np.ndarray:
    """True for each crystal that matches none of the ``known`` crystals (e.g. the training set)."""
    keys = _match_keys(crystals, workers)
    formulas = {crystal.formula for crystal in crystals}
    candidates = [crystal for crystal in known if crystal.formula in formulas]
    _known_by_key.clear()
    for crystal, key in zip(candidates, _match_keys(candidates, workers), strict=True):
        _known_by_key.setdefault(key, []).extend(_structures([crystal]))
    try:
        matched = parallel_map(_has_known_match, list(zip(crystals, keys, strict=True)), workers, "novelty")
    finally:
        _known_by_key.clear()
    return ~np.asarray(matched, dtype=bool)
