"""Zeolite framework validity (every Si bonded to 4 O, every O to 2 Si) on the real IZA frameworks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.io.pymatgen_adapter import parse_cif_text, structure_from_crystal
from autoperi.metrics.frameworks import ZeoliteRule, check_zeolite_framework, is_valid_zeolite, si_o_bond_counts

SMALL_FRAMEWORK_ATOMS = 100


def formula_atoms(cif: str) -> int:
    """Atoms per cell from the CIF's ``_chemical_formula_sum`` (``"O24 Si12"``), without parsing the CIF."""
    formula = re.search(r"_chemical_formula_sum\s+\"?([^\"\n]+)", cif).group(1)
    return sum(int(count or 1) for count in re.findall(r"[A-Z][a-z]?(\d*)", formula))


@pytest.fixture(scope="module")
def small_relaxed_frameworks(shared_data_root) -> list[Crystal]:
    """Every relaxed IZA framework of at most 100 atoms (91 of the 236)."""
    table = pd.read_csv(shared_data_root / "zeolites_iza" / "relaxed.csv.gz")
    small = table[[formula_atoms(cif) <= SMALL_FRAMEWORK_ATOMS for cif in table.cif]]
    return [parse_cif_text(cif, code)[0] for code, cif in zip(small.material_id, small.cif, strict=True)]


def framework(frameworks: list[Crystal], code: str) -> Crystal:
    return next(c for c in frameworks if c.id == code)


def test_every_small_relaxed_iza_framework_is_valid(small_relaxed_frameworks):
    assert len(small_relaxed_frameworks) == 91
    invalid = [(c.id, check_zeolite_framework(c)) for c in small_relaxed_frameworks if not is_valid_zeolite(c)]
    assert not invalid


@pytest.mark.slow
def test_every_relaxed_iza_framework_is_valid(shared_data_root):
    from autoperi.data import load_split

    frameworks = [c for split in ("train", "val", "test") for c in load_split("zeolites_iza", split, max_atoms=5000)]
    assert len(frameworks) == 236
    assert all(is_valid_zeolite(c) for c in frameworks)


def test_bond_counts_equal_pymatgen_neighbours(small_relaxed_frameworks):
    """The Si-O bonds of three frameworks against pymatgen's periodic neighbour search at 2.01 Å."""
    for code in ("SOD", "LTA", "ABW"):
        crystal = framework(small_relaxed_frameworks, code)
        structure = structure_from_crystal(crystal)
        expected = [
            sum(n.specie.symbol != site.specie.symbol for n in structure.get_neighbors(site, 2.01))
            for site in structure
        ]
        np.testing.assert_array_equal(si_o_bond_counts(crystal), expected)


def test_an_oxygen_pushed_onto_its_silicon_breaks_its_two_bonds(small_relaxed_frameworks):
    """SOD with one O moved 1 Å along its bond towards a Si: that bond shrinks to 0.6 Å, below the window, and
    the O's other bond (Si-O-Si near 160°) stretches past 2.01 Å: the O keeps no Si, both Si keep three O."""
    sod = framework(small_relaxed_frameworks, "SOD")
    numbers, cart = sod.atomic_numbers, sod.cart_coords
    oxygen = int(np.flatnonzero(numbers == 8)[0])
    structure = structure_from_crystal(sod)
    silicon = min(structure.get_neighbors(structure[oxygen], 2.0), key=lambda n: n.nn_distance)
    cart[oxygen] += (silicon.coords - cart[oxygen]) / np.linalg.norm(silicon.coords - cart[oxygen])
    perturbed = sod.copy(frac_coords=cart @ np.linalg.inv(sod.lattice))
    check = check_zeolite_framework(perturbed)
    assert (check.miscoordinated_silicon, check.miscoordinated_oxygen, check.other_atoms) == (2, 1, 0)
    assert not check.valid and is_valid_zeolite(sod)


def test_random_displacements_of_a_third_of_the_bond_length_break_the_framework(small_relaxed_frameworks):
    rng = np.random.default_rng(0)
    lta = framework(small_relaxed_frameworks, "LTA")
    noisy = lta.copy(
        frac_coords=(lta.cart_coords + rng.normal(0, 0.5, lta.cart_coords.shape)) @ np.linalg.inv(lta.lattice)
    )
    assert is_valid_zeolite(lta) and not is_valid_zeolite(noisy)


def test_the_tolerance_is_a_setting(small_relaxed_frameworks):
    """No relaxed bond is exactly 1.61 Å, so a zero tolerance fails every framework; other elements fail."""
    sod = framework(small_relaxed_frameworks, "SOD")
    assert not is_valid_zeolite(sod, ZeoliteRule(tolerance=0.0))
    assert is_valid_zeolite(sod, ZeoliteRule(tolerance=0.1))
    aluminium = sod.copy(atomic_numbers=np.where(np.arange(sod.num_atoms) == 0, 13, sod.atomic_numbers))
    assert check_zeolite_framework(aluminium).other_atoms == 1 and not is_valid_zeolite(aluminium)
    with pytest.raises(AutoPeriError, match="tolerance"):
        ZeoliteRule(tolerance=2.0)
