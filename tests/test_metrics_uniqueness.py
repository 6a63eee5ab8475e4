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


def test_grouping_by_reduced_cell_gives_the_all_pairs_answer_on_carbon(shared_data_root):
    """Carbon-24 crystals all share one formula; grouping them by reduced-cell size must not change any flag
    against StructureMatcher run on every pair (duplicates made by supercells and shifts included)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from autoperi.data import load_split
    from autoperi.io.pymatgen_adapter import structure_from_crystal

    crystals = list(load_split("carbon_24", "test"))[:20]
    crystals += [crystals[0].supercell((1, 2, 1)), crystals[5].copy(frac_coords=(crystals[5].frac_coords + 0.3) % 1)]
    structures = [structure_from_crystal(c) for c in crystals]
    matcher = StructureMatcher()
    expected = [not any(matcher.fit(structures[i], structures[j]) for j in range(i)) for i in range(len(crystals))]
    assert not expected[-1] and not expected[-2]
    np.testing.assert_array_equal(unique_mask(crystals, workers=1), expected)
    known, generated = crystals[:10], crystals[10:]
    novel = [not any(matcher.fit(structure_from_crystal(g), s) for s in structures[:10]) for g in generated]
    assert not novel[-2]
    np.testing.assert_array_equal(novel_mask(generated, known, workers=1), novel)


def test_first_matches_and_energy_ranking_skip_duplicates():
    """Duplicates point at the first structure they match and rank after every distinct candidate."""
    from autoperi.screening.csp_ranking import duplicate_candidates, energy_ranked

    base = rocksalt()
    shifted = base.copy(frac_coords=(base.frac_coords + 0.23) % 1, id="shifted")
    other = caesium_chloride_type().supercell((2, 2, 1)).copy(id="cscl")
    group = [base, shifted, other, base.supercell((1, 1, 2)).copy(id="doubled")]
    duplicates = duplicate_candidates([group], workers=1)[0]
    assert duplicates == {"shifted": "rocksalt", "doubled": "rocksalt"}
    energies = {"rocksalt": -3.0, "cscl": -3.5}
    assert [c.id for c in energy_ranked(group, duplicates, energies)] == ["cscl", "rocksalt", "shifted", "doubled"]
    assert [c.id for c in energy_ranked(group, duplicates, {"rocksalt": float("nan"), "cscl": 1.0})][:2] == [
        "cscl",
        "rocksalt",
    ]
