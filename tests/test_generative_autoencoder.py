"""The periodic autoencoder: invariance of the latent, exact lattice round trip, learning on one batch."""

import numpy as np
import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.generative.autoencoder import AutoencoderConfig, PeriodicAutoencoder
from autoperi.generative.crystal_flow import CrystalFlowConfig
from autoperi.nn.painn import PaiNNConfig
from autoperi.testing import random_permutation

SMALL = PaiNNConfig(hidden_dim=32, num_layers=2, num_radial=16, cutoff=5.0, max_neighbors=None, time_dim=16)


@pytest.fixture(scope="module")
def crystals(mp20_sample):
    return [c.niggli_reduced() for c in mp20_sample if c.num_atoms <= 12][:5]


@pytest.fixture(scope="module")
def model(crystals):
    torch.manual_seed(0)
    config = AutoencoderConfig(encoder=SMALL, decoder=CrystalFlowConfig(mode="coords", network=SMALL))
    autoencoder = PeriodicAutoencoder(config).double()
    autoencoder.fit_statistics(CrystalBatch.from_crystals(crystals, dtype=torch.float64))
    return autoencoder


def assert_same_latent(a, b, atom_order=None):
    torch.testing.assert_close(a.atoms if atom_order is None else a.atoms[atom_order], b.atoms)
    torch.testing.assert_close(a.crystals, b.crystals)


def test_latent_is_invariant(model, crystals):
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    reference = model.encode(batch)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    rotated = CrystalBatch(batch.lattices @ rotation.T, batch.frac_coords, batch.atomic_numbers, batch.num_atoms)
    assert_same_latent(reference, model.encode(rotated))
    shift = torch.tensor([0.21, 0.5, 0.77], dtype=torch.float64)
    moved = CrystalBatch(batch.lattices, (batch.frac_coords + shift) % 1, batch.atomic_numbers, batch.num_atoms)
    assert_same_latent(reference, model.encode(moved))
    order = random_permutation(batch, torch.Generator().manual_seed(1)).permutation
    permuted = CrystalBatch(batch.lattices, batch.frac_coords[order], batch.atomic_numbers[order], batch.num_atoms)
    assert_same_latent(reference, model.encode(permuted), order)


def test_latent_does_not_depend_on_the_cell_choice(model, crystals):
    skew = np.array([[1, 0, 0], [1, 1, 0], [-1, 0, 1]])
    original = model.encode_crystals(crystals)
    other = model.encode_crystals([c.change_basis(skew) for c in crystals])
    torch.testing.assert_close(other.crystals, original.crystals)
    # Niggli reduction may reorder atoms' images but not atoms: per-atom latents match one for one
    torch.testing.assert_close(other.atoms, original.atoms)


def test_decoded_lattice_is_the_input_lattice(model, crystals):
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    decoded = model.decode(model.encode(batch), steps=2, generator=torch.Generator().manual_seed(0))
    for original, crystal in zip(crystals, decoded.to_crystals(), strict=True):
        np.testing.assert_allclose(crystal.lattice_parameters, original.lattice_parameters, atol=1e-6)
        assert crystal.num_atoms == original.num_atoms


def test_learns_one_batch(perov_sample):
    torch.manual_seed(0)
    config = AutoencoderConfig(encoder=SMALL, decoder=CrystalFlowConfig(mode="coords", network=SMALL))
    model = PeriodicAutoencoder(config)
    batch = CrystalBatch.from_crystals(perov_sample[:3])
    model.fit_statistics(CrystalBatch.from_crystals(perov_sample, dtype=torch.float64))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(80):
        losses = model.loss(batch, torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        history.append({key: float(value) for key, value in losses.items()})
    assert history[-1]["frac"] < 0.2 * history[0]["frac"]
    assert history[-1]["types"] < 0.3 * history[0]["types"]
