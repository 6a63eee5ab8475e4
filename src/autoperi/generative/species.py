"""Canonical species order and anonymous formulas, shared by template retrieval and its prototype graph.

A crystal's anonymous formula is the multiset of its per-species atom counts (``Li4Fe4P4O16`` and
``Na4Mn4As4S16`` share ``(16, 4, 4, 4)``); species are put in a canonical order (atom count, most first, then
Pauling electronegativity, then Mendeleev number, then atomic number), so the i-th species of one crystal
corresponds to the i-th of another of the same anonymous formula.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache

import numpy as np

AnonymousFormula = tuple[int, ...]


@cache
def _element_keys(z: int) -> tuple[float, float]:
    """(Pauling electronegativity, Mendeleev number) of element ``z``; a missing value sorts last."""
    import warnings

    from pymatgen.core import Element

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # noble gases have no Pauling electronegativity
        element = Element.from_Z(z)
        electronegativity = float(element.X)
    mendeleev = element.mendeleev_no
    return (
        electronegativity if np.isfinite(electronegativity) else np.inf,
        float(mendeleev) if mendeleev is not None else np.inf,
    )


def mendeleev_number(z: int) -> float:
    return _element_keys(z)[1]


def species_order(atomic_numbers: Sequence[int] | np.ndarray) -> tuple[tuple[int, ...], AnonymousFormula]:
    """Distinct species in canonical order (count descending, electronegativity, Mendeleev number, Z) and their
    counts in that order (the anonymous formula)."""
    counts = Counter(int(z) for z in atomic_numbers)
    species = sorted(counts, key=lambda z: (-counts[z], *_element_keys(z), z))
    return tuple(species), tuple(counts[z] for z in species)


def element_distance(
    template_species: Sequence[int], target_species: Sequence[int], counts: Sequence[int] | None = None
) -> float:
    """Sum of |Mendeleev number difference| over species mapped in canonical order, weighted by ``counts``."""
    weights = counts if counts is not None else [1] * len(target_species)
    pairs = zip(template_species, target_species, weights, strict=True)
    return float(sum(n * abs(mendeleev_number(a) - mendeleev_number(b)) for a, b, n in pairs))
