"""The space-group judge on crystals whose groups are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from autoperi.crystal import Crystal
from autoperi.metrics.symmetry import (
    STRICT_SYMPREC,
    fraction_in_space_group,
    space_group_number,
    space_group_numbers,
)
from physics_structures import perturbed, rocksalt, silicon


def wurtzite(a: float = 3.25, c: float = 5.21, u: float = 0.382) -> Crystal:
    """ZnO, P6_3mc."""
    lattice = np.array([[a, 0.0, 0.0], [-a / 2, a * np.sqrt(3) / 2, 0.0], [0.0, 0.0, c]])
    frac = [[1 / 3, 2 / 3, 0.0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]]
    return Crystal(lattice, frac, [30, 30, 8, 8], id="ZnO")


def caesium_chloride(a: float = 4.12) -> Crystal:
    """CsCl, Pm-3m."""
    return Crystal(np.eye(3) * a, [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]], [55, 17], id="CsCl")


def rutile(a: float = 4.59, c: float = 2.96, u: float = 0.305) -> Crystal:
    """TiO2, P4_2/mnm."""
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [-u, -u, 0], [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]
    return Crystal(np.diag([a, a, c]), np.array(frac) % 1.0, [22, 22, 8, 8, 8, 8], id="TiO2")


@pytest.mark.parametrize(
    ("crystal", "number"),
    [(rocksalt(), 225), (silicon(), 227), (wurtzite(), 186), (caesium_chloride(), 221), (rutile(), 136)],
)
def test_known_space_groups(crystal: Crystal, number: int) -> None:
    assert space_group_number(crystal) == number
    assert space_group_number(crystal, STRICT_SYMPREC) == number


def test_same_species_on_both_sites_is_a_smaller_cell_of_higher_symmetry() -> None:
    # CsCl with one element on both sites is bcc: Im-3m, not Pm-3m
    bcc = caesium_chloride().copy(atomic_numbers=np.array([26, 26]))
    assert space_group_number(bcc) == 229


def test_small_displacements_pass_the_loose_tolerance_only() -> None:
    shaken = perturbed(rocksalt(), seed=0, displacement=0.02, strain=0.0)
    assert space_group_number(shaken) == 225
    assert space_group_number(shaken, STRICT_SYMPREC) < 225


def test_fractions_count_the_requested_group() -> None:
    crystals = [rocksalt(), rocksalt(a=5.0), wurtzite(), silicon()]
    assert space_group_numbers(crystals).tolist() == [225, 225, 186, 227]
    assert fraction_in_space_group(crystals, 225) == 0.5
    assert np.isnan(fraction_in_space_group([], 225))
