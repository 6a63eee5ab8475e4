"""Space groups of crystals, judged by spglib (through pymatgen's ``SpacegroupAnalyzer``).

The judge of targeted generation: a sample is in its requested space group when spglib finds that group at
the position tolerance ``symprec`` (Å). :data:`JUDGE_SYMPREC` (0.1 Å, MatterGen's and the Materials
Project's setting) is the reported one; the strict 0.01 Å is reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autoperi.crystal import Crystal

JUDGE_SYMPREC = 0.1
STRICT_SYMPREC = 0.01
NO_SPACE_GROUP = 0  # what spglib found for a crystal it could not analyse (e.g. overlapping atoms)


def space_group_number(crystal: Crystal, symprec: float = JUDGE_SYMPREC) -> int:
    """International space-group number (1-230) spglib finds for ``crystal``, or 0 where it finds none."""
    import os

    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    os.environ.setdefault("SPGLIB_WARNING", "OFF")  # spglib prints a line per failed search step otherwise

    from autoperi.io.pymatgen_adapter import structure_from_crystal

    try:
        return int(SpacegroupAnalyzer(structure_from_crystal(crystal), symprec=symprec).get_space_group_number())
    except Exception:  # spglib gives up on degenerate cells; pymatgen raises various errors for them
        return NO_SPACE_GROUP


def space_group_numbers(crystals: Sequence[Crystal], symprec: float = JUDGE_SYMPREC) -> np.ndarray:
    """:func:`space_group_number` of every crystal, as an int array."""
    return np.array([space_group_number(crystal, symprec) for crystal in crystals], dtype=np.int64)


def fraction_in_space_group(crystals: Sequence[Crystal], number: int, symprec: float = JUDGE_SYMPREC) -> float:
    """Share of ``crystals`` in space group ``number`` at ``symprec`` (NaN for no crystals)."""
    if not crystals:
        return float("nan")
    return float(np.mean(space_group_numbers(crystals, symprec) == number))
