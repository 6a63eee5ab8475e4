"""The latent generator: permutation equivariance of its field, batch independence, learning, sampling."""

import dataclasses

import pytest
import torch

from autoperi.batch import CrystalBatch, pad_atoms
from autoperi.generative.autoencoder import AutoencoderConfig
from autoperi.generative.crystal_flow import CrystalFlowConfig
from autoperi.generative.latent_flow import LatentFlowConfig, LatentGenerator
from autoperi.nn.painn import PaiNNConfig
from autoperi.testing import random_permutation

SMALL = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)


@pytest.fixture(scope="module")
def generator(perov_sample):
    torch.manual_seed(0)
    autoencoder_config = AutoencoderConfig(encoder=SMALL, decoder=CrystalFlowConfig(mode="coords", network=SMALL))
    config = LatentFlowConfig(
        autoencoder_config=dataclasses.asdict(autoencoder_config),
        hidden_dim=32,
        num_layers=2,
        num_heads=2,
        time_dim=16,
    )
    model = LatentGenerator(config)
    model.fit_statistics(CrystalBatch.from_crystals(perov_sample, dtype=torch.float64))
    return model


def test_pad_atoms_round_trips_rows():
    num_atoms = torch.tensor([2, 3, 1])
    rows = torch.arange(12.0).reshape(6, 2)
    padded, mask = pad_atoms(rows, num_atoms)
    assert padded.shape == (3, 3, 2) and mask.sum(1).tolist() == [2, 3, 1]
    torch.testing.assert_close(padded[mask], rows)
    assert padded[~mask].abs().sum() == 0


def test_statistics_standardise_the_training_latents(generator, perov_sample):
    batch = CrystalBatch.from_crystals(perov_sample)
    latent = generator.autoencoder.encode(batch, torch.Generator().manual_seed(0))
    state = generator.standardise(latent)
    torch.testing.assert_close(state["atoms"].mean(0), torch.zeros(state["atoms"].shape[1]), atol=1e-4, rtol=0)
    spread = latent.crystals.std(0)  # cubic Perov-5 cells leave some lattice coordinates constant
    expected = spread / spread.clamp_min(1e-3)
    torch.testing.assert_close(state["crystals"].std(0), expected, atol=1e-3, rtol=1e-3)
    counts = torch.bincount(batch.num_atoms, minlength=21).float()
    torch.testing.assert_close(generator.atom_count_weights, counts)


def random_state(num_atoms, seed):
    draw = torch.Generator().manual_seed(seed)
    atoms = torch.randn(int(num_atoms.sum()), 8, generator=draw)
    return atoms, torch.randn(len(num_atoms), 14, generator=draw), torch.rand(len(num_atoms), generator=draw)


def test_field_is_permutation_equivariant_and_crystals_are_independent(generator):
    num_atoms = torch.tensor([5, 3, 7])
    atoms, crystals, time = random_state(num_atoms, 0)
    velocity = generator.velocity
    atom_v, crystal_v = velocity(atoms, crystals, num_atoms, time)
    batch = CrystalBatch(torch.eye(3).expand(3, 3, 3), torch.zeros(15, 3), torch.ones(15, dtype=torch.long), num_atoms)
    order = random_permutation(batch, torch.Generator().manual_seed(1)).permutation
    permuted_atom_v, permuted_crystal_v = velocity(atoms[order], crystals, num_atoms, time)
    torch.testing.assert_close(permuted_atom_v, atom_v[order], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(permuted_crystal_v, crystal_v, atol=1e-5, rtol=1e-5)
    alone_atom_v, alone_crystal_v = velocity(atoms[5:8], crystals[1:2], num_atoms[1:2], time[1:2])
    torch.testing.assert_close(alone_atom_v, atom_v[5:8], atol=1e-5, rtol=1e-5)  # padding does not leak
    torch.testing.assert_close(alone_crystal_v, crystal_v[1:2], atol=1e-5, rtol=1e-5)


def test_learns_one_batch(generator, perov_sample):
    model = LatentGenerator(generator.config)
    model.load_state_dict(generator.state_dict())
    batch = CrystalBatch.from_crystals(perov_sample[:4])
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for _ in range(100):
        loss = model.loss(batch, torch.Generator().manual_seed(0))["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < 0.1 * history[0]
    assert all(p.grad is None for p in model.autoencoder.parameters())  # the autoencoder stays frozen


def test_sampling_is_seeded_and_respects_counts_and_elements(generator):
    counts = torch.tensor([5, 10, 4])
    first = generator.sample(counts, steps=3, generator=torch.Generator().manual_seed(3))
    second = generator.sample(counts, steps=3, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(first.frac_coords, second.frac_coords)
    assert first.num_atoms.tolist() == [5, 10, 4]
    assert torch.isfinite(first.lattices).all() and (torch.linalg.det(first.lattices) > 0).all()
    restricted = generator.sample(counts, steps=2, generator=torch.Generator().manual_seed(3), allowed_elements=[8, 38])
    assert set(restricted.atomic_numbers.tolist()) <= {8, 38}
    with pytest.raises(Exception, match="samples compositions"):
        generator.sample(counts, atomic_numbers=torch.ones(19, dtype=torch.long))
