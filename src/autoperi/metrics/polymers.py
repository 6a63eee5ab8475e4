"""Validity of 1D-periodic polymer chains against their repeat unit's chemistry.

A chain cell is periodic along one lattice vector; its atoms are matched one to one, in order, with the
repeat unit's graph (:class:`ChainGraph`, from :func:`autoperi.io.rdkit_adapter.chain_graph`), whose bonds and
angles name the period shift of each atom, so the cell's coordinates must be unwrapped along the chain, as
:func:`autoperi.io.rdkit_adapter.build_chain` writes them. Three rules:

- bonds: every bonded pair lies within ``bond_tolerance`` (relative) of its reference length, the sum of the
  two covalent radii (ASE's table) shortened for the bond order by Pauling's rule, ``0.60 Å * log10(order)``
  (aromatic bonds have order 1.5);
- angles: every angle between two heavy neighbours lies within ``angle_tolerance`` degrees of its ideal
  value (a ring's interior angle for angles inside one ring, else 109.5 / 120 / 180 by hybridisation);
- overlaps: no pair of atoms that is neither bonded nor shares a neighbour, periodic images included, is
  closer than the larger of ``min_distance`` and the sum of their covalent radii.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError

IMAGES = 2
PAULING_SLOPE = 0.60  # Å per decade of bond order


@dataclass(frozen=True)
class ChainGraph:
    """A repeat unit's graph, atoms indexed in the chain cell's order: atomic numbers, bonds (N_b x 3: i, j and
    the period shift of j) with bond orders, and heavy-atom angles (N_a x 6: first, its shift, centre, second,
    its shift, ideal degrees)."""

    atomic_numbers: np.ndarray
    bonds: np.ndarray
    bond_orders: np.ndarray
    angles: np.ndarray

    def reference_lengths(self) -> np.ndarray:
        from ase.data import covalent_radii

        radii = covalent_radii[self.atomic_numbers]
        return radii[self.bonds[:, :2]].sum(axis=1) - PAULING_SLOPE * np.log10(self.bond_orders)

    def close_pairs(self) -> dict[int, np.ndarray]:
        """Per period shift, the N x N mask of pairs that are bonded or share a neighbour at that image
        (at shift 0 every atom with itself)."""
        size = len(self.atomic_numbers)
        links: dict[int, np.ndarray] = {0: np.eye(size, dtype=bool)}
        for first, second, shift in self.bonds:
            for forward, backward, step in ((first, second, shift), (second, first, -shift)):
                links.setdefault(int(step), np.zeros((size, size), dtype=bool))[forward, backward] = True
        close = {shift: mask.copy() for shift, mask in links.items()}
        for one, left in links.items():
            for two, right in links.items():
                product = (left.astype(int) @ right.astype(int)) > 0
                close[one + two] = close.get(one + two, np.zeros((size, size), dtype=bool)) | product
        return close


@dataclass(frozen=True)
class ChainRule:
    bond_tolerance: float = 0.10
    angle_tolerance: float = 20.0  # degrees
    min_distance: float = 0.9  # Å

    def __post_init__(self) -> None:
        if not 0 < self.bond_tolerance < 1 or not 0 < self.angle_tolerance < 180 or self.min_distance < 0:
            raise AutoPeriError(f"bad chain rule {self}: tolerances must be in (0, 1) and (0, 180), distance >= 0")


@dataclass(frozen=True)
class ChainCheck:
    """How many bonds and angles fall outside their ranges, how many unbonded pairs overlap, and the worst
    relative bond error and angle error (degrees)."""

    bad_bonds: int
    bad_angles: int
    overlaps: int
    worst_bond_error: float
    worst_angle_error: float

    @property
    def valid(self) -> bool:
        return self.bad_bonds == self.bad_angles == self.overlaps == 0


def chain_axis(crystal: Crystal) -> int:
    periodic = [axis for axis, flag in enumerate(crystal.pbc) if flag]
    if len(periodic) != 1:
        raise AutoPeriError(f"a polymer chain is periodic along exactly one lattice vector, got pbc {crystal.pbc}")
    return periodic[0]


def image_vectors(crystal: Crystal, cart: np.ndarray) -> np.ndarray:
    """Vectors from atom i to every image of atom j along the chain: (2 * IMAGES + 1, N, N, 3)."""
    period = crystal.lattice[chain_axis(crystal)]
    shifts = np.arange(-IMAGES, IMAGES + 1)[:, None, None, None] * period
    return cart[None, None, :, :] - cart[None, :, None, :] + shifts


def check_chain(crystal: Crystal, graph: ChainGraph, rule: ChainRule | None = None) -> ChainCheck:
    """Judge a chain cell against its repeat unit's graph (see the module docstring)."""
    rule = rule or ChainRule()
    if not np.array_equal(crystal.atomic_numbers, graph.atomic_numbers):
        raise AutoPeriError(f"the chain {crystal.id or ''} does not hold the repeat unit's atoms in its order")
    vectors = image_vectors(crystal, crystal.cart_coords)
    distances = np.linalg.norm(vectors, axis=-1)
    first, second, shift = graph.bonds.T
    bond_errors = np.abs(distances[shift + IMAGES, first, second] / graph.reference_lengths() - 1)
    angle_errors = _angle_errors(vectors, graph)
    return ChainCheck(
        bad_bonds=int((bond_errors > rule.bond_tolerance).sum()),
        bad_angles=int((angle_errors > rule.angle_tolerance).sum()),
        overlaps=_overlaps(distances, graph, rule),
        worst_bond_error=float(bond_errors.max(initial=0.0)),
        worst_angle_error=float(angle_errors.max(initial=0.0)),
    )


def _angle_errors(vectors: np.ndarray, graph: ChainGraph) -> np.ndarray:
    if len(graph.angles) == 0:
        return np.zeros(0)
    first, first_shift, centre, second, second_shift = graph.angles[:, :5].astype(int).T
    to_first = vectors[first_shift + IMAGES, centre, first]
    to_second = vectors[second_shift + IMAGES, centre, second]
    cosine = np.sum(to_first * to_second, axis=1) / np.linalg.norm(to_first, axis=1) / np.linalg.norm(to_second, axis=1)
    return np.abs(np.degrees(np.arccos(np.clip(cosine, -1, 1))) - graph.angles[:, 5])


def _overlaps(distances: np.ndarray, graph: ChainGraph, rule: ChainRule) -> int:
    """Pairs (each counted once; an atom's own images included) closer than the overlap limit that are
    neither bonded nor share a neighbour at that image."""
    from ase.data import covalent_radii

    radii = covalent_radii[graph.atomic_numbers]
    limit = np.maximum(rule.min_distance, radii[:, None] + radii[None, :])
    close = distances < limit[None]
    for shift, pairs in graph.close_pairs().items():
        close[shift + IMAGES] &= ~pairs
    centre = IMAGES
    return int(np.triu(close[centre], k=1).sum() + close[centre + 1 :].sum())
