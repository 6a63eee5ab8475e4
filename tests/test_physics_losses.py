"""Physics losses: repulsion against pymatgen's neighbour list, volume and time weights by hand, the
combination of terms with a stand-in potential, and one CHGNet force loss against finite differences."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from ase.data import covalent_radii

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.physics.losses import (
    PhysicsLossConfig,
    physics_losses,
    repulsion_loss,
    time_weights,
    volume_loss,
)
from autoperi.physics.potential import PotentialOutput
from physics_structures import perturbed, rocksalt, silicon


def repulsion_by_neighbour_list(crystal: Crystal, scale: float) -> float:
    radii = covalent_radii[crystal.atomic_numbers]
    cutoff = 2 * scale * radii.max()
    centres, neighbours, _, distances = structure_from_crystal(crystal).get_neighbor_list(cutoff)
    overlap = np.maximum(scale * (radii[centres] + radii[neighbours]) - distances, 0.0)
    return 0.5 * float((overlap**2).sum()) / crystal.num_atoms


def squeezed_crystals() -> list[Crystal]:
    skewed = Crystal([[2.0, 0, 0], [1.7, 1.2, 0], [0.3, 0.4, 1.9]], [[0, 0, 0], [0.95, 0.05, 0.9]], [8, 1])
    # A needle cell: the 4th image along c still overlaps (a cap of 3 images per axis missed it).
    needle = Crystal(np.diag([4.0, 4.0, 0.3]), [[0, 0, 0]], [6])
    return [perturbed(rocksalt(a=3.6), seed=2), perturbed(silicon(a=3.5), seed=3), skewed, needle]


def test_repulsion_matches_pymatgen_neighbour_list():
    crystals = squeezed_crystals()
    scale = 0.9
    values = repulsion_loss(CrystalBatch.from_crystals(crystals, dtype=torch.float64), scale).numpy()
    expected = [repulsion_by_neighbour_list(c, scale) for c in crystals]
    assert min(expected) > 0  # every test crystal has overlapping pairs, periodic images included
    np.testing.assert_allclose(values, expected, rtol=1e-9)


def test_repulsion_gradient_matches_finite_differences():
    batch = CrystalBatch.from_crystals(squeezed_crystals()[1:3], dtype=torch.float64)
    frac = batch.frac_coords.clone().requires_grad_(True)
    lattices = batch.lattices.clone().requires_grad_(True)

    def loss(f, lat):
        return repulsion_loss(CrystalBatch(lat, f, batch.atomic_numbers, batch.num_atoms), 0.6).sum()

    assert torch.autograd.gradcheck(loss, (frac, lattices))


def test_repulsion_is_zero_on_real_structures(mp20_first_rows):
    assert float(repulsion_loss(CrystalBatch.from_crystals(mp20_first_rows), 0.6).max()) == 0.0


@pytest.fixture(scope="module")
def mp20_first_rows():
    """The first 64 MP-20 validation rows, parsed as given (no Niggli reduction)."""
    import pandas as pd

    from autoperi.data import data_root
    from autoperi.io.pymatgen_adapter import parse_cif_text

    rows = pd.read_csv(data_root() / "mp_20" / "val.csv.gz", nrows=64)
    return [parse_cif_text(cif, crystal_id)[0] for cif, crystal_id in zip(rows.cif, rows.material_id, strict=True)]


def test_volume_loss_by_hand():
    cubes = [Crystal(np.eye(3) * side, [[0, 0, 0]], [6]) for side in (5.0 ** (1 / 3), 3.0, 200.0 ** (1 / 3))]
    values = volume_loss(CrystalBatch.from_crystals(cubes, dtype=torch.float64), (7.5, 100.0)).numpy()
    expected = [math.log(7.5 / 5.0) ** 2, 0.0, math.log(200.0 / 100.0) ** 2]
    np.testing.assert_allclose(values, expected, rtol=1e-9, atol=1e-12)


def test_time_weights_favour_the_data_end():
    time = torch.tensor([0.0, 0.5, 1.0])
    flow = PhysicsLossConfig(data_time=1.0, time_weight_power=2.0)
    diffusion = PhysicsLossConfig(data_time=0.0, time_weight_power=1.0)
    torch.testing.assert_close(time_weights(time, 3, flow), torch.tensor([0.0, 0.25, 1.0]))
    torch.testing.assert_close(time_weights(time, 3, diffusion), torch.tensor([1.0, 0.5, 0.0]))
    torch.testing.assert_close(time_weights(None, 3, flow), torch.ones(3))


@dataclass
class HarmonicPotential:
    """Stand-in potential: energy per atom = mean squared fractional coordinate; counts its calls."""

    name: str = "harmonic"
    version: str = "test"
    calls: int = 0
    last_ids: tuple = ()

    def evaluate(self, batch, *, forces=False, stress=False, create_graph=False):
        self.calls += 1
        self.last_ids = tuple(batch.ids)
        per_atom = (batch.frac_coords**2).sum(-1)
        energy = torch.zeros(batch.num_crystals, dtype=per_atom.dtype).index_add(0, batch.batch, per_atom)
        return PotentialOutput(energy=energy, energy_per_atom=energy / batch.num_atoms)


def test_terms_are_weighted_by_time_and_summed_by_config_weight(mp20_first_rows):
    crystals = mp20_first_rows[:4]
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    time = torch.tensor([0.2, 1.0, 0.6, 0.9], dtype=torch.float64)
    config = PhysicsLossConfig(energy_weight=2.0, volume_weight=0.5, max_potential_structures=2)
    potential = HarmonicPotential()
    losses = physics_losses(batch, config, time=time, potential=potential)
    assert set(losses) == {"energy", "volume", "total"}
    assert potential.last_ids == (crystals[1].id, crystals[3].id)  # the two closest to the data end
    weights = time**2
    energy_per_atom = [float((c.frac_coords**2).sum() / c.num_atoms) for c in crystals]
    expected_energy = (weights[1] * energy_per_atom[1] + weights[3] * energy_per_atom[3]) / 2
    assert float(losses["energy"]) == pytest.approx(float(expected_energy), rel=1e-9)
    expected_volume = (weights * volume_loss(batch, config.volume_per_atom_range)).mean()
    assert float(losses["volume"]) == pytest.approx(float(expected_volume), rel=1e-9)
    assert float(losses["total"]) == pytest.approx(2.0 * float(expected_energy) + 0.5 * float(expected_volume))


def test_collapsed_cells_are_kept_from_the_potential(mp20_first_rows):
    collapsed = mp20_first_rows[0].copy(lattice=mp20_first_rows[0].lattice * 0.3, id="collapsed")
    crystals = [collapsed, *mp20_first_rows[1:3]]
    potential = HarmonicPotential()
    time = torch.tensor([1.0, 0.5, 0.2])
    config = PhysicsLossConfig(energy_weight=1.0, max_potential_structures=1)
    physics_losses(CrystalBatch.from_crystals(crystals), config, time=time, potential=potential)
    assert potential.last_ids == (crystals[1].id,)


def test_no_potential_call_without_potential_weights(mp20_first_rows):
    potential = HarmonicPotential()
    losses = physics_losses(
        CrystalBatch.from_crystals(mp20_first_rows[:4]),
        PhysicsLossConfig(repulsion_weight=1.0),
        potential=potential,
    )
    assert potential.calls == 0 and set(losses) == {"repulsion", "total"}


def test_config_from_dict_rejects_unknown_settings():
    config = PhysicsLossConfig.from_dict({"force_weight": 0.1, "volume_per_atom_range": [8, 90]})
    assert config.active_terms == ("force",) and config.volume_per_atom_range == (8, 90)
    with pytest.raises(ValueError, match="energy_wieght"):
        PhysicsLossConfig.from_dict({"energy_wieght": 1.0})


def test_chgnet_force_and_stress_loss_gradient_matches_finite_differences():
    crystal = perturbed(silicon(), seed=4, displacement=0.08)
    config = PhysicsLossConfig(force_weight=1.0, stress_weight=0.01)
    direction = torch.tensor(np.random.default_rng(5).normal(0, 1, (2, 3)))

    def loss(frac: torch.Tensor) -> torch.Tensor:
        batch = CrystalBatch.from_crystals([crystal], dtype=torch.float64)
        return physics_losses(CrystalBatch(batch.lattices, frac, batch.atomic_numbers, batch.num_atoms), config)[
            "total"
        ]

    frac = torch.tensor(crystal.frac_coords, requires_grad=True)
    (gradient,) = torch.autograd.grad(loss(frac), frac)
    step = 2e-4
    with torch.no_grad():
        finite_difference = (loss(frac + step * direction) - loss(frac - step * direction)) / (2 * step)
    directional = float((gradient * direction).sum())
    assert abs(directional) > 0.5
    assert directional == pytest.approx(float(finite_difference), rel=0.03)
