"""The shipped symmetry helpers: they pass symmetric functions, catch broken ones, and their transforms are
what they claim (checked against numpy and pymatgen)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice

from autoperi.batch import CrystalBatch
from autoperi.graph import metric_tensors
from autoperi.testing import (
    CartesianRotation,
    ChangeOfBasis,
    PeriodicTranslation,
    Supercell,
    assert_equivariant,
    assert_invariant,
    hand_built_crystals,
    load_sample,
    niggli_change_of_basis,
    random_permutation,
    random_rotation,
    random_unimodular,
)


@pytest.fixture(scope="module")
def batch() -> CrystalBatch:
    return CrystalBatch.from_crystals(load_sample("mp_20", "val", 4, niggli=False), dtype=torch.float64)


def cell_volume(batch: CrystalBatch) -> torch.Tensor:
    return batch.volumes.abs() / batch.num_atoms


def test_invariant_function_passes_and_variant_functions_fail(batch: CrystalBatch) -> None:
    generator = torch.Generator().manual_seed(0)
    rotation = CartesianRotation(random_rotation(generator))
    assert assert_invariant(cell_volume, batch, rotation)["output"] < 1e-10
    assert_invariant(cell_volume, batch, Supercell((2, 1, 1)))
    with pytest.raises(AssertionError, match="rotation"):
        assert_invariant(lambda b: b.cart_coords, batch, rotation)
    assert_invariant(lambda b: metric_tensors(b.lattices), batch, rotation)
    basis = ChangeOfBasis(torch.stack([random_unimodular(generator, steps=6) for _ in range(batch.num_crystals)]))
    with pytest.raises(AssertionError, match="change of basis"):
        assert_invariant(lambda b: metric_tensors(b.lattices), batch, basis)


def test_equivariant_kinds(batch: CrystalBatch) -> None:
    generator = torch.Generator().manual_seed(1)
    rotation = CartesianRotation(random_rotation(generator, reflection=True))
    assert_equivariant(lambda b: b.lattices.transpose(1, 2) @ b.lattices, batch, rotation, {"output": "crystal_tensor"})
    assert_equivariant(lambda b: b.cart_coords[:, None, :], batch, rotation, {"output": "atom_vector"})
    permutation = random_permutation(batch, generator)
    assert_equivariant(lambda b: b.atomic_numbers.double(), batch, permutation, {"output": "atom_scalar"})
    with pytest.raises(AssertionError, match="permutation"):
        assert_equivariant(lambda b: b.atomic_numbers.double(), batch, permutation, {"output": "invariant"})
    with pytest.raises(ValueError, match="unknown output kind"):
        assert_equivariant(cell_volume, batch, rotation, {"output": "pseudovector"})


def test_random_matrices_are_orthogonal_and_unimodular() -> None:
    generator = torch.Generator().manual_seed(2)
    for reflection, determinant in ((False, 1.0), (True, -1.0)):
        matrix = random_rotation(generator, reflection)
        torch.testing.assert_close(matrix @ matrix.T, torch.eye(3, dtype=torch.float64))
        assert float(torch.det(matrix)) == pytest.approx(determinant)
    determinants = {round(float(torch.det(random_unimodular(generator).double()))) for _ in range(20)}
    assert determinants <= {-1, 1}


def test_niggli_change_of_basis_matches_pymatgen(batch: CrystalBatch) -> None:
    reduced = niggli_change_of_basis(batch).apply(batch)
    for lattice, original in zip(reduced.lattices.numpy(), batch.lattices.numpy(), strict=True):
        expected = Lattice(original).get_niggli_reduced_lattice()
        np.testing.assert_allclose(Lattice(lattice).abc, expected.abc, atol=1e-8)
        np.testing.assert_allclose(Lattice(lattice).angles, expected.angles, atol=1e-6)


def test_translation_wraps_and_supercell_matches_crystal_supercell() -> None:
    crystal = hand_built_crystals()[-1]
    batch = CrystalBatch.from_crystals([crystal], dtype=torch.float64)
    moved = PeriodicTranslation(torch.tensor([[0.25, 0.5, 0.75]], dtype=torch.float64)).apply(batch)
    assert bool(torch.all((moved.frac_coords >= 0) & (moved.frac_coords < 1)))
    supercell = Supercell((2, 2, 1)).apply(batch).to_crystals()[0]
    np.testing.assert_allclose(supercell.frac_coords, crystal.supercell((2, 2, 1)).frac_coords)
