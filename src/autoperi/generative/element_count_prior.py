"""An element-count prior for composition sampling: the number of distinct elements per cell, by construction.

For cells of N atoms let P(k | N) be the share of the training formulas with k distinct elements, shrunk
towards the share over all cell sizes as the neutral shares are (:func:`neutral_calibration.shrunk_means`),
with k > N (and k > ``max_elements``, which the model cannot place) left out. Stored in the composition
model's config (``element_count_prior``, rows N = 0..max_atoms, columns k = 0..max_elements), it makes
sampling draw k per cell after [N] and decode under the grammar restricted to exactly k elements
(:func:`autoperi.generative.composition.grammar_mask` with ``element_counts``): no [end] before the k-th
element, every count leaves at least one atom for each element still to come, and the k-th element's count
fills the cell (with the charge grammar, an ionic composition still closes at zero charge: its reachability
tables then count exactly k elements). So the drawn cells have exactly P(k | N) of the training formulas,
while the model chooses the elements and counts within that. A cell whose decoding reaches a dead end (no
legal token) gets a new k and is decoded again up to MAX_ELEMENT_COUNT_REDRAWS times, then without the
prior; the model counts both.

Like the neutral-share correction, the prior is applied to unrestricted, unconditioned draws only (with
``--elements`` or a target, the training formulas' P(k | N) is not the right distribution).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from autoperi.generative.neutral_calibration import PSEUDO_COUNT, shrunk_means

# A cell whose constrained decoding has no legal token is drawn again (new k) at most this many times, then
# decoded without the prior.
MAX_ELEMENT_COUNT_REDRAWS = 5
TOLERANCE = 1e-6


def element_count_prior(
    compositions: Sequence[np.ndarray], max_atoms: int, max_elements: int, pseudo_count: float = PSEUDO_COUNT
) -> tuple[tuple[float, ...], ...]:
    """P(k | N) of these cells (atomic numbers per cell) for N = 0..max_atoms and k = 0..max_elements, each
    size's distribution shrunk towards the overall one with ``pseudo_count`` cells' weight, then restricted
    to 1 <= k <= N and renormalised (uniform there if no cell has such a k; row 0, no atoms: k = 0)."""
    sizes = np.array([len(z) for z in compositions])
    counts = np.array([len(np.unique(z)) for z in compositions])
    keep = (counts <= max_elements) & (sizes <= max_atoms)
    one_hot = np.eye(max_elements + 1)[counts[keep]]
    table = shrunk_means(sizes[keep], one_hot, max_atoms, pseudo_count)
    k, n = np.arange(max_elements + 1), np.arange(max_atoms + 1)
    feasible = (k[None, :] >= 1) & (k[None, :] <= n[:, None])
    feasible[0, 0] = True
    table = np.where(feasible, table, 0.0)
    table[0] = feasible[0]
    table = np.where(table.sum(1, keepdims=True) > 0, table, feasible)
    table /= table.sum(1, keepdims=True)
    return tuple(tuple(float(x) for x in row) for row in table)


def as_table(prior: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
    """The prior as a tuple of tuples of floats (model files and YAML give lists)."""
    return tuple(tuple(float(x) for x in row) for row in prior)


def check_prior(prior: tuple[tuple[float, ...], ...], max_atoms: int, max_elements: int) -> None:
    """Raise ValueError unless the prior is absent or one distribution over k = 0..max_elements per cell
    size N = 0..max_atoms."""
    if not prior:
        return
    if len(prior) != max_atoms + 1 or any(len(row) != max_elements + 1 for row in prior):
        raise ValueError(
            f"element_count_prior needs {max_atoms + 1} rows (sizes 0..max_atoms) of {max_elements + 1} values "
            "(element counts 0..max_elements)"
        )
    if not all(x >= 0 for row in prior for x in row) or not all(abs(sum(row) - 1) <= TOLERANCE for row in prior):
        raise ValueError("element_count_prior rows must be distributions (non-negative, summing to 1)")


def draw_element_counts(
    prior: tuple[tuple[float, ...], ...], num_atoms: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """A number of distinct elements per cell, drawn from P(k | N) at each cell's size."""
    if not len(num_atoms):
        return num_atoms.new_zeros(0)
    table = torch.tensor(prior, dtype=torch.float64)
    return torch.multinomial(table[num_atoms], 1, generator=generator).squeeze(1)
