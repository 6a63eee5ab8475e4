"""Periodicity as data: slabs in Crystal and CrystalBatch, their vacuum, and pbc through extxyz, pymatgen and CIF."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import fcc111

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError, CrystalError
from autoperi.io import read_crystals, read_one_crystal
from autoperi.io.ase_adapter import crystal_from_atoms, write_extxyz
from autoperi.io.pymatgen_adapter import crystal_from_structure, structure_from_crystal, write_cif

SLAB_PBC = (True, True, False)


@pytest.fixture
def pt111() -> Crystal:
    """Pt(111), 3 layers, 7.5 Å of vacuum on each side (ASE): 15 Å between the slab and its image."""
    return crystal_from_atoms(fcc111("Pt", size=(2, 2, 3), vacuum=7.5), "Pt111")


def nacl() -> Crystal:
    return Crystal(np.eye(3) * 5.64, [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17], id="NaCl")


def test_bulk_is_the_default_and_batches_of_bulk_carry_no_pbc() -> None:
    crystal = nacl()
    assert crystal.pbc == (True, True, True) and crystal.is_bulk and crystal.vacuum_axis is None
    assert CrystalBatch.from_crystals([crystal]).pbc is None
    assert CrystalBatch.from_crystals([crystal]).to_crystals()[0].pbc == (True, True, True)


def test_ase_slab_has_its_pbc_and_vacuum(pt111: Crystal) -> None:
    assert pt111.pbc == SLAB_PBC and pt111.vacuum_axis == 2 and not pt111.is_bulk
    assert pt111.vacuum == pytest.approx(15.0, abs=1e-9)
    assert pt111.validate() is pt111
    assert "pbc=TTF" in repr(pt111)


def test_pbc_survives_copy_wrap_batch_and_pymatgen(pt111: Crystal) -> None:
    moved = pt111.copy(frac_coords=pt111.frac_coords + np.array([1.3, -0.2, 0.4]))
    wrapped = moved.wrapped()
    np.testing.assert_allclose(wrapped.frac_coords[:, 2], moved.frac_coords[:, 2])  # never wrapped
    assert np.all((wrapped.frac_coords[:, :2] >= 0) & (wrapped.frac_coords[:, :2] < 1))
    batch = CrystalBatch.from_crystals([nacl(), pt111], dtype=torch.float64)
    assert batch.periodic.tolist() == [[True, True, True], list(SLAB_PBC)]
    assert [c.pbc for c in batch.to(dtype=torch.float32).to_crystals()] == [(True, True, True), SLAB_PBC]
    structure = structure_from_crystal(pt111)
    assert structure.lattice.pbc == SLAB_PBC
    assert crystal_from_structure(structure).pbc == SLAB_PBC


def test_extxyz_round_trips_pbc(pt111: Crystal, tmp_path) -> None:
    path = write_extxyz([pt111, nacl()], tmp_path / "mixed.extxyz")
    assert 'pbc="T T F"' in path.read_text()
    slab, bulk = read_crystals(path).crystals
    assert slab.pbc == SLAB_PBC and bulk.pbc == (True, True, True)
    np.testing.assert_allclose(slab.cart_coords, pt111.cart_coords, atol=1e-8)


def test_cif_reads_as_bulk_unless_asked_for_a_slab(pt111: Crystal, tmp_path) -> None:
    path = write_cif(
        pt111.copy(frac_coords=pt111.frac_coords - np.array([0, 0, 0.2])), tmp_path / "Pt111.cif"
    )  # across c = 0
    assert read_one_crystal(path).is_bulk
    slab = read_one_crystal(path, slab=True)
    assert slab.pbc == SLAB_PBC
    assert slab.vacuum == pytest.approx(pt111.vacuum, abs=1e-5)
    assert 0 <= slab.frac_coords[:, 2].min() < 1


def test_as_slab_finds_the_vacuum_axis_and_joins_atoms_split_by_the_boundary(pt111: Crystal) -> None:
    order = [2, 0, 1]
    relabelled = Crystal(
        pt111.lattice[order], (pt111.frac_coords[:, order] + np.array([0.8, 0, 0])) % 1.0, pt111.atomic_numbers
    )
    slab = relabelled.as_slab()
    assert slab.pbc == (False, True, True) and slab.vacuum == pytest.approx(15.0, abs=1e-6)
    assert np.ptp(slab.frac_coords[:, 0]) * slab.lattice[0, 2] == pytest.approx(np.ptp(pt111.cart_coords[:, 2]))


def test_a_bulk_crystal_is_not_a_slab(tmp_path) -> None:
    with pytest.raises(CrystalError, match="not a slab") as caught:
        nacl().as_slab()
    assert caught.value.reason == "no_vacuum" and "\n" not in str(caught.value)
    path = write_cif(nacl(), tmp_path / "NaCl.cif")
    with pytest.raises(CrystalError, match="not a slab"):
        read_one_crystal(path, slab=True)
    assert read_crystals(path, slab=True).skipped == {"no_vacuum": 1}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"pbc": (True, True)}, "bad_pbc"),
        ({"pbc": (1, 1, 0)}, "bad_pbc"),
        ({"pbc": (False, False, False)}, "not_periodic"),
    ],
)
def test_bad_pbc_is_a_one_line_error(pt111: Crystal, change: dict, reason: str) -> None:
    with pytest.raises(CrystalError) as caught:
        pt111.copy(**change)
    assert caught.value.reason == reason and "\n" not in str(caught.value)
    assert isinstance(caught.value, AutoPeriError)


def test_inconsistent_vacuum_is_refused(pt111: Crystal) -> None:
    squeezed = crystal_from_atoms(fcc111("Pt", size=(2, 2, 3), vacuum=1.0))
    with pytest.raises(CrystalError, match="vacuum") as caught:
        squeezed.validate()
    assert caught.value.reason == "no_vacuum"
    with pytest.raises(CrystalError, match="non-periodic direction"):
        pt111.supercell((2, 2, 2))
    with pytest.raises(CrystalError, match="mixes periodic"):
        pt111.change_basis(np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1]]))
    with pytest.raises(CrystalError, match="bulk crystals"):
        pt111.niggli_reduced()
    assert pt111.supercell((2, 1, 1)).vacuum == pytest.approx(pt111.vacuum)
