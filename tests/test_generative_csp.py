"""Structure prediction strategies: templates first, flow refinement from t0, flow fill-in, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.errors import AutoPeriError
from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
from autoperi.generative.csp import CSPSettings, predict_structures
from autoperi.generative.templates import TemplateLibrary
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.nn.painn import PaiNNConfig
from autoperi.physics.chgnet_adapter import load_chgnet

NETWORK = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)


@pytest.fixture(scope="module")
def pool(mp20_sample):
    return [c for c in mp20_sample if c.num_atoms <= 12][:8]


@pytest.fixture(scope="module")
def model(pool) -> CrystalFlow:
    torch.manual_seed(0)
    flow = CrystalFlow(CrystalFlowConfig(mode="csp", network=NETWORK, max_atoms=24)).double()
    flow.fit_statistics(CrystalBatch.from_crystals(pool, dtype=torch.float64))
    return flow.eval()


def test_path_state_interpolates_from_the_base_draw_to_the_crystals(model, pool):
    batch = CrystalBatch.from_crystals(pool[:3], dtype=torch.float64)
    clean = model.clean_state(batch)
    assert all(torch.equal(v, clean[k]) for k, v in model.path_state(batch, 0.7, noise=False).items())
    base = model.base_state(batch.num_atoms, torch.Generator().manual_seed(3))
    start = model.path_state(batch, 0.0, torch.Generator().manual_seed(3))
    assert torch.allclose(start["lattice"], base["lattice"]) and torch.allclose(start["frac"], base["frac"])
    middle = model.path_state(batch, 0.5, torch.Generator().manual_seed(3))
    assert torch.allclose(middle["lattice"], (base["lattice"] + clean["lattice"]) / 2)


def test_refine_integrates_from_t0_and_keeps_the_composition(model, pool, monkeypatch):
    batch = CrystalBatch.from_crystals(pool[:3], dtype=torch.float64)
    times = []
    predict = model.predict

    def recording(state, time, *args, **kwargs):
        times.append(float(time[0]))
        return predict(state, time, *args, **kwargs)

    monkeypatch.setattr(model, "predict", recording)
    refined = model.refine(batch, 0.6, steps=4, generator=torch.Generator().manual_seed(0))
    assert times == pytest.approx([0.6, 0.7, 0.8, 0.9])
    assert torch.equal(refined.atomic_numbers, batch.atomic_numbers)
    with pytest.raises(ValueError):
        model.refine(batch, 1.0)


def test_hybrid_puts_templates_first_and_fills_with_the_flow(model, pool):
    library = TemplateLibrary(pool[1:])
    with_template = pool[1].atomic_numbers
    without_template = np.array([3] * 7 + [8])  # Li7O: no crystal of anonymous formula (7, 1) in the pool
    assert library.num_templates(with_template) >= 1 and library.num_templates(without_template) == 0
    settings = CSPSettings("hybrid", k=3, steps=2)
    groups = predict_structures([with_template, without_template], settings, model, library)
    templates = library.num_templates(with_template)
    expected = ["template"] * min(3, templates) + ["flow"] * (3 - min(3, templates))
    assert [c.properties["source"] for c in groups[0]] == expected
    assert [c.properties["source"] for c in groups[1]] == ["flow"] * 3
    for composition, group in zip([with_template, without_template], groups, strict=True):
        assert all(sorted(c.atomic_numbers.tolist()) == sorted(composition.tolist()) for c in group)
    refined = predict_structures([with_template], CSPSettings("hybrid", k=1, steps=4, refine_t0=0.5), model, library)
    assert refined[0][0].properties["source"] == "refined"
    assert refined[0][0].properties["template_id"] == groups[0][0].properties["template_id"]
    only_templates = predict_structures([with_template, without_template], CSPSettings("template", k=3), None, library)
    assert [len(g) for g in only_templates] == [min(3, templates), 0]


def chgnet_energy(crystal) -> float:
    """CHGNet's own prediction through pymatgen, independent of the adapter and its batching."""
    return float(load_chgnet().predict_structure(structure_from_crystal(crystal), task="e")["e"])


@pytest.mark.filterwarnings("ignore:Converting a tensor")  # CHGNet's own predict_structure, the reference
@pytest.mark.parametrize(("k", "rank_pool"), [(2, 4), (4, 2)])
def test_energy_ranking_orders_the_pool_by_chgnet_energy(perov_sample, k, rank_pool):
    rng = np.random.default_rng(0)  # displaced atoms, so that relabelled templates differ in energy
    library = TemplateLibrary([c.copy(frac_coords=c.frac_coords + rng.normal(0, 0.03, (5, 3))) for c in perov_sample])
    target = np.array([38, 22, 8, 8, 8])  # SrTiO3
    nearest = library.candidates(target, k=max(k, rank_pool) + 1)
    assert len(nearest) == max(k, rank_pool) + 1  # more templates than the pool: the cut is tested
    reference = {c.properties["template_id"]: chgnet_energy(c) for c in nearest[:rank_pool]}
    ranked = predict_structures([target], CSPSettings("template", k=k, rank_pool=rank_pool), None, library)[0]
    assert len(ranked) == k
    scored = [c for c in ranked if "static_energy_per_atom" in c.properties]
    assert len(scored) == min(k, rank_pool)
    by_energy = sorted(reference, key=reference.get)
    assert [c.properties["template_id"] for c in scored] == by_energy[: len(scored)]
    for crystal in scored:
        assert crystal.properties["static_energy_per_atom"] == pytest.approx(
            reference[crystal.properties["template_id"]], abs=2e-4
        )
    beyond = [c.properties["template_id"] for c in ranked[rank_pool:]]
    assert beyond == [c.properties["template_id"] for c in nearest[rank_pool:k]]  # distance order past the pool


@pytest.mark.parametrize(
    ("settings", "has_model", "has_library"),
    [("template", True, False), ("flow", False, True), ("hybrid", False, True), ("hybrid", True, False)],
)
def test_a_strategy_without_its_parts_is_an_error(model, pool, settings, has_model, has_library):
    with pytest.raises(AutoPeriError):
        predict_structures(
            [pool[0].atomic_numbers], CSPSettings(settings), model if has_model else None,
            TemplateLibrary(pool) if has_library else None,
        )  # fmt: skip


def test_bad_settings_are_errors():
    for bad in ({"strategy": "lookup"}, {"k": 0}, {"refine_t0": 1.0}, {"rank_pool": 0}):
        with pytest.raises(AutoPeriError):
            CSPSettings(**bad)
