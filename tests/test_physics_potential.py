"""CHGNet adapter: agreement with CHGNet's own predictions, forces and stress as energy derivatives,
gradients through the batch tensors, unsupported elements, one model per process."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units

from autoperi.batch import CrystalBatch
from autoperi.errors import CrystalError
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.physics.chgnet_adapter import chgnet_potential, load_chgnet
from autoperi.physics.potential import Potential
from autoperi.testing import (
    CartesianRotation,
    ChangeOfBasis,
    assert_equivariant,
    random_permutation,
    random_rotation,
    random_unimodular,
)
from physics_structures import perturbed, rocksalt, silicon


@pytest.fixture(scope="module")
def potential():
    return chgnet_potential()


@pytest.fixture(scope="module")
def crystals():
    return [perturbed(silicon(), seed=0), perturbed(rocksalt(), seed=1)]


def total_energy(potential, crystal) -> float:
    return float(potential.evaluate(CrystalBatch.from_crystals([crystal], dtype=torch.float64)).energy[0])


def test_matches_chgnet_predict_structure(potential, crystals):
    batch = CrystalBatch.from_crystals(crystals)
    output = potential.evaluate(batch, forces=True, stress=True)
    bounds = batch.ptr.tolist()
    for index, crystal in enumerate(crystals):
        reference = potential.model.predict_structure(structure_from_crystal(crystal), task="efs")
        assert output.energy_per_atom[index].item() == pytest.approx(float(reference["e"]), abs=1e-5)
        assert output.energy[index].item() == pytest.approx(float(reference["e"]) * crystal.num_atoms, abs=1e-4)
        forces = output.forces[bounds[index] : bounds[index + 1]].detach().numpy()
        np.testing.assert_allclose(forces, reference["f"], atol=2e-4)
        assert np.abs(reference["f"]).max() > 0.1  # the perturbation gives forces worth comparing
        np.testing.assert_allclose(output.stress[index].detach().numpy(), reference["s"] * units.GPa, atol=2e-5)


def test_forces_are_minus_energy_gradient_by_finite_differences(potential, crystals):
    crystal = crystals[0]
    forces = potential.evaluate(CrystalBatch.from_crystals([crystal]), forces=True).forces.detach().numpy()
    step = 2e-3  # Å; CHGNet runs in float32
    for atom, axis in ((0, 0), (1, 2)):
        energies = []
        for sign in (1, -1):
            cartesian = crystal.cart_coords.copy()
            cartesian[atom, axis] += sign * step
            moved = crystal.copy(frac_coords=cartesian @ np.linalg.inv(crystal.lattice))
            energies.append(total_energy(potential, moved))
        finite_difference = -(energies[0] - energies[1]) / (2 * step)
        assert forces[atom, axis] == pytest.approx(finite_difference, abs=5e-3)


def test_stress_is_strain_derivative_per_volume(potential, crystals):
    crystal = crystals[1]
    stress = potential.evaluate(CrystalBatch.from_crystals([crystal]), stress=True).stress[0].detach().numpy()
    step = 1e-3
    for i, j in ((0, 0), (0, 1)):
        strain = np.zeros((3, 3))
        strain[i, j] = strain[j, i] = step / 2 if i != j else step
        energies = [
            total_energy(potential, crystal.copy(lattice=crystal.lattice @ (np.eye(3) + sign * strain)))
            for sign in (1, -1)
        ]
        finite_difference = (energies[0] - energies[1]) / (2 * step) / crystal.volume
        expected = (stress[i, j] + stress[j, i]) / 2  # a symmetric strain probes the symmetric part
        assert expected == pytest.approx(finite_difference, abs=2e-4)
    assert np.abs(stress).max() > 1e-3


def test_gradients_reach_batch_tensors_that_require_grad(potential, crystals):
    batch = CrystalBatch.from_crystals(crystals)
    batch.frac_coords.requires_grad_(True)
    batch.lattices.requires_grad_(True)
    output = potential.evaluate(batch, forces=True, create_graph=True)
    (energy_grad,) = torch.autograd.grad(output.energy.sum(), batch.frac_coords, retain_graph=True)
    lattice_rows = batch.lattices[batch.batch]
    expected = -torch.einsum("nk,njk->nj", output.forces, lattice_rows)  # dE/df = -F Lᵀ
    torch.testing.assert_close(energy_grad, expected.detach(), atol=1e-4, rtol=1e-4)
    # A force loss differentiates the forces once more (second derivatives through CHGNet).
    (output.forces**2).sum().backward()
    assert torch.isfinite(batch.frac_coords.grad).all() and batch.frac_coords.grad.abs().sum() > 0
    assert torch.isfinite(batch.lattices.grad).all() and batch.lattices.grad.abs().sum() > 0


def test_outputs_follow_rotations_permutations_and_changes_of_basis(potential, crystals):
    generator = torch.Generator().manual_seed(0)
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    kinds = {"energy": "invariant", "forces": "atom_vector", "stress": "crystal_tensor"}

    def predict(b: CrystalBatch) -> dict[str, torch.Tensor]:
        output = potential.evaluate(b, forces=True, stress=True)
        return {"energy": output.energy, "forces": output.forces[:, None, :], "stress": output.stress}

    unimodular = torch.stack([random_unimodular(generator) for _ in crystals])
    assert (torch.linalg.det(unimodular.double()) < 0).any()  # a left-handed cell is among them
    for transform in (
        CartesianRotation(random_rotation(generator, reflection=True)),
        random_permutation(batch, generator),
        ChangeOfBasis(unimodular),
    ):
        assert_equivariant(predict, batch, transform, kinds, atol=3e-4, rtol=1e-3)


def test_unsupported_element_is_a_one_line_error(potential):
    americium = silicon().copy(atomic_numbers=np.array([95, 14]))
    with pytest.raises(CrystalError, match="element Am") as caught:
        potential.evaluate(CrystalBatch.from_crystals([americium]))
    assert caught.value.reason == "unsupported_element"


def test_model_is_loaded_once_and_implements_the_protocol(potential):
    assert chgnet_potential() is potential
    assert load_chgnet() is potential.model
    assert load_chgnet.cache_info().currsize == 1
    assert isinstance(potential, Potential)
    assert potential.version == "chgnet-0.3.0"
