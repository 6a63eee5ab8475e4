"""A PaiNN-style E(3)-equivariant message-passing network on the periodic graph.

Every atom carries invariant scalars ``s`` (N, F) and equivariant vectors ``v`` (N, 3, F). Messages use only
distances, unit edge vectors and the neighbours' features, so the network is equivariant under rotations and
reflections of the Cartesian frame (O(3)), and invariant under everything that leaves the set of edge
vectors unchanged: atom permutations, rigid periodic translations, integer image shifts of single atoms, a
change of cell basis and (per atom) supercells. See docs/architecture/gnn.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from autoperi.batch import CrystalBatch
from autoperi.crystal import MAX_ATOMIC_NUMBER
from autoperi.graph import PeriodicGraph, build_graph, safe_norm
from autoperi.nn.embeddings import ContextEmbedding, GaussianRadialBasis, cosine_cutoff, segment_mean


@dataclass(frozen=True)
class PaiNNConfig:
    hidden_dim: int = 128
    num_layers: int = 4
    num_radial: int = 32
    cutoff: float = 5.0  # Å
    max_neighbors: int | None = None  # k-nearest cap; None keeps every neighbour within the cutoff
    num_species: int = MAX_ATOMIC_NUMBER + 1  # one-hot width; index = atomic number
    time_dim: int = 64
    condition_dim: int = 0
    vector_channels: int = 1  # equivariant vector outputs per atom
    lattice_channels: int = 16  # vector channels combined into the lattice output
    neighbor_scale: float = 32.0  # messages are summed, then divided by this constant


@dataclass
class NetworkOutput:
    """Per-atom invariant ``scalars`` (N, F), per-atom Cartesian ``vectors`` (N, C, 3) (rows rotate as
    ``v @ R.T``) and a symmetric Cartesian ``lattice`` tensor per crystal (B, 3, 3) that rotates as
    ``R S R.T`` and is intensive (a mean over atoms). A lattice velocity is ``L @ S`` (rows of L are the
    lattice vectors): it rotates with the cell and is the same crystal motion in any cell basis."""

    scalars: torch.Tensor
    vectors: torch.Tensor
    lattice: torch.Tensor

    KINDS: ClassVar[dict[str, str]] = {
        "scalars": "atom_scalar",
        "vectors": "atom_vector",
        "lattice": "crystal_tensor",
    }

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"scalars": self.scalars, "vectors": self.vectors, "lattice": self.lattice}


class PaiNNMessage(nn.Module):
    """Continuous-filter messages from neighbours ``j`` to centres ``i``: scalar and vector updates."""

    def __init__(self, hidden_dim: int, num_radial: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.neighbor = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, 3 * hidden_dim)
        )
        self.filter = nn.Linear(num_radial, 3 * hidden_dim)

    def forward(
        self,
        scalars: torch.Tensor,
        vectors: torch.Tensor,
        edge_index: torch.Tensor,
        radial: torch.Tensor,
        directions: torch.Tensor,
        scale: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        centers, neighbors = edge_index
        weights = self.neighbor(scalars)[neighbors] * self.filter(radial)
        to_scalar, to_vector, along_edge = weights.split(self.hidden_dim, dim=-1)
        vector_messages = vectors[neighbors] * to_vector[:, None, :] + directions[:, :, None] * along_edge[:, None, :]
        scalar_update = scalars.new_zeros(scalars.shape).index_add_(0, centers, to_scalar)
        vector_update = vectors.new_zeros(vectors.shape).index_add_(0, centers, vector_messages)
        return scalars + scalar_update / scale, vectors + vector_update / scale


class PaiNNUpdate(nn.Module):
    """Per-atom mixing of scalars with vector norms and inner products (gated, equivariant)."""

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.mix = nn.Linear(hidden_dim, 2 * hidden_dim, bias=False)
        self.gates = nn.Sequential(
            nn.Linear(2 * hidden_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, 3 * hidden_dim)
        )

    def forward(self, scalars: torch.Tensor, vectors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u, w = self.mix(vectors).split(self.hidden_dim, dim=-1)
        gate_vector, gate_product, shift = self.gates(torch.cat([scalars, safe_norm(w.transpose(1, 2))], -1)).split(
            self.hidden_dim, dim=-1
        )
        return scalars + gate_product * (u * w).sum(1) + shift, vectors + gate_vector[:, None, :] * u


class LatticeHead(nn.Module):
    """Symmetric per-atom tensors from pairs of vector channels plus an isotropic part, crystal mean."""

    def __init__(self, hidden_dim: int, channels: int) -> None:
        super().__init__()
        self.left = nn.Linear(hidden_dim, channels, bias=False)
        self.right = nn.Linear(hidden_dim, channels, bias=False)
        self.gate = nn.Linear(hidden_dim, channels)
        self.isotropic = nn.Linear(hidden_dim, 1)

    def forward(
        self, scalars: torch.Tensor, vectors: torch.Tensor, batch: torch.Tensor, num_crystals: int
    ) -> torch.Tensor:
        left = self.left(vectors) * self.gate(scalars)[:, None, :]
        outer = torch.einsum("nxk,nyk->nxy", left, self.right(vectors))
        identity = torch.eye(3, dtype=scalars.dtype, device=scalars.device)
        per_atom = 0.5 * (outer + outer.transpose(1, 2)) + self.isotropic(scalars)[:, :, None] * identity
        return segment_mean(per_atom, batch, num_crystals)


class PeriodicPaiNN(nn.Module):
    """``network(batch, time=None, condition=None) -> NetworkOutput(scalars, vectors, lattice)``."""

    def __init__(self, config: PaiNNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PaiNNConfig()
        self.species = nn.Linear(config.num_species, config.hidden_dim, bias=False)
        self.context = ContextEmbedding(config.hidden_dim, config.time_dim, config.condition_dim)
        self.context_projections = nn.ModuleList(
            nn.Linear(config.hidden_dim, config.hidden_dim) for _ in range(config.num_layers)
        )
        self.radial = GaussianRadialBasis(config.num_radial, config.cutoff)
        self.messages = nn.ModuleList(
            PaiNNMessage(config.hidden_dim, config.num_radial) for _ in range(config.num_layers)
        )
        self.updates = nn.ModuleList(PaiNNUpdate(config.hidden_dim) for _ in range(config.num_layers))
        self.vector_out = nn.Linear(config.hidden_dim, config.vector_channels, bias=False)
        self.lattice_out = LatticeHead(config.hidden_dim, config.lattice_channels)

    def build_graph(self, batch: CrystalBatch) -> PeriodicGraph:
        return build_graph(batch, self.config.cutoff, self.config.max_neighbors)

    def forward(
        self,
        batch: CrystalBatch,
        time: torch.Tensor | float | None = None,
        condition: torch.Tensor | None = None,
        graph: PeriodicGraph | None = None,
        atom_features: torch.Tensor | None = None,
    ) -> NetworkOutput:
        """Run the network. ``graph`` (built from this batch's coordinates) is rebuilt when omitted;
        ``atom_features`` (N, num_species), e.g. soft one-hot types, replaces the one-hot atomic numbers."""
        graph = graph if graph is not None else self.build_graph(batch)
        atom_batch = batch.batch
        if atom_features is None:
            atom_features = nn.functional.one_hot(batch.atomic_numbers, self.config.num_species)
        scalars = self.species(atom_features.to(batch.frac_coords.dtype))
        vectors = scalars.new_zeros(len(scalars), 3, self.config.hidden_dim)
        edge_vectors = graph.vectors(batch.frac_coords, batch.lattices)
        distances = safe_norm(edge_vectors)
        directions = edge_vectors / distances[:, None]
        radial = self.radial(distances) * cosine_cutoff(distances, self.config.cutoff)[:, None]
        context = self.context(batch.num_crystals, time, condition)
        for projection, message, update in zip(self.context_projections, self.messages, self.updates, strict=True):
            if context is not None:
                scalars = scalars + projection(context)[atom_batch]
            scalars, vectors = message(
                scalars, vectors, graph.edge_index, radial, directions, self.config.neighbor_scale
            )
            scalars, vectors = update(scalars, vectors)
        return NetworkOutput(
            scalars=scalars,
            vectors=self.vector_out(vectors).transpose(1, 2),
            lattice=self.lattice_out(scalars, vectors, atom_batch, batch.num_crystals),
        )
