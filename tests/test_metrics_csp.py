"""Match rate and RMSE on known matching and non-matching pairs, k candidates, pairing by id."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.metrics.csp import (
    first_candidates,
    group_candidates,
    match_rate_and_rmse,
    match_rate_by_rank,
    normalised_rms,
    score_candidates,
    summarise_scores,
)


def perturbed(crystal: Crystal, sigma: float, seed: int) -> Crystal:
    """Gaussian displacement (Å), random atom order and a random origin shift."""
    rng = np.random.default_rng(seed)
    cart = crystal.cart_coords + rng.normal(0, sigma, (crystal.num_atoms, 3))
    frac = (cart @ np.linalg.inv(crystal.lattice) + rng.random(3)) % 1
    order = rng.permutation(crystal.num_atoms)
    return crystal.copy(frac_coords=frac[order], atomic_numbers=crystal.atomic_numbers[order])


def test_rms_equals_pymatgen_with_the_csp_settings(mp20_sample):
    matcher = StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)
    for index, target in enumerate(mp20_sample[:6]):
        prediction = perturbed(target, 0.05, index)
        expected = matcher.get_rms_dist(structure_from_crystal(prediction), structure_from_crystal(target))[0]
        assert normalised_rms(prediction, target) == pytest.approx(expected)
        assert 0 < expected < 0.1


def test_different_structures_of_one_composition_do_not_match(nacl):
    rocksalt_primitive = Crystal(
        [[0, 2.82, 2.82], [2.82, 0, 2.82], [2.82, 2.82, 0]], [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17]
    )
    assert normalised_rms(perturbed(rocksalt_primitive, 0.02, 0), rocksalt_primitive) is not None
    assert normalised_rms(nacl.copy(lattice=3.4 * np.eye(3)), rocksalt_primitive) is None  # CsCl type


def test_best_of_k_candidates_and_invalid_predictions(perov_sample):
    targets = perov_sample[:3]
    close, far = perturbed(targets[0], 0.01, 1), perturbed(targets[0], 0.1, 2)
    # A uniformly shrunk copy matches (the matcher normalises volume) but has atoms < 0.5 Å apart.
    shrunk = targets[1].copy(lattice=targets[1].lattice * 0.1)
    candidates = [[far, close], [shrunk], [targets[1]]]  # target 2 gets a wrong-composition candidate
    result = match_rate_and_rmse(candidates, targets, workers=1)
    assert result["match_rate"] == pytest.approx(1 / 3)
    assert result["rmse"] == pytest.approx(normalised_rms(close, targets[0]))
    assert result["candidates_per_target"] == 2


def test_first_candidates_score_the_head_of_each_ranked_list(perov_sample):
    targets = perov_sample[:2]
    wrong = targets[1].copy(atomic_numbers=targets[1].atomic_numbers[::-1])  # another structure, same formula
    assert normalised_rms(wrong, targets[0]) is None
    candidates = [[wrong, perturbed(targets[0], 0.01, 1)], [perturbed(targets[1], 0.01, 2), wrong]]
    scores = score_candidates(candidates, targets, workers=1)
    best_of_two = summarise_scores(scores, [2, 2])
    top1 = summarise_scores(first_candidates(scores, 1), [1, 1])
    assert best_of_two == match_rate_and_rmse(candidates, targets, workers=1)
    assert best_of_two["match_rate_structural"] == 1.0 and top1["match_rate_structural"] == 0.5
    assert top1 == match_rate_and_rmse([group[:1] for group in candidates], targets, workers=1)
    assert match_rate_by_rank(scores) == [0.5, 0.5]


def test_reference_rule_needs_a_compositionally_valid_target():
    # NaCl2 in a rock-salt-like cell: SMACT-invalid, so DiffCSP's rule never counts it as matched.
    target = Crystal(6 * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]], [11, 17, 17])
    result = match_rate_and_rmse([[perturbed(target, 0.02, 0)]], [target], workers=1)
    assert result["match_rate"] == 0.0 and result["match_rate_structural"] == 1.0


def test_candidates_pair_with_targets_by_id(perov_sample):
    targets = perov_sample[:2]
    predictions = [
        targets[0].copy(id=f"{targets[0].id}-0"),
        targets[0].copy(id=f"{targets[0].id}_1"),
        targets[1].copy(id="anything", properties={"target_id": targets[1].id}),
        targets[1].copy(id="stranger"),
    ]
    groups, unpaired = group_candidates(predictions, targets)
    assert [len(g) for g in groups] == [2, 1] and unpaired == 1
    with pytest.raises(AutoPeriError):
        group_candidates([targets[0].copy(id="nobody")], targets)
