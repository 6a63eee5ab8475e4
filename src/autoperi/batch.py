"""The batched torch form of :class:`~autoperi.crystal.Crystal`.

Atoms of all crystals are concatenated; ``batch[i]`` is the crystal index of atom ``i``. ``pbc`` (B, 3)
says which lattice directions of each crystal are periodic; None (every batch of bulk crystals) means all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from autoperi.crystal import Crystal


def batch_index(num_atoms: torch.Tensor) -> torch.Tensor:
    """Crystal index of every atom, shape (N,), from the atom counts (B,)."""
    return torch.repeat_interleave(torch.arange(len(num_atoms), device=num_atoms.device), num_atoms)


def pad_atoms(values: torch.Tensor, num_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-atom rows (N, ...) as a zero-padded (B, max atoms, ...) tensor (differentiable) and its (B, max
    atoms) mask of real atoms; ``padded[mask]`` gives the rows back in order."""
    crystal = batch_index(num_atoms)
    first = torch.cumsum(num_atoms, 0) - num_atoms
    position = torch.arange(len(crystal), device=values.device) - first[crystal]
    padded = values.new_zeros((len(num_atoms), int(num_atoms.max()), *values.shape[1:]))
    padded = padded.index_put((crystal, position), values)
    mask = torch.zeros(padded.shape[:2], dtype=torch.bool, device=values.device)
    mask[crystal, position] = True
    return padded, mask


def _numeric(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def shared_labels(crystals: Sequence[Crystal]) -> dict[str, torch.Tensor]:
    """The numeric properties every crystal has, as (B,) float64 tensors."""
    names = [k for k, v in crystals[0].properties.items() if _numeric(v)]
    shared = [k for k in names if all(_numeric(c.properties.get(k)) for c in crystals)]
    return {k: torch.tensor([float(c.properties[k]) for c in crystals], dtype=torch.float64) for k in shared}


@dataclass
class CrystalBatch:
    lattices: torch.Tensor  # (B, 3, 3), rows are lattice vectors
    frac_coords: torch.Tensor  # (N, 3)
    atomic_numbers: torch.Tensor  # (N,) int64
    num_atoms: torch.Tensor  # (B,) int64
    ids: list[str | None] = field(default_factory=list)
    pbc: torch.Tensor | None = None  # (B, 3) bool; None: periodic in every direction
    # Per-crystal numeric properties every crystal of the batch has (e.g. MP-20's band_gap), (B,) float64:
    # the labels conditioned models train on.
    labels: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def from_crystals(cls, crystals: Sequence[Crystal], dtype: torch.dtype = torch.float32) -> CrystalBatch:
        if len(crystals) == 0:
            raise ValueError("cannot batch an empty list of crystals")
        return cls(
            lattices=torch.as_tensor(np.stack([c.lattice for c in crystals]), dtype=dtype),
            frac_coords=torch.as_tensor(np.concatenate([c.frac_coords for c in crystals]), dtype=dtype),
            atomic_numbers=torch.as_tensor(np.concatenate([c.atomic_numbers for c in crystals])),
            num_atoms=torch.as_tensor([c.num_atoms for c in crystals], dtype=torch.long),
            ids=[c.id for c in crystals],
            pbc=None if all(c.is_bulk for c in crystals) else torch.tensor([c.pbc for c in crystals]),
            labels=shared_labels(crystals),
        )

    @property
    def num_crystals(self) -> int:
        return len(self.num_atoms)

    @property
    def periodic(self) -> torch.Tensor:
        """Which lattice directions of each crystal are periodic, (B, 3) bool."""
        if self.pbc is None:
            return torch.ones(self.num_crystals, 3, dtype=torch.bool, device=self.lattices.device)
        return self.pbc

    @property
    def batch(self) -> torch.Tensor:
        """Crystal index of every atom, shape (N,)."""
        return batch_index(self.num_atoms)

    @property
    def ptr(self) -> torch.Tensor:
        """Offsets of each crystal's first atom, shape (B + 1,)."""
        return torch.cat([self.num_atoms.new_zeros(1), torch.cumsum(self.num_atoms, 0)])

    @property
    def cart_coords(self) -> torch.Tensor:
        """Cartesian positions, differentiable with respect to fractional coordinates and lattices."""
        return torch.einsum("ni,nij->nj", self.frac_coords, self.lattices[self.batch])

    @property
    def volumes(self) -> torch.Tensor:
        return torch.linalg.det(self.lattices)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CrystalBatch:
        return replace(
            self,
            lattices=self.lattices.to(device=device, dtype=dtype),
            frac_coords=self.frac_coords.to(device=device, dtype=dtype),
            atomic_numbers=self.atomic_numbers.to(device=device),
            num_atoms=self.num_atoms.to(device=device),
            pbc=None if self.pbc is None else self.pbc.to(device=device),
            labels={name: values.to(device=device) for name, values in self.labels.items()},
        )

    def to_crystals(self) -> list[Crystal]:
        lattices = self.lattices.detach().cpu().double().numpy()
        frac = self.frac_coords.detach().cpu().double().numpy()
        numbers = self.atomic_numbers.detach().cpu().numpy()
        bounds = self.ptr.cpu().numpy()
        ids = self.ids or [None] * self.num_crystals
        pbc = self.periodic.cpu().tolist()
        return [
            Crystal(
                lattices[b],
                frac[bounds[b] : bounds[b + 1]],
                numbers[bounds[b] : bounds[b + 1]],
                id=ids[b],
                pbc=tuple(pbc[b]),
            )
            for b in range(self.num_crystals)
        ]
