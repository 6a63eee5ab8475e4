"""A density-ratio correction of a composition model's charge-neutral share, applied while sampling.

A composition is *neutral* when pymatgen's ``Composition.oxi_state_guesses()`` finds a charge-neutral
assignment of its reduced formula. For cells of N atoms let p_N be the neutral share of the training formulas
and q_N that of the model's own draws. Rejection sampling with the density ratio of the two classes,
w = p_N / q_N for a neutral draw and (1 - p_N) / (1 - q_N) for another one, accepts a draw with probability
w / max(w_neutral, w_other) and draws a rejected cell again at the same size; the accepted draws are then
neutral with share p_N, while each class keeps the model's own distribution within it. When p > q this is:
every neutral draw, and a non-neutral one with probability a = (1 - p) / p * q / (1 - q).

Both shares are estimated without test data (:func:`neutral_shares`: the training formulas, and draws of the
model at the temperature and nucleus mass it samples with) and stored in the model's config
(``neutral_share_data`` / ``neutral_share_model``, index N), so the correction is exact only for that
unconditioned model: it is not applied to draws restricted to a chemical system or conditioned on a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch

# The shares of cell sizes with few formulas are pulled to the overall share as if by this many formulas of it.
PSEUDO_COUNT = 50.0
# A rejected cell is drawn again at most this many times (the last draw stands); acceptance is q_N / p_N or
# (1 - q_N) / (1 - p_N) per draw, so this bound is reached only for extreme shares.
MAX_NEUTRAL_REDRAWS = 30


@cache
def is_neutral(elements: tuple[int, ...], counts: tuple[int, ...]) -> bool:
    """Whether pymatgen's oxidation-state guesses find a neutral assignment of this (reduced) composition."""
    from pymatgen.core import Composition, Element

    composition = Composition({Element.from_Z(z): n for z, n in zip(elements, counts, strict=True)})
    return bool(composition.oxi_state_guesses())


def neutral_flags(compositions: Sequence[np.ndarray]) -> np.ndarray:
    """Whether each composition (a cell's atomic numbers) is neutral, judged on its reduced formula."""
    from autoperi.metrics.validity import reduced_composition

    return np.array([is_neutral(*reduced_composition(z)) for z in compositions], dtype=bool)


def neutral_shares(
    compositions: Sequence[np.ndarray], max_atoms: int, pseudo_count: float = PSEUDO_COUNT
) -> tuple[float, ...]:
    """The neutral share of cells of each size N = 0..max_atoms (index N), each shrunk towards the overall
    share with ``pseudo_count`` formulas' weight (a size without cells gets the overall share)."""
    neutral = neutral_flags(compositions).astype(float)
    sizes = np.array([len(z) for z in compositions])
    return tuple(float(x) for x in shrunk_means(sizes, neutral[:, None], max_atoms, pseudo_count)[:, 0])


def shrunk_means(sizes: np.ndarray, values: np.ndarray, max_atoms: int, pseudo_count: float) -> np.ndarray:
    """(max_atoms + 1, C): per cell size N = 0..max_atoms the mean of the rows of ``values`` (cells, C) of the
    cells of size N, shrunk towards the mean over all cells with ``pseudo_count`` cells' weight (a size
    without cells gets the overall mean). Shares for indicator columns, a distribution for one-hot rows."""
    overall = values.mean(0)
    totals = np.bincount(sizes, minlength=max_atoms + 1)[: max_atoms + 1]
    hits = np.stack(
        [np.bincount(sizes, weights=column, minlength=max_atoms + 1)[: max_atoms + 1] for column in values.T], 1
    )
    return (hits + pseudo_count * overall) / (totals[:, None] + pseudo_count)


def acceptance(data_share: torch.Tensor, model_share: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Acceptance probabilities of a neutral and of a non-neutral draw that turn the model's neutral share
    into the data's (elementwise over the shares, each in (0, 1))."""
    neutral = data_share / model_share
    other = (1 - data_share) / (1 - model_share)
    largest = torch.maximum(neutral, other)
    return neutral / largest, other / largest


def check_shares(data_share: tuple[float, ...], model_share: tuple[float, ...], max_atoms: int) -> None:
    """Raise ValueError unless the stored shares are both absent or both one per cell size, inside (0, 1)."""
    if not data_share and not model_share:
        return
    if len(data_share) != max_atoms + 1 or len(model_share) != max_atoms + 1:
        raise ValueError(f"neutral_share_data and neutral_share_model need {max_atoms + 1} values (sizes 0..max_atoms)")
    if not all(0 < x < 1 for x in (*data_share, *model_share)):
        raise ValueError("neutral shares must lie strictly between 0 and 1")
