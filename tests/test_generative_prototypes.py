"""Structure-type popularity: the match graph agrees with the CSP metric, popularity orders candidates."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Element

from autoperi.crystal import Crystal
from autoperi.generative.csp import CSPSettings, predict_structures
from autoperi.generative.prototypes import PrototypeGraph, canonical_structure, group_edges, match_edges, rms_match
from autoperi.generative.templates import TemplateLibrary
from autoperi.metrics.csp import CSP_MATCHER_SETTINGS
from physics_structures import caesium_chloride_supercell, rocksalt


def z(symbol: str) -> int:
    return Element(symbol).Z


def pool() -> list[Crystal]:
    """Three rock salts (two slightly displaced) between two CsCl-type cells, all 4 + 4 atoms."""
    rng = np.random.default_rng(0)
    salts = [
        rocksalt(e, z(b), z(a)).copy(id=f"salt-{a}{b}")
        for a, b, e in [("Na", "Cl", 5.6), ("K", "Br", 6.6), ("Mg", "O", 4.2)]
    ]
    for salt in salts[1:]:
        salt.frac_coords = salt.frac_coords + rng.normal(0.0, 0.01, salt.frac_coords.shape)
    pairs = [("Cs", "Cl", 4.1), ("Tl", "I", 4.2)]
    layered = [caesium_chloride_supercell(e, z(b), z(a)).copy(id=f"layer-{a}{b}") for a, b, e in pairs]
    return [layered[0], *salts, layered[1]]


def test_rms_match_is_the_metrics_get_rms_dist_on_reduced_structures():
    matcher = StructureMatcher(**CSP_MATCHER_SETTINGS)
    crystals = pool()
    structures = [canonical_structure(c) for c in crystals]
    reduced = [matcher._get_reduced_structure(s, primitive_cell=True) for s in structures]
    for i in range(len(crystals)):
        for j in range(i + 1, len(crystals)):
            if len(reduced[i]) != len(reduced[j]):
                continue
            expected = matcher.get_rms_dist(structures[i], structures[j]) is not None
            assert rms_match(matcher, reduced[i], reduced[j]) == expected, (crystals[i].id, crystals[j].id)


def test_canonical_structure_relabels_species_so_isostructural_salts_compare_equal():
    a, b = canonical_structure(rocksalt(5.6, 17, 11)), canonical_structure(rocksalt(4.2, 8, 12))
    assert sorted({str(s) for s in a.species}) == sorted({str(s) for s in b.species})
    assert StructureMatcher(**CSP_MATCHER_SETTINGS).get_rms_dist(a, b) is not None


def test_match_graph_links_each_structure_type_and_counts_popularity():
    crystals = pool()
    edges = match_edges(crystals, progress=False)
    assert {tuple(e) for e in edges.tolist()} == {(1, 2), (1, 3), (2, 3), (0, 4)}
    graph = PrototypeGraph(len(crystals), edges)
    assert graph.popularity.tolist() == [2, 3, 3, 3, 2]


def test_popularity_order_takes_the_most_popular_then_a_new_structure_type_then_the_rest():
    graph = PrototypeGraph(5, np.array([(1, 2), (1, 3), (2, 3), (0, 4)]))
    assert graph.popularity_order([0, 4, 2, 1, 3]) == [2, 0, 1, 3, 4]  # ties go to the nearer position
    assert graph.popularity_order([0, 4, 2, 1, 3], pool=2) == [0, 1, 2, 3, 4]  # only the first two reordered
    assert graph.popularity_order([0, 4]) == [0, 1]
    assert graph.popularity_order([0, 4, 2, 1, 3], popular_first=False) == [0, 2, 1, 3, 4]  # nearest of each type


def test_group_edges_are_cached_by_content_and_match_in_parallel(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    crystals = pool()
    first = group_edges(crystals, progress=False)
    assert first.tolist() == match_edges(crystals, progress=False, workers=2).tolist()
    assert len(list((tmp_path / "prototypes").glob("*.npz"))) == 1
    monkeypatch.setattr("autoperi.generative.prototypes.match_edges", lambda *a, **k: pytest.fail("recomputed"))
    assert group_edges(crystals, progress=False).tolist() == first.tolist()
    moved = pool()
    moved[0].frac_coords = moved[0].frac_coords + 0.05
    with pytest.raises(pytest.fail.Exception):
        group_edges(moved, progress=False)


def test_a_library_matches_only_the_formula_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    library = TemplateLibrary([*pool(), rocksalt(5.6, 17, 11).copy(id="NaCl-2", atomic_numbers=[11, 11, 11, 17] * 2)])
    graph = library.prototypes([z("Li")] * 4 + [z("F")] * 4)
    assert graph.popularity.tolist() == [2, 3, 3, 3, 2, 1]
    assert len(list((tmp_path / "prototypes").glob("*.npz"))) == 1


def test_library_popularity_candidates_lead_with_the_common_type(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    library = TemplateLibrary(pool(), scale_volume=False)
    target = [z("Cs")] * 4 + [z("Br")] * 4
    nearest = library.candidates(target, k=2)
    popular = library.candidates(target, k=2, popularity_pool=0)
    assert nearest[0].properties["template_id"] == "layer-CsCl"
    assert [c.properties["template_id"].split("-")[0] for c in popular] == ["salt", "layer"]
    assert popular[0].properties["template_popularity"] == 3


def test_csp_popularity_ranking_needs_no_energies(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    library = TemplateLibrary(pool(), scale_volume=False)
    target = np.array([z("Cs")] * 4 + [z("Br")] * 4)
    (group,) = predict_structures([target], CSPSettings("template", k=3, rank_by="popularity"), None, library)
    assert [c.properties["template_id"].split("-")[0] for c in group] == ["salt", "layer", "salt"]
    assert all(c.properties["source"] == "template" and "static_energy_per_atom" not in c.properties for c in group)


def test_cells_of_another_size_are_not_compared_even_when_they_match():
    """A rock salt's 2-atom primitive cell matches its 8-atom cell (the metric reduces both), but a target's
    candidates all have its cell size, so popularity leaves such pairs out."""
    conventional = rocksalt(5.6, 17, 11)
    primitive = Crystal(
        2.8 * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]]), [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17], id="NaCl-2"
    )
    matcher = StructureMatcher(**CSP_MATCHER_SETTINGS)
    assert matcher.get_rms_dist(canonical_structure(conventional), canonical_structure(primitive)) is not None
    assert match_edges([conventional, primitive, rocksalt(6.6, 35, 19)], progress=False).tolist() == [[0, 2]]
