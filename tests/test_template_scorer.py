"""The learned template scorer: pool features by hand, the shipped scorer's file, ranking, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from autoperi.errors import AutoPeriError
from autoperi.generative.csp import HYBRID_RANK_POOLS, CSPSettings, predict_structures
from autoperi.generative.template_scorer import (
    FEATURES,
    RAW_FIELDS,
    TemplateScorer,
    pool_features,
    shipped_scorer,
)
from autoperi.generative.templates import TemplateLibrary


def raw_pool(**columns: list[float]) -> np.ndarray:
    """Raw values of a pool of 3 candidates: defaults, with ``columns`` replaced."""
    defaults = {
        "distance_per_atom": [0.0, 1.0, 2.5],
        "energy": [-5.0, -5.3, -5.1],
        "volume_ratio": [1.0, 2.0, 0.5],
        "template_e_above_hull": [0.0, 0.1, 0.02],
        "template_formation_energy": [-2.0, -2.5, -1.0],
        "template_spacegroup": [225.0, 62.0, 225.0],
        "num_atoms": [4.0] * 3,
        "num_species": [2.0] * 3,
        "num_templates": [30.0] * 3,
    }
    merged = defaults | columns
    return np.array([merged[name] for name in RAW_FIELDS]).T


def feature(features: np.ndarray, name: str) -> list[float]:
    return features[:, FEATURES.index(name)].tolist()


def test_pool_features_compare_each_candidate_with_its_pool():
    features = pool_features(raw_pool())
    assert feature(features, "rank") == [0, 1, 2]
    assert feature(features, "distance_above_nearest") == [0.0, 1.0, 2.5]
    assert feature(features, "energy_above_pool_min") == pytest.approx([0.3, 0.0, 0.2])
    assert feature(features, "energy_above_nearest") == pytest.approx([0.0, -0.3, -0.1])
    assert feature(features, "energy_rank") == pytest.approx([2 / 3, 0, 1 / 3])
    assert feature(features, "spacegroup_share") == pytest.approx([2 / 3, 1 / 3, 2 / 3])
    assert feature(features, "formation_energy_above_pool_min") == pytest.approx([0.5, 0.0, 1.5])
    assert feature(features, "log_volume_ratio") == pytest.approx([0.0, math.log(2), -math.log(2)])
    assert feature(features, "abs_log_volume_ratio") == pytest.approx([0.0, math.log(2), math.log(2)])
    assert feature(features, "log_num_templates") == pytest.approx([math.log(30)] * 3)
    assert feature(features, "pool_size") == [3, 3, 3]


def test_a_missing_energy_is_flagged_and_ranked_last():
    features = pool_features(raw_pool(energy=[math.nan, -5.3, -5.1], template_spacegroup=[math.nan, 62, 62]))
    assert feature(features, "energy_missing") == [1, 0, 0]
    assert feature(features, "energy_rank") == pytest.approx([2 / 3, 0, 1 / 3])
    assert feature(features, "energy_above_pool_min") == pytest.approx([0.0, 0.0, 0.2])
    assert feature(features, "energy_above_nearest") == pytest.approx([0.0, 0.0, 0.2])  # from the pool's lowest
    assert feature(features, "spacegroup_share") == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert np.isfinite(features).all()


def test_a_hand_built_linear_scorer_is_its_formula():
    names = ["energy_above_pool_min", "spacegroup_share"]
    scorer = TemplateScorer(names, [0.1, 0.5], [0.2, 0.25], [[[-1.0, 2.0]]], [[0.3]], pool=3)
    features = pool_features(raw_pool())
    expected = -(np.array([0.3, 0.0, 0.2]) - 0.1) / 0.2 + 2 * (np.array([2, 1, 2]) / 3 - 0.5) / 0.25 + 0.3
    assert scorer.score(features) == pytest.approx(expected)


def test_the_shipped_scorer_loads_and_prefers_the_obvious_template():
    scorer = shipped_scorer()
    assert scorer.pool == HYBRID_RANK_POOLS["learned"] and scorer.provenance["labels"]
    assert set(scorer.features) <= set(FEATURES)
    # The nearest template, lowest in energy and in the pool's majority space group, against far, higher-energy
    # templates in other space groups: every cheap signal points the same way.
    size = scorer.pool
    raw = raw_pool(
        distance_per_atom=list(np.linspace(0, 3, size)),
        energy=[-6.0] + [-5.5] * (size - 1),
        volume_ratio=[1.0] * size,
        template_e_above_hull=[0.0] + [0.1] * (size - 1),
        template_formation_energy=[-2.0] * size,
        template_spacegroup=[225.0] * (size // 2 + 1) + [float(g) for g in range(1, size - size // 2)],
        num_atoms=[4.0] * size,
        num_species=[2.0] * size,
        num_templates=[30.0] * size,
    )
    assert int(np.argmax(scorer.score(pool_features(raw)))) == 0


def test_learned_ranking_orders_the_pool_by_the_scorer(perov_sample):
    rng = np.random.default_rng(0)
    library = TemplateLibrary([c.copy(frac_coords=c.frac_coords + rng.normal(0, 0.03, (5, 3))) for c in perov_sample])
    target = np.array([38, 22, 8, 8, 8])  # SrTiO3
    settings = CSPSettings("template", k=4, rank_pool=4, rank_by="learned")
    ranked = predict_structures([target], settings, None, library)[0]
    scores = [c.properties["template_score"] for c in ranked]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1
    nearest = {c.properties["template_id"] for c in library.candidates(target, k=4)}
    assert {c.properties["template_id"] for c in ranked} == nearest
    assert all(np.isfinite(c.properties["static_energy_per_atom"]) for c in ranked)


def test_bad_rankings_and_scorer_files_are_errors(tmp_path):
    with pytest.raises(AutoPeriError, match="unknown template ranking"):
        CSPSettings(rank_by="random")
    with pytest.raises(AutoPeriError, match="unknown features"):
        TemplateScorer(["colour"], [0.0], [1.0], [[[1.0]]], [[0.0]], pool=5)
    with pytest.raises(AutoPeriError, match="layer shapes"):
        TemplateScorer(["rank", "energy_rank"], [0.0] * 2, [1.0] * 2, [[[1.0]]], [[0.0]], pool=5)
    broken = tmp_path / "scorer.json"
    broken.write_text(json.dumps({"features": ["rank"]}))
    with pytest.raises(AutoPeriError, match="cannot read the template scorer"):
        TemplateScorer.load(broken)
