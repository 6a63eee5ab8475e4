"""The equivariant network's API and the consequences of its symmetry on a high-symmetry crystal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.nn import PaiNNConfig, PeriodicPaiNN
from autoperi.testing import load_sample

SMALL = PaiNNConfig(hidden_dim=16, num_layers=2, num_radial=8, condition_dim=2, vector_channels=3)


def cubic_perovskite() -> Crystal:
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return Crystal(np.eye(3) * 3.905, frac, [38, 22, 8, 8, 8], id="SrTiO3")


@pytest.fixture(scope="module")
def batch() -> CrystalBatch:
    return CrystalBatch.from_crystals(load_sample("mp_20", "val", 5), dtype=torch.float64)


def model(config: PaiNNConfig = SMALL) -> PeriodicPaiNN:
    torch.manual_seed(0)
    return PeriodicPaiNN(config).double()


def test_output_shapes_and_symmetric_lattice(batch: CrystalBatch) -> None:
    output = model()(batch, time=0.3, condition=torch.randn(batch.num_crystals, 2, dtype=torch.float64))
    num_atoms = len(batch.frac_coords)
    assert output.scalars.shape == (num_atoms, 16)
    assert output.vectors.shape == (num_atoms, 3, 3)
    assert output.lattice.shape == (batch.num_crystals, 3, 3)
    torch.testing.assert_close(output.lattice, output.lattice.transpose(1, 2))
    assert float(output.vectors.detach().abs().max()) > 1e-6


def test_site_symmetry_forces_zero_vectors_and_an_isotropic_lattice_output() -> None:
    """Every site of cubic SrTiO3 is an inversion centre and the cell is cubic: an O(3)-equivariant
    network must output zero vectors and a multiple of the identity."""
    output = model()(CrystalBatch.from_crystals([cubic_perovskite()], dtype=torch.float64), time=0.5)
    assert float(output.vectors.detach().abs().max()) < 1e-12
    lattice = output.lattice[0]
    torch.testing.assert_close(lattice, torch.eye(3, dtype=lattice.dtype) * lattice.trace() / 3, atol=1e-12, rtol=0)
    titanium_moved = cubic_perovskite().frac_coords + np.array([0, 0, 0.02]) * (np.arange(5) == 1)[:, None]
    distorted = cubic_perovskite().copy(frac_coords=titanium_moved)
    moved = model()(CrystalBatch.from_crystals([distorted], dtype=torch.float64), time=0.5)
    assert float(moved.vectors.detach().abs().max()) > 1e-6


def test_time_and_condition_change_the_output(batch: CrystalBatch) -> None:
    net = model()
    condition = torch.randn(batch.num_crystals, 2, dtype=torch.float64)
    base = net(batch, time=0.2, condition=condition).scalars
    assert not torch.allclose(base, net(batch, time=0.8, condition=condition).scalars)
    assert not torch.allclose(base, net(batch, time=0.2, condition=condition + 1).scalars)
    assert not torch.allclose(base, net(batch).scalars)


def test_condition_needs_a_condition_dimension(batch: CrystalBatch) -> None:
    net = model(PaiNNConfig(hidden_dim=8, num_layers=1, num_radial=4))
    with pytest.raises(ValueError, match="condition_dim"):
        net(batch, condition=torch.zeros(batch.num_crystals, 2, dtype=torch.float64))


def test_soft_atom_features_and_a_given_graph_match_the_defaults(batch: CrystalBatch) -> None:
    net = model()
    one_hot = torch.nn.functional.one_hot(batch.atomic_numbers, SMALL.num_species).double()
    default = net(batch, time=0.4)
    explicit = net(batch, time=0.4, graph=net.build_graph(batch), atom_features=one_hot)
    for key, value in default.as_dict().items():
        torch.testing.assert_close(explicit.as_dict()[key], value)


def test_gradients_reach_coordinates_and_lattice(batch: CrystalBatch) -> None:
    crystal = CrystalBatch.from_crystals(batch.to_crystals()[:1], dtype=torch.float64)
    net = model(PaiNNConfig(hidden_dim=8, num_layers=2, num_radial=4))
    graph = net.build_graph(crystal)

    def outputs(frac: torch.Tensor, lattices: torch.Tensor) -> tuple[torch.Tensor, ...]:
        moved = CrystalBatch(lattices, frac, crystal.atomic_numbers, crystal.num_atoms)
        output = net(moved, time=0.5, graph=graph)
        return output.scalars.sum(0), output.vectors.sum(0), output.lattice

    inputs = (crystal.frac_coords.clone().requires_grad_(True), crystal.lattices.clone().requires_grad_(True))
    assert torch.autograd.gradcheck(outputs, inputs)


def test_float32_training_step_runs(batch: CrystalBatch) -> None:
    torch.manual_seed(0)
    net = PeriodicPaiNN(SMALL)
    batch32 = batch.to(dtype=torch.float32)
    output = net(batch32, time=torch.rand(batch.num_crystals), condition=torch.randn(batch.num_crystals, 2))
    loss = output.scalars.square().mean() + output.vectors.square().mean() + output.lattice.square().mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters() if p.requires_grad)
