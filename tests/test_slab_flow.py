"""Slab structure prediction (issue 17): the plane x height state, the network's invariances, no wrapping
through the vacuum, samples in the given cell with their vacuum, seeds, and the training config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import fcc111

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.flow import Euclidean, FlatTorus
from autoperi.flow.manifolds import group_mean
from autoperi.generative.slab_flow import (
    SlabFlow,
    SlabFlowConfig,
    cell_height_c,
    keeps_vacuum,
    slab_batch,
    slab_state,
    thickness,
)
from autoperi.io.ase_adapter import crystal_from_atoms
from autoperi.training.config import load_config
from autoperi.training.export import build_model
from brief_training import fit_briefly

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mp_20-slab_flow.yaml"
TINY = {"hidden_dim": 16, "num_layers": 2, "num_radial": 8, "cutoff": 4.0, "max_neighbors": 12, "time_dim": 8}


def skewed_slab() -> Crystal:
    """A 5-atom slab whose c vector leans over the a-b plane (not normal to it), 18 Å tall."""
    lattice = np.array([[3.2, 0.0, 0.0], [1.1, 3.4, 0.0], [0.9, -0.6, 18.0]])
    rng = np.random.default_rng(3)
    frac = np.column_stack([rng.random((5, 2)), 0.42 + 0.16 * rng.random(5)])
    return Crystal(lattice, frac, [8, 8, 22, 22, 8], id="skewed", pbc=(True, True, False))


def pt111() -> Crystal:
    return crystal_from_atoms(fcc111("Pt", size=(2, 2, 3), vacuum=7.0), "Pt111").as_slab(axis=2)


@pytest.fixture
def slabs() -> CrystalBatch:
    return CrystalBatch.from_crystals([skewed_slab(), pt111()], dtype=torch.float64)


@pytest.fixture
def model(slabs) -> SlabFlow:
    torch.manual_seed(0)
    flow = SlabFlow(SlabFlowConfig(network=TINY, max_atoms=16)).double()
    flow.fit_statistics(slabs)
    return flow.eval()


def normal_heights(batch: CrystalBatch) -> torch.Tensor:
    """Cartesian heights along each slab's surface normal."""
    lattices = batch.lattices
    normal = torch.linalg.cross(lattices[:, 0], lattices[:, 1])
    normal = normal / normal.norm(dim=-1, keepdim=True)
    return (batch.cart_coords * normal[batch.batch]).sum(-1, keepdim=True)


def test_state_is_the_in_plane_torus_and_the_centred_height_along_the_normal(slabs, model):
    state = slab_state(slabs)
    torch.testing.assert_close(group_mean(state["height"], slabs.batch), torch.zeros_like(state["height"]))
    heights = normal_heights(slabs)
    torch.testing.assert_close(state["height"], heights - group_mean(heights, slabs.batch))
    rebuilt = slab_batch(state, slabs.lattices, slabs.atomic_numbers, slabs.num_atoms)
    assert rebuilt.periodic.tolist() == [[True, True, False]] * 2
    torch.testing.assert_close(rebuilt.frac_coords[:, :2], slabs.frac_coords[:, :2] % 1.0)
    torch.testing.assert_close(group_mean(rebuilt.frac_coords[:, 2:], slabs.batch), torch.full_like(heights, 0.5))
    # up to lattice translations in the plane, only a shift along c, the same for every atom of a slab
    shift = rebuilt.frac_coords - slabs.frac_coords
    torch.testing.assert_close(shift[:, :2], torch.round(shift[:, :2]))
    torch.testing.assert_close(shift[:, 2:], group_mean(shift[:, 2:], slabs.batch))
    manifolds = model.product_space(slabs.batch).manifolds
    assert isinstance(manifolds["plane"], FlatTorus) and isinstance(manifolds["height"], Euclidean)


def test_heights_are_never_wrapped_through_the_vacuum(slabs):
    """Heights beyond the cell stay as they are: no fractional c is reduced modulo 1, in either direction."""
    state = slab_state(slabs)
    far = {"plane": state["plane"], "height": state["height"] * 40.0}
    batch = slab_batch(far, slabs.lattices, slabs.atomic_numbers, slabs.num_atoms)
    assert batch.frac_coords[:, 2].max() > 1.0 and batch.frac_coords[:, 2].min() < 0.0
    torch.testing.assert_close(slab_state(batch)["height"], far["height"])


def test_sampling_never_wraps_heights(slabs, model, monkeypatch):
    """With a zero field the sample is the base draw: heights of tens of Å come back unwrapped."""
    model.height_scale.fill_(30.0)
    monkeypatch.setattr(
        model, "velocities", lambda state, time, batch: {key: torch.zeros_like(v) for key, v in state.items()}
    )
    generator = torch.Generator().manual_seed(0)
    base = model.base_state(slabs.num_atoms, torch.Generator().manual_seed(0))
    out = model.sample(slabs.lattices, slabs.atomic_numbers, slabs.num_atoms, steps=3, generator=generator)
    expected = 0.5 + base["height"] / cell_height_c(slabs.lattices)[slabs.batch, None]
    torch.testing.assert_close(out.frac_coords[:, 2:], expected)
    assert (out.frac_coords[:, 2] > 1.0).any() or (out.frac_coords[:, 2] < 0.0).any()


def random_rotation(seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q * torch.sign(torch.linalg.det(q))


def test_velocities_are_invariant_and_permutation_equivariant(slabs, model):
    state = slab_state(slabs)
    time = torch.tensor([0.3, 0.7], dtype=torch.float64)
    reference = model.velocities(state, time, slabs)
    assert reference["height"].abs().max() > 1e-6 and reference["plane"].abs().max() > 1e-6

    rotated = CrystalBatch(slabs.lattices @ random_rotation(1), slabs.frac_coords, slabs.atomic_numbers,
                           slabs.num_atoms, pbc=slabs.pbc)  # fmt: skip
    shift = torch.tensor([[0.37, -0.81]], dtype=torch.float64)
    moves = {
        "rotation": (state, rotated),
        "in-plane translation": ({**state, "plane": torch.remainder(state["plane"] + shift, 1.0)}, slabs),
        "lattice translation": ({**state, "plane": state["plane"] + torch.tensor([[1.0, -2.0]])}, slabs),
        "translation along c": ({**state, "height": state["height"] + 1.7}, slabs),
    }
    for name, (moved_state, batch) in moves.items():
        moved = model.velocities(moved_state, time, batch)
        for key in reference:
            torch.testing.assert_close(moved[key], reference[key], msg=f"{name}: {key}")

    order = torch.tensor([4, 2, 0, 3, 1, *range(5, len(slabs.batch))])
    permuted = CrystalBatch(slabs.lattices, slabs.frac_coords[order], slabs.atomic_numbers[order], slabs.num_atoms,
                            pbc=slabs.pbc)  # fmt: skip
    moved = model.velocities({key: v[order] for key, v in state.items()}, time, permuted)
    for key in reference:
        torch.testing.assert_close(moved[key], reference[key][order])


def test_samples_keep_the_cell_and_vacuum_and_follow_the_seed(slabs, model):
    def draw(seed: int) -> CrystalBatch:
        generator = torch.Generator().manual_seed(seed)
        return model.sample(slabs.lattices, slabs.atomic_numbers, slabs.num_atoms, steps=4, generator=generator)

    first, again, other = draw(0), draw(0), draw(1)
    torch.testing.assert_close(first.frac_coords, again.frac_coords, rtol=0, atol=0)
    assert not torch.allclose(first.frac_coords, other.frac_coords)
    targets = slabs.to_crystals()
    for sample, target in zip(first.to_crystals(), targets, strict=True):
        np.testing.assert_array_equal(sample.lattice, target.lattice)
        np.testing.assert_array_equal(sample.atomic_numbers, target.atomic_numbers)
        assert sample.pbc == (True, True, False)
        assert keeps_vacuum(sample) and thickness(sample) < target.vacuum_along(2)
    assert not keeps_vacuum(targets[0].copy(frac_coords=targets[0].frac_coords + np.array([0.0, 0.0, 0.6])))


def test_training_lowers_the_flow_loss(slabs):
    torch.manual_seed(0)
    flow = SlabFlow(SlabFlowConfig(network=TINY, max_atoms=16)).double()
    flow.fit_statistics(slabs)

    def held_loss() -> float:
        with torch.no_grad():
            return sum(float(flow.loss(slabs, torch.Generator().manual_seed(s))["total"]) for s in range(10)) / 10

    before = held_loss()
    fit_briefly(flow, slabs, steps=150)
    assert held_loss() < before


def test_the_shipped_config_builds_a_slab_flow_on_slabs_of_held_out_bulks():
    config = load_config(CONFIG)
    assert config.model_type == "slab_flow" and isinstance(build_model(config), SlabFlow)
    assert config.data.slab_bulks > 0 and config.data.val_slab_bulks > 0
    assert config.data.train_split == "lowdata_train" and config.data.val_split == "lowdata_val"


def test_train_reads_slabs_with_each_split_s_bulk_count(monkeypatch):
    from autoperi.data import slabs as slab_data
    from autoperi.training import train

    calls = []
    monkeypatch.setattr(slab_data, "load_slabs", lambda name, split, limit: calls.append((split, limit)) or [])
    config = load_config(CONFIG)
    train._crystals(config, config.data.train_split)
    train._crystals(config, config.data.val_split)
    assert calls == [("lowdata_train", config.data.slab_bulks), ("lowdata_val", config.data.val_slab_bulks)]


def test_the_fourier_network_is_refused():
    with pytest.raises(ValueError, match="PaiNN"):
        SlabFlowConfig(network={"kind": "fourier", "hidden_dim": 16})
    with pytest.raises(AutoPeriError):
        from autoperi.training.config import TrainConfig

        TrainConfig.from_dict({"model_type": "slab_flow", "model": {"network": {"kind": "fourier"}}})


def test_the_csp_matcher_compares_slabs_as_their_periodic_cells(slabs):
    """pymatgen's StructureMatcher cannot reduce a lattice with pbc (True, True, False); the CSP metric matches
    a slab with itself moved in the plane and along c, and not with the slab flattened to one plane. The vacuum
    in (V/N)^(1/3) makes it lenient: Pt(111) at half its thickness still matches."""
    from autoperi.metrics.csp import normalised_rms

    target = slabs.to_crystals()[1]
    state = slab_state(slabs)
    moved = slab_batch({**state, "plane": state["plane"] + 0.3}, slabs.lattices, slabs.atomic_numbers,
                       slabs.num_atoms).to_crystals()[1]  # fmt: skip
    assert normalised_rms(moved, target) == pytest.approx(0.0, abs=1e-6)

    def squeezed(factor: float) -> Crystal:
        heights = {**state, "height": factor * state["height"]}
        return slab_batch(heights, slabs.lattices, slabs.atomic_numbers, slabs.num_atoms).to_crystals()[1]

    assert normalised_rms(squeezed(0.5), target) > 0.2
    assert normalised_rms(squeezed(0.0), target) is None
