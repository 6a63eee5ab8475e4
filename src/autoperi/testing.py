"""Test helpers for the symmetries of functions of crystals, in the spirit of e3nn's ``assert_equivariant``.

A :class:`CrystalTransform` maps a :class:`~autoperi.batch.CrystalBatch` to another description of the same
(or a rotated) crystal and says how each kind of output must change. ``assert_equivariant(fn, batch,
transform)`` checks ``fn(transform.apply(batch)) == transform.expected(fn(batch))`` for every output;
``assert_invariant`` checks that every output is unchanged. Output kinds:

- ``invariant``: unchanged (any shape);
- ``atom_scalar`` (N, ...): follows the atoms (permuted, repeated in a supercell);
- ``atom_vector`` (N, C, 3): follows the atoms and rotates as ``v @ R.T``;
- ``crystal_tensor`` (B, 3, 3): a Cartesian rank-2 tensor per crystal, rotates as ``R S R.T``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal

KINDS = ("invariant", "atom_scalar", "atom_vector", "crystal_tensor")
# Default (atol, rtol) of the symmetry checks. float32 leaves room for rounding of ~1e-7 per operation
# through a few layers; pass larger tolerances for deep or wide networks.
TOLERANCES = {torch.float64: (1e-10, 1e-8), torch.float32: (1e-6, 1e-4)}


class CrystalTransform:
    """A change of description of a batch of crystals, and how outputs must follow it."""

    name = "identity"

    def apply(self, batch: CrystalBatch) -> CrystalBatch:
        return batch

    def expected(self, value: torch.Tensor, kind: str, batch: CrystalBatch) -> torch.Tensor:
        """The output of the transformed batch, predicted from ``value``, the output of ``batch``."""
        return value


@dataclass
class CartesianRotation(CrystalTransform):
    """Rotate (with det -1: reflect) the Cartesian frame: ``L -> L @ R.T``, same fractional coordinates."""

    matrix: torch.Tensor
    name: str = "rotation"

    def apply(self, batch: CrystalBatch) -> CrystalBatch:
        return replace(batch, lattices=batch.lattices @ self.matrix.to(batch.lattices).T)

    def expected(self, value: torch.Tensor, kind: str, batch: CrystalBatch) -> torch.Tensor:
        rotation = self.matrix.to(value)
        if kind == "atom_vector":
            return value @ rotation.T
        if kind == "crystal_tensor":
            return rotation @ value @ rotation.T
        return value


@dataclass
class AtomPermutation(CrystalTransform):
    """Reorder atoms inside each crystal; ``permutation[k]`` is the old index of new atom ``k``."""

    permutation: torch.Tensor
    name: str = "permutation"

    def apply(self, batch: CrystalBatch) -> CrystalBatch:
        return replace(
            batch,
            frac_coords=batch.frac_coords[self.permutation],
            atomic_numbers=batch.atomic_numbers[self.permutation],
        )

    def expected(self, value: torch.Tensor, kind: str, batch: CrystalBatch) -> torch.Tensor:
        return value[self.permutation] if kind in ("atom_scalar", "atom_vector") else value


@dataclass
class PeriodicTranslation(CrystalTransform):
    """Translate every atom of crystal ``b`` by ``shifts[b]`` (fractional) and wrap into [0, 1)."""

    shifts: torch.Tensor
    name: str = "translation"

    def apply(self, batch: CrystalBatch) -> CrystalBatch:
        moved = batch.frac_coords + self.shifts.to(batch.frac_coords)[batch.batch]
        return replace(batch, frac_coords=torch.remainder(moved, 1.0))


@dataclass
class ImageShift(CrystalTransform):
    """Move single atoms to periodic images of themselves: ``frac += shifts`` (integers, (N, 3))."""

    shifts: torch.Tensor
    name: str = "image shift"

    def apply(self, batch: CrystalBatch) -> CrystalBatch:
        return replace(batch, frac_coords=batch.frac_coords + self.shifts.to(batch.frac_coords))


@dataclass
class ChangeOfBasis(CrystalTransform):
    """Describe crystal ``b`` in the cell ``M_b @ L`` (``M_b`` integer, det ±1), coordinates wrapped."""

    matrices: torch.Tensor
    name: str = "change of basis"

    def apply(self, batch: CrystalBatch) -> CrystalBatch:
        matrices = self.matrices.to(torch.float64)
        inverses = torch.round(torch.linalg.inv(matrices))
        frac = torch.einsum("ni,nij->nj", batch.frac_coords.double(), inverses[batch.batch])
        return replace(
            batch,
            lattices=(matrices @ batch.lattices.double()).to(batch.lattices.dtype),
            frac_coords=torch.remainder(frac, 1.0).to(batch.frac_coords.dtype),
        )


@dataclass
class Supercell(CrystalTransform):
    """Replace each crystal by its diagonal supercell; atoms are atom-major (all images of atom 0 first)."""

    repeats: tuple[int, int, int]
    name: str = "supercell"

    def apply(self, batch: CrystalBatch) -> CrystalBatch:
        crystals = [crystal.supercell(self.repeats) for crystal in batch.to_crystals()]
        return CrystalBatch.from_crystals(crystals, dtype=batch.frac_coords.dtype)

    def expected(self, value: torch.Tensor, kind: str, batch: CrystalBatch) -> torch.Tensor:
        if kind in ("atom_scalar", "atom_vector"):
            return value.repeat_interleave(int(np.prod(self.repeats)), dim=0)
        return value


def random_rotation(generator: torch.Generator, reflection: bool = False) -> torch.Tensor:
    """A uniformly random rotation matrix (float64); with ``reflection`` an improper one (det -1)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return -q if reflection else q


def random_unimodular(generator: torch.Generator, steps: int = 4) -> torch.Tensor:
    """A random integer 3x3 matrix with determinant ±1 (a product of shears and a sign flip), int64."""
    matrix = torch.eye(3, dtype=torch.long)
    for _ in range(steps):
        row, col = torch.randperm(3, generator=generator)[:2].tolist()
        shear = torch.eye(3, dtype=torch.long)
        shear[row, col] = int(torch.randint(-1, 2, (1,), generator=generator))
        matrix = shear @ matrix
    if torch.rand(1, generator=generator) < 0.5:
        matrix[int(torch.randint(0, 3, (1,), generator=generator))] *= -1
    return matrix


def random_permutation(batch: CrystalBatch, generator: torch.Generator) -> AtomPermutation:
    blocks = [
        start + torch.randperm(int(count), generator=generator)
        for start, count in zip(batch.ptr[:-1].tolist(), batch.num_atoms.tolist(), strict=True)
    ]
    return AtomPermutation(torch.cat(blocks))


def niggli_change_of_basis(batch: CrystalBatch) -> ChangeOfBasis:
    """The change of basis that takes every crystal of the batch to its Niggli-reduced cell (pymatgen)."""
    from pymatgen.core import Lattice

    matrices = []
    for lattice in batch.lattices.double().numpy():
        reduced = Lattice(lattice).get_niggli_reduced_lattice().matrix
        matrices.append(np.round(reduced @ np.linalg.inv(lattice)))
    return ChangeOfBasis(torch.as_tensor(np.stack(matrices), dtype=torch.long), name="Niggli reduction")


def _as_mapping(output: Any) -> dict[str, torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return {"output": output}
    if hasattr(output, "as_dict"):
        return output.as_dict()
    return dict(output)


def _output_kinds(output: Any, kinds: Mapping[str, str] | None) -> Mapping[str, str]:
    if kinds is not None:
        return kinds
    return getattr(output, "KINDS", {"output": "invariant"})


def assert_equivariant(
    function: Callable[[CrystalBatch], Any],
    batch: CrystalBatch,
    transform: CrystalTransform,
    kinds: Mapping[str, str] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> dict[str, float]:
    """Assert that every output of ``function`` follows ``transform``; returns the largest deviation of each.

    ``function`` returns a tensor, a mapping of tensors or an object with ``as_dict()`` (and optionally a
    ``KINDS`` mapping, as :class:`~autoperi.nn.NetworkOutput` has). ``kinds`` names each output's kind.
    Tolerances default to :data:`TOLERANCES` for the batch's dtype.
    """
    default_atol, default_rtol = TOLERANCES.get(batch.frac_coords.dtype, TOLERANCES[torch.float32])
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol
    raw = function(batch)
    kinds = _output_kinds(raw, kinds)
    original = _as_mapping(raw)
    transformed = _as_mapping(function(transform.apply(batch)))
    deviations = {}
    for key, value in original.items():
        if kinds[key] not in KINDS:
            raise ValueError(f"unknown output kind {kinds[key]!r}; expected one of {KINDS}")
        expected = transform.expected(value, kinds[key], batch)
        actual = transformed[key]
        if actual.shape != expected.shape:
            shapes = f"{tuple(actual.shape)}, expected {tuple(expected.shape)}"
            raise AssertionError(f"{transform.name}: output {key!r} has shape {shapes}")
        deviations[key] = float((actual - expected).detach().abs().max()) if actual.numel() else 0.0
        torch.testing.assert_close(
            actual,
            expected,
            atol=atol,
            rtol=rtol,
            msg=lambda text, key=key: f"{transform.name}: output {key!r} is not {kinds[key]}-equivariant. {text}",
        )
    return deviations


def assert_invariant(
    function: Callable[[CrystalBatch], Any],
    batch: CrystalBatch,
    transform: CrystalTransform,
    atol: float | None = None,
    rtol: float | None = None,
) -> dict[str, float]:
    """Assert that every output of ``function`` is unchanged by ``transform``; returns the deviations."""
    keys = _as_mapping(function(batch)).keys()
    return assert_equivariant(function, batch, transform, dict.fromkeys(keys, "invariant"), atol, rtol)


def load_sample(dataset: str, split: str, count: int, start: int = 0, niggli: bool = True) -> list[Crystal]:
    """``count`` crystals from rows ``start..`` of a CDVAE split (e.g. ``load_sample("mp_20", "val", 8)``)."""
    from autoperi.data.datasets import split_file
    from autoperi.io.cdvae_csv import parse_rows, read_table, table_rows

    path = split_file(dataset, split)
    rows = table_rows(read_table(path).iloc[start : start + count])
    return [item for item in parse_rows(rows, niggli=niggli, workers=1) if isinstance(item, Crystal)]


def hand_built_crystals() -> list[Crystal]:
    """Cells that stress a periodic neighbour list at a 5 Å cutoff: smaller than the cutoff, thin, skewed,
    with coordinates outside [0, 1)."""
    return [
        Crystal(np.eye(3) * 1.9, [[0.0, 0.0, 0.0]], [3], id="tiny-cubic"),
        Crystal.from_parameters(
            (2.1, 2.4, 2.7),
            (75.0, 95.0, 105.0),
            [[0.1, 0.2, 0.3], [0.6, 0.7, 0.4]],
            [6, 8],
            id="tiny-triclinic",
        ),
        Crystal(np.diag([6.0, 5.5, 0.93]), [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]], [14, 14], id="thin"),
        Crystal(
            [[4.0, 0.0, 0.0], [3.9, 0.8, 0.0], [3.8, 0.5, 0.7]],
            [[0.1, 0.2, 0.3], [0.8, 0.4, 0.9]],
            [26, 28],
            id="skewed",
        ),
        Crystal.from_parameters(
            (5.1, 5.3, 7.0),
            (60.0, 110.0, 70.0),
            [[-0.3, 1.7, 0.2], [0.45, -1.1, 2.6], [0.9, 0.1, 0.5]],
            [8, 1, 1],
            id="unwrapped",
        ),
    ]
