"""Uniqueness and novelty with StructureMatcher on known duplicate and distinct pairs."""

from __future__ import annotations

import numpy as np

from autoperi.crystal import Crystal
from autoperi.metrics.uniqueness import novel_mask, unique_mask


def rocksalt(a: float = 5.64) -> Crystal:
    frac = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    anions = [[(c + 0.5) % 1 for c in p] for p in frac]
    return Crystal(a * np.eye(3), frac + anions, [11] * 4 + [17] * 4, id="rocksalt")


def caesium_chloride_type(a: float = 3.4) -> Crystal:
    return Crystal(a * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17], id="cscl")


def test_supercells_shifted_and_rescaled_copies_are_duplicates():
    base = rocksalt()
    shifted = base.copy(frac_coords=(base.frac_coords + 0.23) % 1, id="shifted")
    doubled = base.supercell((2, 1, 1)).copy(id="doubled")
    other = caesium_chloride_type()
    mask = unique_mask([base, shifted, other, doubled, other.copy(id="again")], workers=1)
    np.testing.assert_array_equal(mask, [True, False, True, False, False])


def test_novelty_against_known_crystals():
    known = [rocksalt(5.5)]
    generated = [rocksalt(5.64), caesium_chloride_type(), rocksalt().copy(atomic_numbers=[19] * 4 + [17] * 4)]
    np.testing.assert_array_equal(novel_mask(generated, known, workers=2), [False, True, True])
