"""Round trips through CIF, pymatgen, ASE, extxyz and CDVAE CSV preserve the structure."""

import numpy as np
import pytest
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.io.ase_adapter import atoms_from_crystal, crystal_from_atoms, write_extxyz
from autoperi.io.cdvae_csv import write_cdvae_csv
from autoperi.io.pymatgen_adapter import (
    cif_text,
    crystal_from_structure,
    parse_cif_text,
    structure_from_crystal,
    write_cif,
)
from autoperi.io.readers import read_crystals

MATCHER = StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10, primitive_cell=False)


def assert_same_arrays(a: Crystal, b: Crystal, atol: float) -> None:
    np.testing.assert_allclose(a.lattice, b.lattice, atol=atol)
    np.testing.assert_allclose(a.frac_coords, b.frac_coords, atol=atol)
    np.testing.assert_array_equal(a.atomic_numbers, b.atomic_numbers)


def periodic_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    difference = a - b
    return difference - np.round(difference)


def test_pymatgen_round_trip_is_exact(mp20_sample):
    for crystal in mp20_sample:
        back = crystal_from_structure(structure_from_crystal(crystal), crystal.id)
        assert_same_arrays(crystal, back, atol=0)


def test_ase_round_trip_is_exact(mp20_sample):
    for crystal in mp20_sample:
        back = crystal_from_atoms(atoms_from_crystal(crystal))
        assert back.id == crystal.id
        assert_same_arrays(crystal, back, atol=1e-12)


def test_cif_round_trip(mp20_sample, tmp_path):
    for crystal in mp20_sample:
        path = write_cif(crystal, tmp_path / "one.cif")
        (back,) = read_crystals(path).crystals
        # CIF stores 8 decimals; the lattice is rebuilt from its parameters, so compare those.
        np.testing.assert_allclose(back.lattice_parameters, crystal.lattice_parameters, atol=1e-6)
        np.testing.assert_allclose(periodic_difference(back.frac_coords, crystal.frac_coords), 0, atol=1e-7)
        np.testing.assert_array_equal(back.atomic_numbers, crystal.atomic_numbers)
        assert MATCHER.fit(structure_from_crystal(back), structure_from_crystal(crystal))


def test_extxyz_round_trip_keeps_ids_and_properties(mp20_sample, tmp_path):
    path = write_extxyz(mp20_sample, tmp_path / "many.extxyz")
    back = read_crystals(path).crystals
    assert [c.id for c in back] == [c.id for c in mp20_sample]
    for original, read in zip(mp20_sample, back, strict=True):
        # extxyz stores Cartesian positions with 8 decimals
        np.testing.assert_allclose(read.lattice, original.lattice, atol=1e-8)
        np.testing.assert_allclose(periodic_difference(read.frac_coords, original.frac_coords), 0, atol=1e-7)
        np.testing.assert_array_equal(read.atomic_numbers, original.atomic_numbers)
        assert read.properties["band_gap"] == pytest.approx(original.properties["band_gap"])


def test_cdvae_csv_round_trip(perov_sample, tmp_path):
    path = write_cdvae_csv(perov_sample, tmp_path / "set.csv")
    back = read_crystals(path).crystals
    assert [c.id for c in back] == [c.id for c in perov_sample]
    for original, read in zip(perov_sample, back, strict=True):
        np.testing.assert_allclose(periodic_difference(read.frac_coords, original.frac_coords), 0, atol=1e-7)
        assert read.properties["heat_ref"] == pytest.approx(original.properties["heat_ref"])


def test_left_handed_cells_become_right_handed(nacl):
    left = nacl.copy(lattice=np.diag([5.64, 5.64, -5.64]), frac_coords=[[0, 0, 0], [0.5, 0.5, 0.25]])
    back = crystal_from_atoms(atoms_from_crystal(left))
    assert back.volume == pytest.approx(-left.volume)
    assert MATCHER.fit(structure_from_crystal(back), structure_from_crystal(left))


def test_cif_text_parses_back_to_one_structure(nacl):
    (back,) = parse_cif_text(cif_text(nacl))
    assert back.formula == "NaCl"


def test_batch_round_trip_and_cartesian_positions(mp20_sample):
    batch = CrystalBatch.from_crystals(mp20_sample, dtype=torch.float64)
    assert batch.num_crystals == len(mp20_sample)
    assert int(batch.num_atoms.sum()) == len(batch.frac_coords) == len(batch.batch)
    for original, back in zip(mp20_sample, batch.to_crystals(), strict=True):
        assert_same_arrays(original, back, atol=0)
    expected = np.concatenate([c.cart_coords for c in mp20_sample])
    np.testing.assert_allclose(batch.cart_coords.numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(batch.volumes.numpy(), [c.volume for c in mp20_sample])
