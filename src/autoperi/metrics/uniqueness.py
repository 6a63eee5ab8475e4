"""Uniqueness (no earlier duplicate in the set) and novelty (no match among known crystals).

Two crystals are the same when pymatgen's ``StructureMatcher`` (its defaults: ltol 0.2, stol 0.3,
angle_tol 5°) says so. Only crystals with the same reduced formula can match, so crystals are grouped by
formula first and the matcher runs within a group; groups are processed in parallel.
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


def _same(first, second) -> bool:
    try:
        return bool(_matcher().fit(first, second))
    except Exception:  # pymatgen fails on some degenerate cells: treat them as different
        return False


def _structures(crystals: list[Crystal]) -> list:
    from autoperi.io.pymatgen_adapter import structure_from_crystal

    return [structure_from_crystal(c) for c in crystals]


def _formula_groups(crystals: list[Crystal]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, crystal in enumerate(crystals):
        groups[crystal.formula].append(index)
    return groups


def _first_occurrences(group: list[Crystal]) -> list[bool]:
    """For crystals of one formula, in order: True where no earlier crystal matches it."""
    structures = _structures(group)
    representatives: list = []
    flags = []
    for structure in structures:
        is_new = not any(_same(structure, other) for other in representatives)
        if is_new:
            representatives.append(structure)
        flags.append(is_new)
    return flags


def unique_mask(crystals: list[Crystal], workers: int | None = None) -> np.ndarray:
    """True for each crystal that does not duplicate an earlier one in the list."""
    groups = list(_formula_groups(crystals).values())
    flags = parallel_map(
        _first_occurrences, [[crystals[i] for i in g] for g in groups], workers, "uniqueness", unit="formula"
    )
    mask = np.zeros(len(crystals), dtype=bool)
    for indices, group_flags in zip(groups, flags, strict=True):
        mask[indices] = group_flags
    return mask


# Known structures by reduced formula; set before the worker processes fork, so they inherit it unpickled.
_known_by_formula: dict[str, list] = {}


def _has_known_match(crystal: Crystal) -> bool:
    known = _known_by_formula.get(crystal.formula, [])
    if not known:
        return False
    structure = _structures([crystal])[0]
    return any(_same(structure, other) for other in known)


def novel_mask(crystals: list[Crystal], known: list[Crystal], workers: int | None = None) -> np.ndarray:
    """True for each crystal that matches none of the ``known`` crystals (e.g. the training set)."""
    formulas = {crystal.formula for crystal in crystals}
    _known_by_formula.clear()
    for crystal in known:
        formula = crystal.formula
        if formula in formulas:
            _known_by_formula.setdefault(formula, []).extend(_structures([crystal]))
    try:
        matched = parallel_map(_has_known_match, crystals, workers, "novelty")
    finally:
        _known_by_formula.clear()
    return ~np.asarray(matched, dtype=bool)
