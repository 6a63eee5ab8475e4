"""Symmetries of the equivariant periodic network, proven on dataset crystals and hand-built hard cells.

Every transform is checked in float64 (tolerance 1e-10 absolute, 1e-8 relative) and in float32 (1e-6
absolute, 1e-4 relative), with and without the k-nearest cap.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.nn import NetworkOutput, PaiNNConfig, PeriodicPaiNN
from autoperi.testing import (
    CartesianRotation,
    ChangeOfBasis,
    CrystalTransform,
    ImageShift,
    PeriodicTranslation,
    Supercell,
    assert_equivariant,
    hand_built_crystals,
    load_sample,
    niggli_change_of_basis,
    random_permutation,
    random_rotation,
    random_unimodular,
)

DTYPES = [torch.float64, torch.float32]


@pytest.fixture(scope="module")
def crystals() -> list[Crystal]:
    hard_cells = [c for c in hand_built_crystals() if c.id in ("tiny-triclinic", "skewed", "unwrapped")]
    return load_sample("perov_5", "val", 3) + load_sample("mp_20", "val", 4, start=20) + hard_cells


def network(dtype: torch.dtype, max_neighbors: int | None = None) -> Callable[[CrystalBatch], NetworkOutput]:
    torch.manual_seed(0)
    config = PaiNNConfig(hidden_dim=32, num_layers=3, num_radial=16, condition_dim=3, max_neighbors=max_neighbors)
    model = PeriodicPaiNN(config).to(dtype)
    generator = torch.Generator().manual_seed(1)
    time = torch.rand(32, generator=generator, dtype=torch.float64).to(dtype)
    condition = torch.randn(32, 3, generator=generator, dtype=torch.float64).to(dtype)

    def run(batch: CrystalBatch) -> NetworkOutput:
        return model(batch, time=time[: batch.num_crystals], condition=condition[: batch.num_crystals])

    return run


def rotation(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return CartesianRotation(random_rotation(generator))


def reflection(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return CartesianRotation(random_rotation(generator, reflection=True), name="reflection")


def permutation(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return random_permutation(batch, generator)


def translation(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return PeriodicTranslation(torch.rand(batch.num_crystals, 3, generator=generator, dtype=torch.float64))


def image_shift(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return ImageShift(torch.randint(-2, 3, (len(batch.frac_coords), 3), generator=generator))


def change_of_basis(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return ChangeOfBasis(torch.stack([random_unimodular(generator) for _ in range(batch.num_crystals)]))


def niggli(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    skewed = change_of_basis(batch, generator).apply(batch)  # start from a non-reduced cell
    return niggli_change_of_basis(skewed)


def supercell_211(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return Supercell((2, 1, 1))


def supercell_222(batch: CrystalBatch, generator: torch.Generator) -> CrystalTransform:
    return Supercell((2, 2, 2))


TRANSFORMS = [
    rotation,
    reflection,
    permutation,
    translation,
    image_shift,
    change_of_basis,
    niggli,
    supercell_211,
    supercell_222,
]


@pytest.mark.parametrize("make_transform", TRANSFORMS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("max_neighbors", [None, 8], ids=["cutoff", "k8"])
def test_network_outputs_follow_the_transform(
    crystals: list[Crystal], make_transform: Callable, dtype: torch.dtype, max_neighbors: int | None
) -> None:
    batch = CrystalBatch.from_crystals(crystals, dtype=dtype)
    transform = make_transform(batch, torch.Generator().manual_seed(7))
    if transform.name == "Niggli reduction":
        batch = change_of_basis(batch, torch.Generator().manual_seed(7)).apply(batch)
    assert_equivariant(network(dtype, max_neighbors), batch, transform)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_the_checks_are_sensitive(crystals: list[Crystal], dtype: torch.dtype) -> None:
    """The outputs are far from trivial: rotating changes the vectors and lattice by much more than the
    tolerance, and a strain (not a symmetry) changes the invariant scalars."""
    batch = CrystalBatch.from_crystals(crystals, dtype=dtype)
    run = network(dtype)
    generator = torch.Generator().manual_seed(3)
    with pytest.raises(AssertionError, match="vectors"):
        assert_equivariant(run, batch, CartesianRotation(random_rotation(generator)), kinds=invariant_kinds())
    strain = CartesianRotation(torch.diag(torch.tensor([1.02, 1.0, 0.99], dtype=torch.float64)), name="strain")
    with pytest.raises(AssertionError, match="scalars"):
        assert_equivariant(run, batch, strain)


def invariant_kinds() -> dict[str, str]:
    return {"scalars": "atom_scalar", "vectors": "atom_scalar", "lattice": "invariant"}
