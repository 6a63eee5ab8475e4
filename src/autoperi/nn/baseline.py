"""A DiffCSP-style fully connected baseline: Fourier features of fractional differences.

Every atom exchanges messages with every atom of its crystal (itself included). An edge sees both atoms'
features, the lattice Gram matrix ``L @ L.T`` and sines/cosines of ``2 pi k (f_j - f_i)``. These inputs are
invariant to rotations and reflections of the Cartesian frame, to atom permutations, to rigid periodic
translations and to integer image shifts of single atoms, but not to a change of cell basis (the Gram matrix
and the fractional coordinates change) nor to supercells (different neighbours, different frequencies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from autoperi.batch import CrystalBatch
from autoperi.crystal import MAX_ATOMIC_NUMBER
from autoperi.graph import fully_connected_pairs, metric_tensors
from autoperi.nn.embeddings import ContextEmbedding, segment_mean


@dataclass(frozen=True)
class FourierBaselineConfig:
    hidden_dim: int = 128
    num_layers: int = 4
    num_frequencies: int = 8
    num_species: int = MAX_ATOMIC_NUMBER + 1
    time_dim: int = 64
    condition_dim: int = 0


def fourier_features(frac_difference: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    """``sin`` and ``cos`` of ``2 pi k d`` for k = 1..num_frequencies and each axis: shape (E, 6 * K)."""
    frequencies = torch.arange(1, num_frequencies + 1, dtype=frac_difference.dtype, device=frac_difference.device)
    angles = (2 * math.pi * frac_difference[:, :, None] * frequencies).flatten(1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class FourierFullyConnectedLayer(nn.Module):
    """One residual layer: mean over all atom pairs of the crystal of an edge MLP, then a node MLP."""

    def __init__(self, hidden_dim: int, num_frequencies: int) -> None:
        super().__init__()
        self.num_frequencies = num_frequencies
        edge_inputs = 2 * hidden_dim + 9 + 6 * num_frequencies
        self.edge = nn.Sequential(
            nn.Linear(edge_inputs, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU()
        )
        self.node = nn.Sequential(
            nn.Linear(2 * hidden_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU()
        )

    def forward(
        self,
        features: torch.Tensor,
        frac_coords: torch.Tensor,
        lattices: torch.Tensor,
        atom_batch: torch.Tensor,
        pairs: torch.Tensor,
    ) -> torch.Tensor:
        centers, neighbors = pairs
        gram = metric_tensors(lattices).flatten(1)[atom_batch[centers]]
        fourier = fourier_features(frac_coords[neighbors] - frac_coords[centers], self.num_frequencies)
        messages = self.edge(torch.cat([features[centers], features[neighbors], gram, fourier], dim=-1))
        aggregated = segment_mean(messages, centers, len(features))
        return features + self.node(torch.cat([features, aggregated], dim=-1))


class FullyConnectedBaseline(nn.Module):
    """``baseline(batch, time=None, condition=None) -> per-atom invariant features (N, hidden_dim)``."""

    def __init__(self, config: FourierBaselineConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or FourierBaselineConfig()
        self.species = nn.Linear(config.num_species, config.hidden_dim, bias=False)
        self.context = ContextEmbedding(config.hidden_dim, config.time_dim, config.condition_dim)
        self.layers = nn.ModuleList(
            FourierFullyConnectedLayer(config.hidden_dim, config.num_frequencies) for _ in range(config.num_layers)
        )

    def forward(
        self,
        batch: CrystalBatch,
        time: torch.Tensor | float | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        atom_batch = batch.batch
        one_hot = nn.functional.one_hot(batch.atomic_numbers, self.config.num_species)
        features = self.species(one_hot.to(batch.frac_coords.dtype))
        context = self.context(batch.num_crystals, time, condition)
        if context is not None:
            features = features + context[atom_batch]
        pairs = fully_connected_pairs(batch.num_atoms)
        for layer in self.layers:
            features = layer(features, batch.frac_coords, batch.lattices, atom_batch, pairs)
        return features
