"""The interface every interatomic potential used by AutoPeri implements.

Units, for every implementation:
- energies in eV (``energy``, total per crystal) and eV/atom (``energy_per_atom``);
- forces in eV/Å, Cartesian, one row per atom of the batch;
- stress in eV/Å³ with ASE's sign convention, σ = (1/V) ∂E/∂ε for a strain ε applied to the cell as
  ``L → L (I + ε)`` (rows of L are lattice vectors); multiply by 160.21766 for GPa.

Everything is differentiable with respect to the batch's ``frac_coords`` and ``lattices``: pass a batch whose
tensors require grad and backpropagate through any output. Forces and stress are themselves derivatives of the
energy, so a loss on them needs ``create_graph=True`` (second derivatives).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from autoperi.batch import CrystalBatch

EV_PER_A3_TO_GPA = 160.21766208


@dataclass
class PotentialOutput:
    energy: torch.Tensor  # (B,) eV, total per crystal
    energy_per_atom: torch.Tensor  # (B,) eV/atom
    forces: torch.Tensor | None = None  # (N, 3) eV/Å
    stress: torch.Tensor | None = None  # (B, 3, 3) eV/Å³


@runtime_checkable
class Potential(Protocol):
    """Energy, forces and stress of a :class:`CrystalBatch`, differentiable through torch autograd."""

    name: str
    version: str

    def evaluate(
        self,
        batch: CrystalBatch,
        *,
        forces: bool = False,
        stress: bool = False,
        create_graph: bool = False,
    ) -> PotentialOutput:
        """Predict the batch's energies, plus forces and stress when asked.

        ``create_graph`` keeps the graph of the force/stress computation so that a loss on them can be
        backpropagated (to the batch's coordinates and lattices, and through them to a generator).
        """
        ...


def forces_and_stress(
    energy: torch.Tensor,
    frac_coords: torch.Tensor,
    lattices: torch.Tensor,
    batch: CrystalBatch,
    *,
    create_graph: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cartesian forces and stress from the derivatives of the total energies w.r.t. fractional
    coordinates and lattices (both must take part in the graph of ``energy``).

    With Cartesian positions x = f L: ∂E/∂f = (∂E/∂x) Lᵀ, so F = −(∂E/∂f) L⁻ᵀ; and at fixed f a strain
    L → L (I + ε) gives ∂E/∂ε = Lᵀ ∂E/∂L, so σ = Lᵀ (∂E/∂L) / V.
    """
    grad_frac, grad_lattice = torch.autograd.grad(
        energy.sum(), (frac_coords, lattices), create_graph=create_graph, retain_graph=True
    )
    inverse_transpose = torch.linalg.inv(lattices).transpose(1, 2)
    forces = -torch.einsum("nj,njk->nk", grad_frac, inverse_transpose[batch.batch])
    volumes = torch.linalg.det(lattices).abs()  # a left-handed cell has det(L) < 0
    stress = lattices.transpose(1, 2) @ grad_lattice / volumes[:, None, None]
    return forces, stress
