"""Framework validity of zeolites: a pure-silica framework is a network of corner-sharing SiO4 tetrahedra, so
every Si is bonded to exactly 4 O and every O to exactly 2 Si.

An Si-O pair counts as bonded when its distance (minimum image, any periodic image) lies within ``tolerance``
of the Si-O bond length, 1.61 Å (the mean of quartz and of the IZA frameworks); with the default 0.4 Å that is
1.21-2.01 Å, well below the next Si-O distance of a tetrahedral framework (about 3.6 Å).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError

SILICON, OXYGEN = 14, 8
SI_O_BOND_LENGTH = 1.61  # Å
SILICON_COORDINATION, OXYGEN_COORDINATION = 4, 2


@dataclass(frozen=True)
class ZeoliteRule:
    """Si-O bonds within ``tolerance`` Å of ``bond_length`` Å."""

    bond_length: float = SI_O_BOND_LENGTH
    tolerance: float = 0.4

    def __post_init__(self) -> None:
        if not 0 <= self.tolerance < self.bond_length:
            raise AutoPeriError(f"the Si-O tolerance must be in [0, {self.bond_length}) Å, got {self.tolerance}")


@dataclass(frozen=True)
class FrameworkCheck:
    """How many Si lack 4 bonded O, how many O lack 2 bonded Si, and how many atoms are neither Si nor O."""

    miscoordinated_silicon: int
    miscoordinated_oxygen: int
    other_atoms: int

    @property
    def valid(self) -> bool:
        return self.miscoordinated_silicon == self.miscoordinated_oxygen == self.other_atoms == 0


def si_o_bond_counts(crystal: Crystal, rule: ZeoliteRule | None = None) -> np.ndarray:
    """Per atom, how many atoms of the other species (Si for O, O for Si) are bonded to it under ``rule``;
    zero for atoms that are neither."""
    from ase.neighborlist import neighbor_list

    from autoperi.io.ase_adapter import atoms_from_crystal

    rule = rule or ZeoliteRule()
    numbers = crystal.atomic_numbers
    centers, neighbors, distances = neighbor_list("ijd", atoms_from_crystal(crystal), rule.bond_length + rule.tolerance)
    first, second = numbers[centers], numbers[neighbors]
    si_o = ((first == SILICON) & (second == OXYGEN)) | ((first == OXYGEN) & (second == SILICON))
    bonded = si_o & (np.abs(distances - rule.bond_length) <= rule.tolerance)
    return np.bincount(centers[bonded], minlength=crystal.num_atoms)


def check_zeolite_framework(crystal: Crystal, rule: ZeoliteRule | None = None) -> FrameworkCheck:
    """The coordination rule of the module docstring on one crystal."""
    counts = si_o_bond_counts(crystal, rule)
    numbers = crystal.atomic_numbers
    silicon, oxygen = numbers == SILICON, numbers == OXYGEN
    return FrameworkCheck(
        miscoordinated_silicon=int(np.sum(counts[silicon] != SILICON_COORDINATION)),
        miscoordinated_oxygen=int(np.sum(counts[oxygen] != OXYGEN_COORDINATION)),
        other_atoms=int(np.sum(~(silicon | oxygen))),
    )


def is_valid_zeolite(crystal: Crystal, rule: ZeoliteRule | None = None) -> bool:
    """Every Si bonded to 4 O, every O to 2 Si, no other element (and at least one atom)."""
    return crystal.num_atoms > 0 and check_zeolite_framework(crystal, rule).valid
