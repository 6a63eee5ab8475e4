"""Relaxation with CHGNet: a converged relaxation really has small forces and stress (checked with the
differentiable adapter), lowers the energy, reports steps, RMSD and atomic displacement; failures are
reported, not raised."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.physics.chgnet_adapter import chgnet_potential
from autoperi.physics.relax import displacement_rms, relax_crystals
from physics_structures import perturbed, rocksalt, silicon


def test_converged_relaxation_has_small_forces_and_stress():
    start = perturbed(silicon(), seed=0, displacement=0.05, strain=0.03)
    (result,) = relax_crystals([start], fmax=0.05, steps=200, progress=False)
    assert result.error is None and result.converged
    assert 0 < result.steps < 200
    assert result.energy_per_atom_final < result.energy_per_atom_initial - 1e-3
    batch = CrystalBatch.from_crystals([result.relaxed])
    output = chgnet_potential().evaluate(batch, forces=True, stress=True)
    assert float(output.forces.norm(dim=-1).max()) < 0.05
    # FrechetCellFilter's cell "forces" are the virial V σ divided by the number of atoms.
    assert float(output.stress.abs().max()) * result.relaxed.volume / start.num_atoms < 0.05 + 1e-3
    assert float(output.energy_per_atom[0]) == pytest.approx(result.energy_per_atom_final, abs=1e-4)
    assert result.relaxed.id == start.id
    assert np.array_equal(result.relaxed.atomic_numbers, start.atomic_numbers)
    assert 0 < result.rmsd < 0.3
    assert 0 < result.displacement < 0.2  # the start was displaced by about 0.05 Å per atom


def test_external_pressure_compresses_the_cell_as_the_bulk_modulus_says():
    """Silicon (bulk modulus about 98 GPa) at 20 GPa: a Birch-Murnaghan volume of about 0.85 of zero pressure's."""
    start = perturbed(silicon(), seed=0, displacement=0.02, strain=0.01)
    free, pressed = (relax_crystals([start], fmax=0.02, steps=300, progress=False, pressure_gpa=p)[0] for p in (0, 20))
    assert free.converged and pressed.converged
    assert 0.78 < pressed.relaxed.volume / free.relaxed.volume < 0.92


def test_displacement_ignores_translation_and_strain_and_counts_atom_moves():
    start = Crystal(4.0 * np.eye(3), np.array([[0.05, 0.5, 0.5], [0.5, 0.5, 0.5]]), np.array([11, 17]))
    translated = start.copy(frac_coords=(start.frac_coords + np.array([-0.1, 0.3, 0.9])) % 1.0)  # wraps atom 0 around
    strained = start.copy(lattice=np.diag([4.4, 3.9, 4.1]))
    assert displacement_rms(start, translated) == pytest.approx(0.0, abs=1e-12)
    assert displacement_rms(start, strained) == pytest.approx(0.0, abs=1e-12)
    moved = start.copy(frac_coords=start.frac_coords + np.array([[-0.1, 0.0, 0.0], [0.0, 0.0, 0.0]]))  # atom 0 to -0.05
    # relative shift 0.1 of the cell (0.4 Å), split ±0.2 Å around the mean drift
    assert displacement_rms(start, moved) == pytest.approx(0.2)


def test_step_limit_and_failures_are_reported():
    tight = perturbed(rocksalt(), seed=1, displacement=0.1)
    americium = silicon().copy(atomic_numbers=np.array([95, 95]), id="Am2")
    limited, failed = relax_crystals([tight, americium], fmax=1e-4, steps=3, optimizer="BFGS", progress=False)
    assert not limited.converged and limited.steps == 3 and limited.error is None
    assert failed.relaxed is None and not failed.converged and "Am" in failed.error
    assert math.isnan(failed.energy_per_atom_final) and math.isnan(failed.rmsd)


def test_trajectory_is_written(tmp_path):
    from ase.io import read

    start = perturbed(silicon(), seed=2)
    (result,) = relax_crystals([start], steps=5, trajectory_dir=tmp_path, progress=False)
    frames = read(tmp_path / "Si.traj", index=":")
    assert len(frames) == result.steps + 1
    assert frames[-1].get_potential_energy() / 2 == pytest.approx(result.energy_per_atom_final, abs=1e-5)


@pytest.mark.slow
def test_parallel_workers_give_the_same_results():
    crystals = [perturbed(silicon(), seed=seed) for seed in range(3)]
    serial = relax_crystals(crystals, steps=20, workers=1, progress=False)
    parallel = relax_crystals(crystals, steps=20, workers=2, progress=False)
    for a, b in zip(serial, parallel, strict=True):
        assert a.steps == b.steps
        assert a.energy_per_atom_final == pytest.approx(b.energy_per_atom_final, abs=1e-5)
        lattices = torch.tensor(a.relaxed.lattice), torch.tensor(b.relaxed.lattice)
        torch.testing.assert_close(*lattices, atol=1e-4, rtol=0)
