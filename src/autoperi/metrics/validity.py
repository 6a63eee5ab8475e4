"""Structural and compositional validity, with the rules of the CDVAE/DiffCSP evaluation code.

Structural: every distance between two different atoms (minimum image) is at least 0.5 Å and the cell
volume is at least 0.1 Å³. Compositional: SMACT charge neutrality plus the Pauling electronegativity
test over the smact14 oxidation states (what ``Element.oxidation_states`` returned in the SMACT versions
the reference was written against); single-element structures and all-metal compositions are valid.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from functools import lru_cache

import numpy as np

from autoperi.crystal import Crystal

MIN_INTERATOMIC_DISTANCE = 0.5  # Å
MIN_CELL_VOLUME = 0.1  # Å^3
# DiffCSP gives up (invalid) when the oxidation-state combinations exceed this count.
MAX_OXIDATION_COMBINATIONS = 10**7


def min_interatomic_distance(crystal: Crystal) -> float:
    """Smallest minimum-image distance between two different atoms (inf for a one-atom cell)."""
    from pymatgen.core import Lattice

    if crystal.num_atoms < 2:
        return math.inf
    distances = Lattice(crystal.lattice).get_all_distances(crystal.frac_coords, crystal.frac_coords)
    np.fill_diagonal(distances, np.inf)
    return float(distances.min())


def is_structurally_valid(crystal: Crystal) -> bool:
    if not (np.all(np.isfinite(crystal.lattice)) and np.all(np.isfinite(crystal.frac_coords))):
        return False
    if abs(crystal.volume) < MIN_CELL_VOLUME:
        return False
    return min_interatomic_distance(crystal) >= MIN_INTERATOMIC_DISTANCE


def reduced_composition(atomic_numbers: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Elements sorted by atomic number and their counts divided by the common divisor."""
    counter = Counter(int(z) for z in atomic_numbers)
    elements = tuple(sorted(counter))
    counts = np.array([counter[z] for z in elements])
    return elements, tuple(int(c) for c in counts // np.gcd.reduce(counts))


def is_compositionally_valid(crystal: Crystal) -> bool:
    return composition_is_valid(*reduced_composition(crystal.atomic_numbers))


@lru_cache(maxsize=65536)
def composition_is_valid(elements: tuple[int, ...], counts: tuple[int, ...]) -> bool:
    """SMACT validity of a reduced composition given as atomic numbers and integer counts."""
    import smact
    from ase.data import chemical_symbols

    symbols = [chemical_symbols[z] for z in elements]
    if len(symbols) == 1:
        return True
    if all(symbol in smact.metals for symbol in symbols):
        return True
    try:
        smact_elements = [smact.Element(symbol) for symbol in symbols]
    except KeyError:  # SMACT has no data for the heaviest elements: no oxidation states, so not neutral
        return False
    oxidation_sets = [element.oxidation_states_smact14 or [] for element in smact_elements]
    if math.prod(len(states) for states in oxidation_sets) > MAX_OXIDATION_COMBINATIONS:
        return False
    electronegativities = [element.pauling_eneg for element in smact_elements]
    stoichiometries = [(count,) for count in counts]
    for oxidation_states in itertools.product(*oxidation_sets):
        if not smact.neutral_ratios(oxidation_states, stoichs=stoichiometries, threshold=max(counts)):
            continue
        if _passes_pauling_test(oxidation_states, electronegativities):
            return True
    return False


def _passes_pauling_test(oxidation_states: tuple[int, ...], electronegativities: list[float | None]) -> bool:
    """Cations less electronegative than anions, pair by pair, as the reference ran SMACT 2.2.1's test.

    Its ``eneg_states_test`` compared a cation-anion pair before looking for a missing electronegativity
    (``None >= x`` raised ``TypeError``, which the reference caught as a pass), and returned False for any
    other pair (same sign, or a zero state) with a missing value. SMACT 4 returns False for every such pair.
    """
    pairs = itertools.combinations(zip(oxidation_states, electronegativities, strict=True), 2)
    for (ox1, eneg1), (ox2, eneg2) in pairs:
        if _missing(eneg1) or _missing(eneg2):
            return ox1 * ox2 < 0
        if (ox1 > 0 and ox2 < 0 and eneg1 >= eneg2) or (ox1 < 0 and ox2 > 0 and eneg1 <= eneg2):
            return False
    return True


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)
