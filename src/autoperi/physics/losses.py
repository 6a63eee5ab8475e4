"""Physics losses on predicted clean structures, for training the generators and the autoencoder.

Five terms, each with its own weight in :class:`PhysicsLossConfig` (a term whose weight is 0 is not computed):

- ``energy``: the potential's energy per atom (eV/atom) of the predicted clean structure;
- ``force``: the mean norm of the potential's forces (eV/Å);
- ``stress``: the Frobenius norm of the potential's stress (GPa);
- ``repulsion``: Σ over atom pairs closer than d_min = ``min_distance_scale`` × (r_i + r_j) (covalent
  radii) of (d_min − d)², per atom (Å²), over the exact periodic neighbour list;
- ``volume``: the squared log-distance of the volume per atom outside ``volume_per_atom_range`` (Å³/atom).

Each per-crystal term is weighted by how close the crystal's time is to the data end of the path,
w(t) = (1 − |t − data_time|)^time_weight_power, then averaged over the crystals it was computed on. Without
a time (the autoencoder) every weight is 1. The potential terms (energy, force, stress) cost about 0.1 s per
ten-atom crystal on this CPU, so they run on at most ``max_potential_structures`` crystals per step: the ones
closest to the data end (crystals with an absurd volume per atom are left to the volume term).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from ase.data import covalent_radii

from autoperi.batch import CrystalBatch
from autoperi.graph.neighbors import build_graph
from autoperi.physics.potential import EV_PER_A3_TO_GPA, Potential

TERMS = ("energy", "force", "stress", "repulsion", "volume")
POTENTIAL_TERMS = ("energy", "force", "stress")
DISTANCE_EPS = 1e-12


@dataclass(frozen=True)
class PhysicsLossConfig:
    energy_weight: float = 0.0
    force_weight: float = 0.0
    stress_weight: float = 0.0
    repulsion_weight: float = 0.0
    volume_weight: float = 0.0
    # The smallest nearest-neighbour distance over 3,000 MP-20 validation crystals is 0.653 x (r_i + r_j).
    min_distance_scale: float = 0.6
    # MP-20 validation: 0.1th and 99.9th percentiles of the volume per atom are 7.9 and 102 Å³/atom.
    volume_per_atom_range: tuple[float, float] = (7.5, 100.0)
    data_time: float = 1.0  # the time at which the path reaches the data (1 for noise → data flows)
    time_weight_power: float = 2.0
    max_potential_structures: int = 8

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PhysicsLossConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown physics loss settings: {', '.join(unknown)}")
        values = dict(values)
        if "volume_per_atom_range" in values:
            values["volume_per_atom_range"] = tuple(values["volume_per_atom_range"])
        return cls(**values)

    def weight(self, term: str) -> float:
        return float(getattr(self, f"{term}_weight"))

    @property
    def active_terms(self) -> tuple[str, ...]:
        return tuple(term for term in TERMS if self.weight(term) != 0.0)


def time_weights(
    time: torch.Tensor | None,
    num_crystals: int,
    config: PhysicsLossConfig,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """w(t) in [0, 1] per crystal: 1 at the data end of the path, 0 at the other end."""
    if time is None:
        return torch.ones(num_crystals, dtype=dtype)
    closeness = (1.0 - (time.detach().reshape(-1).to(dtype) - config.data_time).abs()).clamp(0.0, 1.0)
    return closeness.expand(num_crystals) ** config.time_weight_power


def repulsion_loss(batch: CrystalBatch, min_distance_scale: float) -> torch.Tensor:
    """Per crystal (B,): Σ over pairs (each counted once) of max(0, d_min − d)² per atom, in Å².

    The pairs come from the exact periodic neighbour list (every image within the largest d_min, found
    without gradients); their distances are recomputed in the autograd graph.
    """
    radii = torch.as_tensor(covalent_radii, dtype=batch.frac_coords.dtype)[batch.atomic_numbers]
    cutoff = 2 * min_distance_scale * float(radii.max())
    graph = build_graph(batch, cutoff)
    centres, neighbours = graph.edge_index
    vectors = graph.vectors(batch.frac_coords, batch.lattices)
    distances = torch.sqrt((vectors**2).sum(-1) + DISTANCE_EPS)
    thresholds = min_distance_scale * (radii[centres] + radii[neighbours])
    penalty = 0.5 * torch.relu(thresholds - distances) ** 2  # every pair appears in both directions
    totals = penalty.new_zeros(batch.num_crystals).index_add(0, graph.edge_batch, penalty)
    return totals / batch.num_atoms.to(totals.dtype)


def volume_loss(batch: CrystalBatch, volume_per_atom_range: tuple[float, float]) -> torch.Tensor:
    """Per crystal (B,): squared distance of log(V/N) outside [log low, log high]."""
    low, high = volume_per_atom_range
    log_volume = torch.log(batch.volumes.abs() / batch.num_atoms.to(batch.lattices.dtype))
    return torch.relu(math.log(low) - log_volume) ** 2 + torch.relu(log_volume - math.log(high)) ** 2


def select_crystals(batch: CrystalBatch, indices: torch.Tensor) -> CrystalBatch:
    """The sub-batch of the given crystals, keeping the autograd graph of coordinates and lattices."""
    atom_mask = torch.isin(batch.batch, indices)
    return CrystalBatch(
        lattices=batch.lattices[indices],
        frac_coords=batch.frac_coords[atom_mask],
        atomic_numbers=batch.atomic_numbers[atom_mask],
        num_atoms=batch.num_atoms[indices],
        ids=[batch.ids[i] for i in indices.tolist()] if batch.ids else [],
    )


def potential_candidates(batch: CrystalBatch, weights: torch.Tensor, config: PhysicsLossConfig) -> torch.Tensor:
    """Sorted indices of the (at most ``max_potential_structures``) crystals the potential evaluates: those
    with the largest time weights among the crystals whose volume per atom is within a factor 2 of
    ``volume_per_atom_range`` (a collapsed cell would give the neighbour list millions of pairs; the volume
    term deals with those).
    """
    low, high = config.volume_per_atom_range
    volume_per_atom = batch.volumes.detach().abs() / batch.num_atoms.to(batch.lattices.dtype)
    eligible = torch.nonzero((volume_per_atom > low / 2) & (volume_per_atom < 2 * high)).flatten()
    best = torch.argsort(weights[eligible], descending=True, stable=True)[: config.max_potential_structures]
    return eligible[best].sort().values


def potential_terms(batch: CrystalBatch, potential: Potential, terms: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Per-crystal energy per atom (eV/atom), mean force norm (eV/Å) and stress norm (GPa), as asked."""
    wants_forces, wants_stress = "force" in terms, "stress" in terms
    differentiable = torch.is_grad_enabled() and (batch.frac_coords.requires_grad or batch.lattices.requires_grad)
    output = potential.evaluate(
        batch,
        forces=wants_forces,
        stress=wants_stress,
        create_graph=differentiable and (wants_forces or wants_stress),
    )
    values = {"energy": output.energy_per_atom}
    if wants_forces and output.forces is not None:
        force_norms = torch.sqrt((output.forces**2).sum(-1) + DISTANCE_EPS)
        sums = torch.zeros(batch.num_crystals, dtype=force_norms.dtype).index_add(0, batch.batch, force_norms)
        values["force"] = sums / batch.num_atoms.to(sums.dtype)
    if wants_stress and output.stress is not None:
        values["stress"] = torch.sqrt(((output.stress * EV_PER_A3_TO_GPA) ** 2).sum(dim=(1, 2)) + DISTANCE_EPS)
    return {term: values[term] for term in terms}


def physics_losses(
    batch: CrystalBatch,
    config: PhysicsLossConfig,
    time: torch.Tensor | None = None,
    potential: Potential | None = None,
) -> dict[str, torch.Tensor]:
    """Every active term (time-weighted mean over crystals, unweighted by its config weight) and ``total``,
    the sum of weight x term. ``time`` is one value per crystal (or a scalar); ``potential`` defaults to
    CHGNet.
    """
    weights = time_weights(time, batch.num_crystals, config, batch.lattices.dtype)
    losses: dict[str, torch.Tensor] = {}
    if "repulsion" in config.active_terms:
        losses["repulsion"] = (weights * repulsion_loss(batch, config.min_distance_scale)).mean()
    if "volume" in config.active_terms:
        losses["volume"] = (weights * volume_loss(batch, config.volume_per_atom_range)).mean()
    wanted = tuple(term for term in POTENTIAL_TERMS if term in config.active_terms)
    if wanted:
        if potential is None:
            from autoperi.physics.chgnet_adapter import chgnet_potential

            potential = chgnet_potential()
        chosen = potential_candidates(batch, weights, config)
        for term in wanted:
            losses[term] = batch.lattices.new_zeros(())
        if len(chosen):
            per_crystal = potential_terms(select_crystals(batch, chosen), potential, wanted)
            for term, values in per_crystal.items():
                losses[term] = (weights[chosen] * values).mean()
    total = sum((config.weight(term) * value for term, value in losses.items()), batch.lattices.new_zeros(()))
    losses["total"] = total
    return losses
