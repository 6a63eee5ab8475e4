"""Property targets: ranges and their reading, bins and range weights, the property-conditioned composition
model (it draws the family of the requested range, with guidance, within a chemical system), its errors."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.errors import AutoPeriError
from autoperi.generative.composition import CompositionConfig, CompositionModel
from autoperi.generative.conditions import (
    PropertyRange,
    Targets,
    property_bins,
    property_range,
    range_bin_weights,
)
from brief_training import fit_briefly

TINY = CompositionConfig(hidden_dim=32, num_layers=1, num_heads=2, property_conditions=("band_gap",))
NACL, CU = (11, 11, 17, 17), (29, 29, 29, 29)  # as sorted atomic numbers: an insulator and a metal
SODIUM, CHLORINE, POTASSIUM = 11, 17, 19


def test_one_number_asks_for_the_side_a_user_means_and_low_high_for_both():
    assert property_range("band_gap", 3.0) == PropertyRange(low=3.0)
    assert property_range("formation_energy", "-2") == PropertyRange(high=-2.0)
    assert property_range("e_above_hull", 0.1) == PropertyRange(high=0.1)
    assert property_range("band_gap", "1:2") == PropertyRange(1.0, 2.0)
    assert property_range("e_above_hull", ":0.05") == PropertyRange(-math.inf, 0.05)
    assert Targets(band_gap=3.0).band_gap == PropertyRange(low=3.0)
    assert str(PropertyRange(low=3.0)) == ">= 3" and str(PropertyRange(high=-2.0)) == "<= -2"


@pytest.mark.parametrize(
    ("condition", "value", "message"),
    [("band_gap", "wide", "--band-gap: expected a number or LOW:HIGH"), ("band_gap", "2:1", "low <= high")],
)
def test_bad_ranges_are_one_line_errors(condition, value, message):
    with pytest.raises(AutoPeriError, match=message):
        Targets(**{condition: value})


def test_bins_and_range_weights_by_hand():
    # band-gap edges 0.01, 0.5, 1, 2, 3, 4, 5: a metal in bin 0, 3 eV opens bin 5, 7 eV the last
    assert property_bins("band_gap", torch.tensor([0.0, 0.01, 2.9, 3.0, 7.0])).tolist() == [0, 1, 4, 5, 7]
    counts, bounds = torch.tensor([10.0, 1, 1, 1, 4, 4, 4, 4]), torch.tensor([0.0, 9.0])
    at_least_3 = range_bin_weights("band_gap", PropertyRange(low=3.0), counts, bounds)
    assert at_least_3.tolist() == [0, 0, 0, 0, 0, 4, 4, 4]
    half_of_bin_4 = range_bin_weights("band_gap", PropertyRange(2.5, 3.5), counts, bounds)
    assert half_of_bin_4.tolist() == pytest.approx([0, 0, 0, 0, 2, 2, 0, 0])
    assert range_bin_weights("band_gap", PropertyRange(0.0, 0.0), counts, bounds).tolist() == [10, 0, 0, 0, 0, 0, 0, 0]
    with pytest.raises(AutoPeriError, match=r"--band-gap >= 12: no training crystal .* 0 to 9 eV"):
        range_bin_weights("band_gap", PropertyRange(low=12.0), counts, bounds)


def _two_family_batch() -> CrystalBatch:
    """Cells of 4 atoms: NaCl with a 5 eV gap, Cu with none, and KCl (5 eV) for the chemical-system test."""
    numbers = torch.tensor([*NACL, *CU, *NACL, *CU, 19, 19, 17, 17] * 4)
    batch = CrystalBatch(torch.eye(3).repeat(20, 1, 1), torch.zeros(80, 3), numbers, torch.full((20,), 4))
    batch.labels["band_gap"] = torch.tensor([5.0, 0.0, 5.0, 0.0, 5.0] * 4, dtype=torch.float64)
    return batch


@pytest.fixture(scope="module")
def conditioned() -> CompositionModel:
    torch.manual_seed(0)
    model, batch = CompositionModel(TINY), _two_family_batch()
    model.fit_statistics(batch)
    return fit_briefly(model, batch)


def _draws(model: CompositionModel, targets: Targets | None, allowed: list[int] | None = None) -> list[tuple]:
    numbers = model.sample(torch.full((60,), 4), torch.Generator().manual_seed(1), allowed, targets)
    return [tuple(row) for row in numbers.reshape(60, 4).tolist()]


def test_fitted_bins_count_the_training_cells(conditioned):
    assert conditioned.conditions == ("band_gap",)
    assert conditioned.band_gap_bin_counts.tolist() == [8, 0, 0, 0, 0, 0, 0, 12]  # 0 eV: bin 0; 5 eV: bin 7
    assert conditioned.band_gap_bounds.tolist() == [0.0, 5.0]


def test_a_range_draws_its_family_and_no_condition_mixes_them(conditioned):
    wide = _draws(conditioned, Targets(band_gap=3.0))
    assert wide.count(CU) <= 3 and wide.count(NACL) >= 30
    assert _draws(conditioned, Targets(band_gap="0:0")).count(CU) >= 57
    unconditional = _draws(conditioned, None)
    assert 10 <= unconditional.count(CU) <= 40


def test_guidance_sharpens_the_condition_and_zero_ignores_it(conditioned):
    tokens = torch.tensor([[conditioned.vocabulary.size_offset + 4]])
    copper = conditioned.vocabulary.rank[29] + 1  # ELEMENT_OFFSET + rank
    codes = conditioned.target_codes(Targets(band_gap=3.0), 1)
    with torch.no_grad():
        p = [
            float(
                conditioned._next_logits(tokens, None, Targets(band_gap=3.0, guidance=w), codes).softmax(-1)[0, copper]
            )
            for w in (0.0, 1.0, 3.0)
        ]
        plain = float(conditioned._next_logits(tokens, None, None).softmax(-1)[0, copper])
    assert p[0] == pytest.approx(plain, abs=1e-5) and p[2] < p[1] < p[0]


def test_a_range_combines_with_a_chemical_system(conditioned):
    draws = _draws(conditioned, Targets(band_gap=3.0), [POTASSIUM, CHLORINE, SODIUM])
    assert all(set(row) <= {POTASSIUM, CHLORINE, SODIUM} for row in draws)


def test_a_property_the_model_lacks_is_named_and_training_needs_its_labels():
    space_group_only = CompositionModel(replace(TINY, property_conditions=(), space_group_condition=True))
    with pytest.raises(AutoPeriError, match=r"was not trained on --formation-energy \(it knows --space-group\)"):
        space_group_only.sample(torch.tensor([4]), targets=Targets(formation_energy=-2.0))
    batch = _two_family_batch()
    batch.labels.clear()
    with pytest.raises(AutoPeriError, match="trains on crystals with 'band_gap'"):
        CompositionModel(TINY).loss(batch)
    with pytest.raises(ValueError, match="unknown"):
        replace(TINY, property_conditions=("bulk_modulus",))


def test_shipped_property_model_draws_formulas_of_the_requested_range(shared_data_root):
    """Asked for a band gap of at least 3 eV, the shipped model draws reduced formulas of MP-20 training crystals
    with such gaps far more often than without the target (same cell sizes); asked for a formation energy of at
    most -2 eV/atom likewise."""
    from autoperi.data import load_split
    from autoperi.metrics.validity import reduced_composition
    from autoperi.training.export import load_model

    pool = load_split("mp_20", "lowdata_train").crystals
    model, _, _ = load_model("mp_20-composition-properties", "composition")
    assert model.conditions == ("space_group", "band_gap", "formation_energy", "e_above_hull")
    counts = model.sample_num_atoms(200, torch.Generator().manual_seed(0))

    def share_in(formulas: set, targets: Targets | None) -> float:
        numbers = model.sample(counts, torch.Generator().manual_seed(0), targets=targets)
        drawn = [reduced_composition(row.numpy()) for row in torch.split(numbers, counts.tolist())]
        return sum(formula in formulas for formula in drawn) / len(drawn)

    wide_gap = {reduced_composition(c.atomic_numbers) for c in pool if c.properties["band_gap"] >= 3}
    assert share_in(wide_gap, Targets(band_gap=3.0)) > 2 * share_in(wide_gap, None)
    formation = "formation_energy_per_atom"
    very_stable = {reduced_composition(c.atomic_numbers) for c in pool if c.properties[formation] <= -2}
    assert share_in(very_stable, Targets(formation_energy=-2.0)) > 2 * share_in(very_stable, None)
