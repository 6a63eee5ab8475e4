"""The direct crystal flow: symmetries of its vector field and of its sampler, learning, export."""

import numpy as np
import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.errors import AutoPeriError
from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
from autoperi.nn.baseline import FourierBaselineConfig, FullyConnectedBaseline
from autoperi.nn.painn import PaiNNConfig, PeriodicPaiNN
from autoperi.testing import random_permutation
from autoperi.training.config import TrainConfig
from autoperi.training.export import load_model, save_model

# No neighbour cap: with a k-nearest cap, ties between equal distances could break permutation symmetry.
TINY_NETWORK = PaiNNConfig(hidden_dim=32, num_layers=2, num_radial=16, cutoff=5.0, max_neighbors=None, time_dim=16)
TINY_FOURIER = FourierBaselineConfig(hidden_dim=32, num_layers=2, num_frequencies=4, time_dim=16)
NETWORKS = pytest.mark.parametrize("network", [TINY_NETWORK, TINY_FOURIER], ids=["painn", "fourier"])


def tiny_model(mode: str, crystals, network=TINY_NETWORK) -> CrystalFlow:
    torch.manual_seed(0)
    model = CrystalFlow(CrystalFlowConfig(mode=mode, network=network, max_atoms=24)).double()
    model.fit_statistics(CrystalBatch.from_crystals(crystals, dtype=torch.float64))
    return model


@pytest.fixture(scope="module")
def crystals(mp20_sample):
    return [c for c in mp20_sample if c.num_atoms <= 12][:6]


def partly_hidden(batch: CrystalBatch) -> CrystalBatch:
    """The batch with every third atom's type hidden (0), as in de novo sampling."""
    numbers = batch.atomic_numbers.clone()
    numbers[::3] = 0
    return CrystalBatch(batch.lattices, batch.frac_coords, numbers, batch.num_atoms)


def permutation_within_crystals(batch: CrystalBatch) -> torch.Tensor:
    return random_permutation(batch, torch.Generator().manual_seed(1)).permutation


@NETWORKS
def test_vector_field_symmetries(crystals, network):
    model = tiny_model("dng", crystals, network)
    batch = partly_hidden(CrystalBatch.from_crystals(crystals, dtype=torch.float64))
    time = torch.full((batch.num_crystals,), 0.4, dtype=torch.float64)
    reference, logits = model.velocities(batch, time)

    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64))[0]
    rotated, rotated_logits = model.velocities(
        CrystalBatch(batch.lattices @ rotation.T, batch.frac_coords, batch.atomic_numbers, batch.num_atoms), time
    )
    for key in reference:
        torch.testing.assert_close(rotated[key], reference[key])
    torch.testing.assert_close(rotated_logits, logits)

    shift = torch.rand(batch.num_crystals, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    moved = CrystalBatch(
        batch.lattices, (batch.frac_coords + shift[batch.batch]) % 1.0, batch.atomic_numbers, batch.num_atoms
    )
    translated, _ = model.velocities(moved, time)
    for key in reference:
        torch.testing.assert_close(translated[key], reference[key])

    order = permutation_within_crystals(batch)
    permuted_batch = CrystalBatch(
        batch.lattices, batch.frac_coords[order], batch.atomic_numbers[order], batch.num_atoms
    )
    permuted, permuted_logits = model.velocities(permuted_batch, time)
    torch.testing.assert_close(permuted["frac"], reference["frac"][order])
    torch.testing.assert_close(permuted["lattice"], reference["lattice"])
    torch.testing.assert_close(permuted_logits, logits[order])


@NETWORKS
def test_cell_choice_is_an_input(crystals, network):
    """The field reads the cell's 6-vector, so another basis M·L of the same crystal is not covariant: the
    Cartesian motion differs. Crystals are therefore always given in their Niggli-reduced cell."""
    model = tiny_model("csp", crystals, network)
    skew = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    original = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    other = CrystalBatch.from_crystals([c.change_basis(skew) for c in crystals], dtype=torch.float64)
    time = torch.full((original.num_crystals,), 0.7, dtype=torch.float64)
    velocity, _ = model.velocities(original, time)
    other_velocity, _ = model.velocities(other, time)
    cartesian = torch.einsum("ni,nij->nj", velocity["frac"], original.lattices[original.batch])
    other_cartesian = torch.einsum("ni,nij->nj", other_velocity["frac"], other.lattices[other.batch])
    assert not torch.allclose(other_cartesian, cartesian, atol=1e-6)


@NETWORKS
@pytest.mark.parametrize("mode", ["dng", "csp"])
def test_sampler_commutes_with_permutations_and_translations(crystals, mode, network):
    model = tiny_model(mode, crystals, network)
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    numbers = None if mode == "dng" else batch.atomic_numbers
    base = model.base_state(batch.num_atoms, torch.Generator().manual_seed(4))
    base = {key: value.double() for key, value in base.items()}
    result = model.integrate_from(base, batch.num_atoms, numbers, steps=4)

    order = permutation_within_crystals(batch)
    permuted_base = {
        key: value[order] if key in ("frac", "reveal_time", "gumbel") else value for key, value in base.items()
    }
    permuted = model.integrate_from(
        permuted_base, batch.num_atoms, None if numbers is None else numbers[order], steps=4
    )
    torch.testing.assert_close(permuted.frac_coords, result.frac_coords[order])
    torch.testing.assert_close(permuted.lattices, result.lattices)
    assert torch.equal(permuted.atomic_numbers, result.atomic_numbers[order])

    shift = torch.tensor([0.3, 0.1, 0.8], dtype=torch.float64)
    shifted = model.integrate_from({**base, "frac": (base["frac"] + shift) % 1.0}, batch.num_atoms, numbers, steps=4)
    difference = shifted.frac_coords - result.frac_coords - shift
    torch.testing.assert_close(difference - torch.round(difference), torch.zeros_like(difference))
    torch.testing.assert_close(shifted.lattices, result.lattices)


@pytest.mark.parametrize(
    "network",
    [
        PaiNNConfig(hidden_dim=32, num_layers=2, num_radial=16, cutoff=5.0, max_neighbors=16, time_dim=16),
        TINY_FOURIER,
    ],
    ids=["painn", "fourier"],
)
@pytest.mark.parametrize("mode", ["dng", "csp"])
def test_overfits_one_batch(perov_sample, mode, network):
    torch.manual_seed(0)
    model = CrystalFlow(CrystalFlowConfig(mode=mode, network=network))
    batch = CrystalBatch.from_crystals(perov_sample[:3])
    model.fit_statistics(CrystalBatch.from_crystals(perov_sample, dtype=torch.float64))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss = model.loss(batch, torch.Generator().manual_seed(0))["total"]  # the same noise and times every step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.1 * losses[0]


@NETWORKS
def test_export_round_trip(crystals, tmp_path, network):
    model = tiny_model("dng", crystals, network).float()
    config = TrainConfig(model=model.config)
    path = save_model(model, config, tmp_path / "model.pt", {"steps": 0})
    loaded, loaded_config, metadata = load_model(path)
    assert loaded_config.model == model.config and metadata == {"steps": 0}
    torch.testing.assert_close(loaded.lattice_stats, model.lattice_stats)
    generator = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    first = model.sample(torch.tensor([3, 4]), steps=3, generator=generator())
    second = loaded.sample(torch.tensor([3, 4]), steps=3, generator=generator())
    torch.testing.assert_close(first.frac_coords, second.frac_coords)
    torch.testing.assert_close(first.lattices, second.lattices)
    assert torch.equal(first.atomic_numbers, second.atomic_numbers)


@pytest.mark.parametrize(
    ("settings", "network_type"),
    [
        ({}, PeriodicPaiNN),
        ({"kind": "painn", "hidden_dim": 8}, PeriodicPaiNN),
        ({"kind": "fourier"}, FullyConnectedBaseline),
    ],
)
def test_network_is_chosen_by_kind(settings, network_type):
    config = TrainConfig.from_dict({"model": {"mode": "csp", "network": settings}})
    assert isinstance(CrystalFlow(config.model).network, network_type)
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kind": "transformer"}, r"config\.model\.network\.kind: unknown network kind 'transformer'"),
        ({"kind": "fourier", "cutoff": 5.0}, r"config\.model\.network: unknown keys \['cutoff'\]"),
        ({"kind": "fourier", "condition_dim": 3}, r"model\.network\.condition_dim is 3"),
    ],
)
def test_bad_network_choice_names_the_key(settings, message):
    with pytest.raises(AutoPeriError, match=message):
        TrainConfig.from_dict({"model": {"mode": "csp", "network": settings}})


@pytest.mark.parametrize("name", ["mp_20-crystal_flow_csp", "perov_5-crystal_flow_csp"])
def test_shipped_flows_written_before_the_choice_load_as_painn(name):
    model, config, _ = load_model(name, "crystal_flow")
    assert isinstance(config.model.network, PaiNNConfig) and isinstance(model.network, PeriodicPaiNN)


def test_chemical_system_restriction(crystals):
    model = tiny_model("dng", crystals)
    sampled = model.sample(
        torch.tensor([6, 6, 6]), steps=3, generator=torch.Generator().manual_seed(6), allowed_elements=[3, 8, 26]
    )
    assert set(sampled.atomic_numbers.tolist()) <= {3, 8, 26}


@pytest.mark.parametrize("anneal", [0.0, 3.0])
def test_frac_anneal_scales_coordinate_velocities_by_one_plus_st(crystals, anneal):
    """With a constant predicted velocity v, Euler steps move coordinates by ∫(1 + s t) v dt = (1 + s/2) v,
    up to the step error s·dt/2 of the left-endpoint rule."""
    model = tiny_model("csp", crystals).double()
    model.config.frac_anneal = anneal
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    velocity = torch.randn(len(batch.frac_coords), 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    velocity -= (
        torch.zeros_like(velocity).index_add_(0, batch.batch, velocity)[batch.batch]
        / batch.num_atoms[batch.batch, None]
    )  # no mean drift, so the torus projection keeps it
    model.predict = lambda state, *args, **kwargs: ({"frac": velocity, "lattice": torch.zeros(len(crystals), 6)}, None)
    steps = 100
    state = model.base_state(batch.num_atoms, torch.Generator().manual_seed(1))
    final = model.integrate_from(state, batch.num_atoms, batch.atomic_numbers, steps=steps)
    expected = state["frac"] + (1 + anneal / 2 - anneal / (2 * steps)) * velocity
    difference = final.frac_coords - expected
    torch.testing.assert_close(difference - difference.round(), torch.zeros_like(difference), atol=1e-9, rtol=0)
