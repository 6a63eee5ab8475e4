"""The crystal flow's `fourier` network, DiffCSP-style: all pairs, Fourier features of fractional differences.

Every atom exchanges messages with every atom of its crystal (itself included). An edge sees both atoms'
features, the lattice Gram matrix ``L @ L.T`` and sines/cosines of ``2 pi k (f_j - f_i)``. These inputs are
invariant to rotations and reflections of the Cartesian frame, to atom permutations, to rigid periodic
translations and to integer image shifts of single atoms, but not to a change of cell basis (the Gram matrix
and the fractional coordinates change) nor to supercells (different neighbours, different frequencies).
The Gram matrix enters over ``V^(2/3)`` (the cell's shape, of order 1); its scale can come in through the
per-crystal condition (the crystal flow passes its lattice coordinates there).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import torch
from torch import nn

from autoperi.batch import CrystalBatch
from autoperi.crystal import MAX_ATOMIC_NUMBER
from autoperi.graph import fully_connected_pairs, metric_tensors
from autoperi.nn.embeddings import ContextEmbedding, segment_mean


@dataclass(frozen=True)
class FourierBaselineConfig:
    kind: str = "fourier"  # names this network in a model config (see :mod:`autoperi.nn.networks`)
    hidden_dim: int = 128
    num_layers: int = 4
    num_frequencies: int = 8
    num_species: int = MAX_ATOMIC_NUMBER + 1
    time_dim: int = 64
    condition_dim: int = 0

    def __post_init__(self) -> None:
        if self.kind != "fourier":
            raise ValueError(f"kind must be 'fourier' for this network, got {self.kind!r}")


GRAM_FEATURES = 9  # the flattened 3 x 3 Gram matrix each edge sees before its Fourier features
FIRST_EDGE_WEIGHT = re.compile(r"layers\.\d+\.edge\.0\.weight$")


def adds_frequencies(old: object, new: object) -> bool:
    """Whether network config ``new`` is ``old`` with more Fourier frequencies and nothing else changed."""
    return (
        isinstance(old, FourierBaselineConfig)
        and isinstance(new, FourierBaselineConfig)
        and new.num_frequencies > old.num_frequencies
        and replace(old, num_frequencies=new.num_frequencies) == new
    )


def add_frequencies(
    state_dict: dict[str, torch.Tensor], old: FourierBaselineConfig, new: FourierBaselineConfig
) -> dict[str, torch.Tensor]:
    """A state dict of a model with ``old``'s network for one with ``new``'s (more frequencies): the edge
    layers' weights on the new sines and cosines are zero, so the grown model computes the same function."""
    width, added = old.hidden_dim, new.num_frequencies - old.num_frequencies
    fixed = 2 * width + GRAM_FEATURES
    grown = dict(state_dict)
    for key, weight in state_dict.items():
        if FIRST_EDGE_WEIGHT.search(key):
            sines, cosines = weight[:, fixed:].reshape(width, 2, 3, old.num_frequencies).unbind(1)
            padding = weight.new_zeros(width, 3, added)
            blocks = [torch.cat([block, padding], dim=-1).flatten(1) for block in (sines, cosines)]
            grown[key] = torch.cat([weight[:, :fixed], *blocks], dim=1)
    return grown


def fourier_features(frac_difference: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    """``sin`` and ``cos`` of ``2 pi k d`` for k = 1..num_frequencies and each axis: shape (E, 6 * K)."""
    frequencies = torch.arange(1, num_frequencies + 1, dtype=frac_difference.dtype, device=frac_difference.device)
    angles = (2 * math.pi * frac_difference[:, :, None] * frequencies).flatten(1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def edge_geometry(batch: CrystalBatch, pairs: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    """Per pair: the cell's Gram matrix over ``V^(2/3)`` and Fourier features of the fractional difference."""
    centers, neighbors = pairs
    volume_scale = torch.linalg.det(batch.lattices).abs().pow(2.0 / 3.0).view(-1, 1)
    gram = (metric_tensors(batch.lattices).flatten(1) / volume_scale)[batch.batch[centers]]
    fourier = fourier_features(batch.frac_coords[neighbors] - batch.frac_coords[centers], num_frequencies)
    return torch.cat([gram, fourier], dim=-1)


class FourierFullyConnectedLayer(nn.Module):
    """One residual layer: mean over all atom pairs of the crystal of an edge MLP, then a node MLP."""

    def __init__(self, hidden_dim: int, num_frequencies: int) -> None:
        super().__init__()
        edge_inputs = 2 * hidden_dim + GRAM_FEATURES + 6 * num_frequencies
        self.edge = nn.Sequential(
            nn.Linear(edge_inputs, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU()
        )
        self.node = nn.Sequential(
            nn.Linear(2 * hidden_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim), nn.SiLU()
        )

    def forward(self, features: torch.Tensor, geometry: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        centers, neighbors = pairs
        messages = self.edge[1:](self._first_edge_layer(features, geometry, centers, neighbors))
        aggregated = segment_mean(messages, centers, len(features))
        return features + self.node(torch.cat([features, aggregated], dim=-1))

    def _first_edge_layer(
        self, features: torch.Tensor, geometry: torch.Tensor, centers: torch.Tensor, neighbors: torch.Tensor
    ) -> torch.Tensor:
        """The edge MLP's first linear map of ``[h_i, h_j, geometry]``, with the two atom blocks applied per atom
        before gathering them onto the pairs: the same map for a fraction of the cost (pairs outnumber atoms)."""
        first = self.edge[0]
        width = features.shape[-1]
        center_part, neighbor_part, geometry_part = first.weight.split([width, width, geometry.shape[-1]], dim=1)
        per_atom_center = features @ center_part.T
        per_atom_neighbor = features @ neighbor_part.T
        return per_atom_center[centers] + per_atom_neighbor[neighbors] + geometry @ geometry_part.T + first.bias


class FullyConnectedBaseline(nn.Module):
    """``baseline(batch, time=None, condition=None) -> per-atom invariant features (N, hidden_dim)``.

    ``atom_features`` (N, num_species) replaces the one-hot atomic numbers as the atoms' input."""

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
        atom_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if atom_features is None:
            atom_features = nn.functional.one_hot(batch.atomic_numbers, self.config.num_species)
        features = self.species(atom_features.to(batch.frac_coords.dtype))
        context = self.context(batch.num_crystals, time, condition)
        if context is not None:
            features = features + context[batch.batch]
        pairs = fully_connected_pairs(batch.num_atoms)
        geometry = edge_geometry(batch, pairs, self.config.num_frequencies)
        for layer in self.layers:
            features = layer(features, geometry, pairs)
        return features
