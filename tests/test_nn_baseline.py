"""The DiffCSP-style fully connected baseline: which invariances it has and which it lacks.

It HAS: rotation and reflection of the Cartesian frame, atom permutation (per-atom outputs follow the atoms),
rigid periodic translation, integer image shifts of single atoms.
It LACKS: invariance under a change of cell basis (the Gram matrix and the Fourier features change) and
supercell consistency (each atom sees a different set of partners and frequencies).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.graph import fully_connected_pairs
from autoperi.nn import FourierBaselineConfig, FullyConnectedBaseline
from autoperi.nn.baseline import FourierFullyConnectedLayer, add_frequencies, adds_frequencies, edge_geometry
from autoperi.testing import (
    CartesianRotation,
    ChangeOfBasis,
    ImageShift,
    PeriodicTranslation,
    Supercell,
    assert_equivariant,
    hand_built_crystals,
    load_sample,
    random_permutation,
    random_rotation,
    random_unimodular,
)

PER_ATOM = {"output": "atom_scalar"}


@pytest.fixture(scope="module")
def crystals() -> list[Crystal]:
    return load_sample("perov_5", "val", 2) + load_sample("mp_20", "val", 3) + hand_built_crystals()[1:2]


def baseline(dtype: torch.dtype) -> Callable[[CrystalBatch], torch.Tensor]:
    torch.manual_seed(0)
    model = FullyConnectedBaseline(FourierBaselineConfig(hidden_dim=32, num_layers=2, num_frequencies=4)).to(dtype)
    return lambda batch: model(batch, time=0.3)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_baseline_has_frame_permutation_translation_and_image_invariance(
    crystals: list[Crystal], dtype: torch.dtype
) -> None:
    batch = CrystalBatch.from_crystals(crystals, dtype=dtype)
    generator = torch.Generator().manual_seed(5)
    run = baseline(dtype)
    transforms = [
        CartesianRotation(random_rotation(generator)),
        CartesianRotation(random_rotation(generator, reflection=True), name="reflection"),
        random_permutation(batch, generator),
        PeriodicTranslation(torch.rand(batch.num_crystals, 3, generator=generator, dtype=torch.float64)),
        ImageShift(torch.randint(-2, 3, (len(batch.frac_coords), 3), generator=generator)),
    ]
    for transform in transforms:
        assert_equivariant(run, batch, transform, PER_ATOM)


def test_baseline_lacks_change_of_basis_invariance(crystals: list[Crystal]) -> None:
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    generator = torch.Generator().manual_seed(6)
    transform = ChangeOfBasis(torch.stack([random_unimodular(generator, steps=6) for _ in crystals]))
    assert not torch.equal(transform.matrices.abs(), torch.eye(3, dtype=torch.long).expand(len(crystals), 3, 3))
    with pytest.raises(AssertionError, match="not atom_scalar-equivariant"):
        assert_equivariant(baseline(torch.float64), batch, transform, PER_ATOM)


@pytest.mark.parametrize("repeats", [(2, 1, 1), (2, 2, 2)])
def test_baseline_lacks_supercell_consistency(crystals: list[Crystal], repeats: tuple[int, int, int]) -> None:
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    with pytest.raises(AssertionError, match="not atom_scalar-equivariant"):
        assert_equivariant(baseline(torch.float64), batch, Supercell(repeats), PER_ATOM)


def test_edge_layer_applies_its_first_linear_map_to_the_concatenated_pair_inputs(crystals: list[Crystal]) -> None:
    """The per-atom split of the edge MLP's first layer is the same map as ``Linear([h_i, h_j, geometry])``."""
    torch.manual_seed(1)
    layer = FourierFullyConnectedLayer(hidden_dim=16, num_frequencies=3).double()
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    features = torch.randn(len(batch.frac_coords), 16, dtype=torch.float64)
    pairs = fully_connected_pairs(batch.num_atoms)
    geometry = edge_geometry(batch, pairs, 3)
    centers, neighbors = pairs
    concatenated = layer.edge[0](torch.cat([features[centers], features[neighbors], geometry], dim=-1))
    torch.testing.assert_close(layer._first_edge_layer(features, geometry, centers, neighbors), concatenated)


def test_added_frequencies_start_at_zero_weight_and_keep_the_function(crystals: list[Crystal]) -> None:
    small = FourierBaselineConfig(hidden_dim=16, num_layers=2, num_frequencies=2)
    large = FourierBaselineConfig(hidden_dim=16, num_layers=2, num_frequencies=5)
    assert adds_frequencies(small, large) and not adds_frequencies(large, small)
    assert not adds_frequencies(small, FourierBaselineConfig(hidden_dim=32, num_layers=2, num_frequencies=5))
    torch.manual_seed(2)
    base = FullyConnectedBaseline(small).double()
    grown = FullyConnectedBaseline(large).double()
    grown.load_state_dict(add_frequencies(base.state_dict(), small, large))
    batch = CrystalBatch.from_crystals(crystals, dtype=torch.float64)
    torch.testing.assert_close(grown(batch, time=0.4), base(batch, time=0.4))
