import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice

from autoperi.crystal import Crystal, lattice_to_parameters, parameters_to_lattice
from autoperi.errors import CrystalError
from autoperi.io.pymatgen_adapter import structure_from_crystal

MATCHER = StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10, primitive_cell=False)


def same_crystal(a: Crystal, b: Crystal) -> bool:
    return MATCHER.fit(structure_from_crystal(a), structure_from_crystal(b))


def test_lattice_parameters_agree_with_pymatgen(mp20_sample):
    for crystal in mp20_sample:
        expected = np.array(Lattice(crystal.lattice).parameters)
        np.testing.assert_allclose(lattice_to_parameters(crystal.lattice), expected, atol=1e-8)


def test_parameters_to_lattice_round_trip(mp20_sample):
    for crystal in mp20_sample:
        params = crystal.lattice_parameters
        rebuilt = parameters_to_lattice(*params)
        np.testing.assert_allclose(lattice_to_parameters(rebuilt), params, atol=1e-8)
        np.testing.assert_allclose(np.triu(rebuilt, 1), 0.0)  # a along x, b in the xy plane
        assert np.linalg.det(rebuilt) == pytest.approx(abs(crystal.volume), rel=1e-10)


def test_impossible_angles_are_rejected():
    with pytest.raises(CrystalError, match="do not form a cell"):
        parameters_to_lattice(4, 4, 4, 10, 10, 170)


def test_wrapped_keeps_the_crystal(mp20_sample):
    rng = np.random.default_rng(0)
    for crystal in mp20_sample[:8]:
        shifted = crystal.copy(frac_coords=crystal.frac_coords + rng.integers(-3, 4, crystal.frac_coords.shape))
        wrapped = shifted.wrapped()
        assert wrapped.frac_coords.min() >= 0 and wrapped.frac_coords.max() < 1
        # Same positions modulo 1 (a coordinate just below 1 may come back as 0 after adding integers).
        difference = wrapped.frac_coords - crystal.frac_coords
        np.testing.assert_allclose(difference - np.round(difference), 0.0, atol=1e-12)


def test_change_basis_and_niggli_keep_the_crystal(mp20_sample):
    skew = np.array([[1, 1, 0], [0, 1, 0], [0, 1, 1]])
    for crystal in mp20_sample[:8]:
        other = crystal.change_basis(skew)
        assert other.volume == pytest.approx(crystal.volume)
        assert same_crystal(crystal, other)
        reduced = other.niggli_reduced()
        np.testing.assert_allclose(
            sorted(reduced.lattice_parameters[:3]),
            sorted(Lattice(other.lattice).get_niggli_reduced_lattice().abc),
            atol=1e-6,
        )
        assert same_crystal(crystal, reduced)


def test_change_basis_rejects_non_unimodular(nacl):
    with pytest.raises(ValueError):
        nacl.change_basis(2 * np.eye(3))


def test_supercell_matches_pymatgen(mp20_sample):
    for crystal in mp20_sample[:6]:
        ours = crystal.supercell((2, 1, 3))
        theirs = structure_from_crystal(crystal).make_supercell([2, 1, 3], in_place=False)
        assert ours.num_atoms == len(theirs) == 6 * crystal.num_atoms
        np.testing.assert_allclose(ours.lattice, theirs.lattice.matrix)
        assert StructureMatcher(primitive_cell=False, scale=False).fit(structure_from_crystal(ours), theirs)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"frac_coords": np.zeros((0, 3)), "atomic_numbers": np.zeros(0)}, "zero_atoms"),
        ({"frac_coords": [[np.nan, 0, 0], [0.5, 0.5, 0.5]]}, "non_finite"),
        ({"frac_coords": [[np.inf, 0, 0], [0.5, 0.5, 0.5]]}, "non_finite"),
        ({"lattice": [[5.64, 0, 0], [0, np.nan, 0], [0, 0, 5.64]]}, "non_finite"),
        ({"lattice": [[5.64, 0, 0], [5.64, 0, 0], [0, 0, 5.64]]}, "non_positive_volume"),
        ({"lattice": -5.64 * np.eye(3)}, "non_positive_volume"),
        ({"atomic_numbers": [11, 0]}, "unknown_element"),
        ({"atomic_numbers": [11, 140]}, "unknown_element"),
    ],
)
def test_validate_rejects_bad_crystals(nacl, change, reason):
    with pytest.raises(CrystalError) as caught:
        nacl.copy(**change).validate()
    assert caught.value.reason == reason


def test_validate_atom_limit(nacl):
    big = nacl.supercell((3, 3, 3))
    assert big.validate(max_atoms=54) is big
    with pytest.raises(CrystalError) as caught:
        big.validate(max_atoms=53)
    assert caught.value.reason == "too_many_atoms"


def test_mismatched_shapes_are_rejected():
    with pytest.raises(CrystalError):
        Crystal(np.eye(3), [[0, 0, 0]], [1, 1])
    with pytest.raises(CrystalError):
        Crystal(np.eye(2), [[0, 0, 0]], [1])


def test_formula_and_symbols(nacl):
    assert nacl.symbols == ["Na", "Cl"]
    assert nacl.supercell((2, 2, 2)).formula == "NaCl"
