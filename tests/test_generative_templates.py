"""Template retrieval: canonical species order, relabelling, ranking by Mendeleev distance, volume fit."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Element

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.generative.species import species_order
from autoperi.generative.templates import TemplateLibrary, fit_element_volumes
from autoperi.io.pymatgen_adapter import structure_from_crystal

ROCKSALT = [[0, 0, 0], [0.5, 0.5, 0.5]]
FCC_ROCKSALT = [[0, 2.82, 2.82], [2.82, 0, 2.82], [2.82, 2.82, 0]]


def z(symbol: str) -> int:
    return Element(symbol).Z


def binary(lattice, a: str, b: str, crystal_id: str) -> Crystal:
    return Crystal(lattice, ROCKSALT, [z(a), z(b)], id=crystal_id)


def rutile(cation: str, anion: str, crystal_id: str) -> Crystal:
    u = 0.305
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [-u, -u, 0], [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]
    return Crystal(np.diag([4.59, 4.59, 2.96]), frac, [z(cation)] * 2 + [z(anion)] * 4, id=crystal_id)


def mendeleev_distance(template: tuple[str, ...], target: tuple[str, ...], counts: tuple[int, ...]) -> float:
    triples = zip(template, target, counts, strict=True)
    return sum(n * abs(Element(a).mendeleev_no - Element(b).mendeleev_no) for a, b, n in triples)


def test_species_order_is_count_then_electronegativity():
    numbers = [z("O")] * 16 + [z("P")] * 4 + [z("Li")] * 4 + [z("Fe")] * 4
    species, counts = species_order(np.random.default_rng(0).permutation(numbers))
    assert counts == (16, 4, 4, 4)
    assert species == (z("O"), z("Li"), z("Fe"), z("P"))  # Pauling 0.98 < 1.83 < 2.19 among the 4-fold ones


def test_relabelled_template_is_the_template_structure_with_mapped_species():
    template = rutile("Ti", "O", "TiO2")
    library = TemplateLibrary([template], scale_volume=False)
    (candidate,) = library.candidates([z("Sn")] * 2 + [z("F")] * 4, k=1)
    expected = structure_from_crystal(template)
    expected.replace_species({Element("Ti"): Element("Sn"), Element("O"): Element("F")})
    assert StructureMatcher(scale=False).fit(structure_from_crystal(candidate), expected)
    assert candidate.properties["template_id"] == "TiO2"
    assert candidate.properties["template_distance"] == pytest.approx(
        mendeleev_distance(("O", "Ti"), ("F", "Sn"), (4, 2))
    )


def test_templates_are_ranked_by_mendeleev_distance_ties_in_pool_order():
    species = {"CsI": ("Cs", "I"), "NaCl": ("Na", "Cl"), "KCl": ("K", "Cl"), "NaCl-copy": ("Na", "Cl")}
    lattices = {"KCl": 3.4 * np.eye(3)}
    pool = [binary(lattices.get(name, FCC_ROCKSALT), *pair, name) for name, pair in species.items()]
    distance = {name: mendeleev_distance(pair, ("K", "Br"), (1, 1)) for name, pair in species.items()}
    expected = sorted(species, key=lambda name: (distance[name], list(species).index(name)))
    library = TemplateLibrary(pool, scale_volume=False)
    candidates = library.candidates([z("Br"), z("K")], k=4)
    assert [c.id for c in candidates] == expected
    assert [c.properties["template_distance"] for c in candidates] == pytest.approx(sorted(distance.values()))
    assert all(sorted(c.atomic_numbers.tolist()) == [z("K"), z("Br")] for c in candidates)
    assert [c.id for c in library.candidates([z("K"), z("Br")], k=2)] == expected[:2]


def test_leave_one_out_drops_only_that_pool_crystal_and_records_its_index():
    pool = [binary(FCC_ROCKSALT, a, b, f"{a}{b}") for a, b in (("Na", "Cl"), ("K", "Cl"), ("Cs", "I"))]
    library = TemplateLibrary(pool)
    everything = library.candidates([z("K"), z("Cl")], k=3)
    assert everything[0].id == "KCl" and everything[0].properties["template_distance"] == 0
    left_out = library.candidates([z("K"), z("Cl")], k=3, exclude=1)
    assert [c.id for c in left_out] == [c.id for c in everything if c.id != "KCl"]
    assert [c.properties["template_index"] for c in left_out] == [[c.id for c in pool].index(c.id) for c in left_out]
    volumes = library.element_volumes
    expected_ratio = (volumes[z("K")] + volumes[z("Cl")]) / (volumes[z("Na")] + volumes[z("Cl")])
    assert left_out[0].properties["volume_ratio"] == pytest.approx(expected_ratio)
    assert left_out[0].volume == pytest.approx(pool[0].volume * expected_ratio)


def test_distance_ties_go_to_the_more_stable_template():
    pool = [binary(FCC_ROCKSALT, "Na", "Cl", "NaCl-a"), binary(3.4 * np.eye(3), "Na", "Cl", "NaCl-b")]
    pool[0].properties["e_above_hull"], pool[1].properties["e_above_hull"] = 0.2, 0.0
    ranked = TemplateLibrary(pool, stability_property="e_above_hull").candidates([z("K"), z("Br")], k=2)
    assert [c.id for c in ranked] == ["NaCl-b", "NaCl-a"]
    assert [c.id for c in TemplateLibrary(pool).candidates([z("K"), z("Br")], k=2)] == ["NaCl-a", "NaCl-b"]


def test_no_template_gives_no_candidate_and_bad_k_is_an_error():
    library = TemplateLibrary([binary(FCC_ROCKSALT, "Na", "Cl", "NaCl")])
    assert library.candidates([z("Sn")] * 2 + [z("F")] * 4, k=5) == []
    assert library.num_templates([z("Sn")] * 2 + [z("F")] * 4) == 0
    with pytest.raises(AutoPeriError):
        library.candidates([z("K"), z("Br")], k=0)


def test_element_volumes_fit_additive_volumes_and_scale_the_template():
    volumes = {"Na": 20.0, "K": 40.0, "Cl": 25.0, "Br": 30.0}
    pool = []
    for cation in ("Na", "K"):
        for anion in ("Cl", "Br"):
            side = (volumes[cation] + volumes[anion]) ** (1 / 3)
            pool.append(binary(side * np.eye(3), cation, anion, f"{cation}{anion}"))
    side = (volumes["Na"] + 2 * volumes["Cl"]) ** (1 / 3)  # a second ratio makes the fit unique
    pool.append(Crystal(side * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.5]], [z("Na"), z("Cl"), z("Cl")]))
    fitted = fit_element_volumes(pool)
    assert fitted[[z(s) for s in volumes]] == pytest.approx(list(volumes.values()), rel=1e-6)
    assert np.isnan(fitted[z("O")])
    library = TemplateLibrary(pool[:1])  # NaCl only: K and Br have no fitted volume, the template's is kept
    assert library.candidates([z("K"), z("Br")])[0].volume == pytest.approx(pool[0].volume)
    library.element_volumes = fitted
    candidate = library.candidates([z("K"), z("Br")])[0]
    assert candidate.volume == pytest.approx(volumes["K"] + volumes["Br"], rel=1e-6)
    assert np.allclose(candidate.frac_coords, pool[0].frac_coords)
