"""Differentiable periodic geometry in torch: cell heights, edge vectors, lattice metrics.

Conventions (as in :class:`~autoperi.crystal.Crystal`): a lattice is a (3, 3) matrix whose rows are the
lattice vectors a, b, c; Cartesian positions are row vectors ``r = f @ L``. A Cartesian rotation ``R``
acts as ``r -> r @ R.T`` and ``L -> L @ R.T``; a change of cell basis ``M`` (integer, det ±1) acts as
``L -> M @ L``, ``f -> f @ inv(M)``.
"""

from __future__ import annotations

import torch


def edge_vectors(
    frac_coords: torch.Tensor,
    lattices: torch.Tensor,
    edge_index: torch.Tensor,
    unit_shifts: torch.Tensor,
    edge_batch: torch.Tensor,
) -> torch.Tensor:
    """Cartesian vectors ``r_j + shift @ L - r_i`` of each edge ``(i, j)``, shape (E, 3).

    Computed from fractional differences, so they are differentiable with respect to both the fractional
    coordinates and the lattices, and independent of how far an atom's coordinates sit outside [0, 1).
    """
    centers, neighbors = edge_index
    frac_difference = frac_coords[neighbors] - frac_coords[centers] + unit_shifts.to(frac_coords.dtype)
    return torch.einsum("ex,exy->ey", frac_difference, lattices[edge_batch])


def safe_norm(vectors: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean norm over the last axis with a finite gradient at zero (``sqrt(|v|^2 + eps)``)."""
    return (vectors.square().sum(-1) + eps).sqrt()


def metric_tensors(lattices: torch.Tensor) -> torch.Tensor:
    """Gram matrices ``L @ L.T`` (B, 3, 3): invariant under rotations of the Cartesian frame, not under a
    change of cell basis."""
    return lattices @ lattices.transpose(-1, -2)
