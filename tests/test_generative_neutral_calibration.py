"""The neutral-share correction of composition sampling, and the redraw of structures with close contacts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.generative.composition import CompositionConfig, CompositionFirstGenerator, CompositionModel
from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
from autoperi.generative.neutral_calibration import acceptance, is_neutral, neutral_flags, neutral_shares
from autoperi.generative.templates import TemplateLibrary
from autoperi.metrics.validity import min_interatomic_distance
from autoperi.nn.painn import PaiNNConfig
from autoperi.training.config import TrainConfig

TINY = CompositionConfig(hidden_dim=32, num_layers=1, num_heads=2, max_atoms=20, max_elements=4)


def test_acceptance_matches_a_hand_computed_case_and_turns_q_into_p():
    # MP-20: training formulas 56.2 % neutral, the model's draws 42.7 %:
    # a = (1 - 0.562) / 0.562 * 0.427 / (1 - 0.427) = 0.779359 * 0.745201 = 0.580779
    neutral, other = acceptance(torch.tensor([0.562]), torch.tensor([0.427]))
    assert neutral.item() == pytest.approx(1.0) and other.item() == pytest.approx(0.580779, abs=1e-6)
    # a model with too many neutral draws: w = 0.3 / 0.6 = 0.5 and 0.7 / 0.4 = 1.75, so neutral 0.5 / 1.75
    neutral, other = acceptance(torch.tensor([0.3]), torch.tensor([0.6]))
    assert neutral.item() == pytest.approx(2 / 7) and other.item() == pytest.approx(1.0)
    p, q = torch.rand(100, dtype=torch.float64) * 0.98 + 0.01, torch.rand(100, dtype=torch.float64) * 0.98 + 0.01
    neutral, other = acceptance(p, q)
    assert torch.allclose(q * neutral / (q * neutral + (1 - q) * other), p)


def test_neutrality_is_pymatgen_on_hand_checked_formulas_and_shares_shrink_to_the_overall_one():
    assert is_neutral((11, 17), (1, 1)) and is_neutral((26, 8), (3, 4))  # NaCl; Fe3O4 (mixed valence)
    assert not is_neutral((11, 17), (1, 2)) and not is_neutral((29, 79), (3, 1))  # NaCl2; Cu3Au
    cells = [np.array([11, 11, 17, 17])] * 3 + [np.array([11, 17, 17, 17])]  # 4 atoms: 3 neutral of 4
    assert neutral_flags(cells).tolist() == [True, True, True, False]
    shares = neutral_shares(cells, max_atoms=6, pseudo_count=4.0)
    assert shares[4] == pytest.approx((3 + 4 * 0.75) / (4 + 4)) and shares[5] == pytest.approx(0.75)


def _calibrated(model_share: float, data_share: float) -> CompositionModel:
    torch.manual_seed(0)
    config = replace(TINY, neutral_share_data=(data_share,) * 21, neutral_share_model=(model_share,) * 21)
    return CompositionModel(config).eval()


def _neutral_share(model: CompositionModel, cells: int, seed: int) -> float:
    numbers = model.sample(torch.full((cells,), 4), torch.Generator().manual_seed(seed))
    return float(neutral_flags([z.numpy() for z in numbers.reshape(cells, 4)]).mean())


def test_corrected_draws_have_the_data_share_and_redraw_reproducibly():
    """An untrained model's 4-atom cells, with its own neutral share measured here and a data share of 0.5
    stored: the corrected draws are neutral about half of the time, and the same seed repeats them."""
    uncorrected = _calibrated(0.5, 0.5)
    model_share = _neutral_share(uncorrected, 400, seed=1)
    assert model_share < 0.3  # random elements are rarely neutral
    model = _calibrated(model_share, 0.5)
    assert abs(_neutral_share(model, 400, seed=2) - 0.5) < 0.08  # 3.2 standard errors
    assert model.neutral_redraws > 200
    sizes = torch.randint(1, 21, (40,), generator=torch.Generator().manual_seed(3))
    first = model.sample(sizes, torch.Generator().manual_seed(4))
    assert torch.equal(first, model.sample(sizes, torch.Generator().manual_seed(4)))
    assert [len(z) for z in torch.split(first, sizes.tolist())] == sizes.tolist()


def test_switched_off_or_restricted_draws_are_the_uncorrected_ones():
    model, plain = _calibrated(0.2, 0.6), CompositionModel(TINY).eval()
    plain.load_state_dict(model.state_dict())
    sizes = torch.randint(1, 21, (30,), generator=torch.Generator().manual_seed(0))
    expected = plain.sample(sizes, torch.Generator().manual_seed(1))
    assert not torch.equal(model.sample(sizes, torch.Generator().manual_seed(1)), expected)
    model.config.neutral_calibration = False
    assert torch.equal(model.sample(sizes, torch.Generator().manual_seed(1)), expected)
    model.config.neutral_calibration = True
    system = [3, 8, 26]
    assert torch.equal(
        model.sample(sizes, torch.Generator().manual_seed(1), system),
        plain.sample(sizes, torch.Generator().manual_seed(1), system),
    )


@pytest.mark.parametrize(
    ("data", "model", "message"),
    [((0.5,) * 21, (), "need 21 values"), ((0.5,) * 21, (0.5,) * 20 + (1.0,), "strictly between 0 and 1")],
)
def test_bad_stored_shares_are_one_line_errors(data, model, message):
    values = {
        "model_type": "composition",
        "model": {"neutral_share_data": list(data), "neutral_share_model": list(model)},
    }
    with pytest.raises(AutoPeriError, match=message):
        TrainConfig.from_dict(values)


def _cell(second_site: list[float]) -> Crystal:
    return Crystal(4.0 * np.eye(3), [[0.0, 0.0, 0.0], second_site], [11, 17])


def test_a_structure_with_a_close_contact_is_redrawn_from_the_next_template():
    """Two templates of one formula, the nearest with its atoms 0.2 Å apart: the sample gets the second."""
    network = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)
    flow = CrystalFlow(CrystalFlowConfig(mode="csp", network=network, max_atoms=20)).eval()
    close, apart = _cell([0.05, 0.0, 0.0]), _cell([0.5, 0.5, 0.5])
    generator = CompositionFirstGenerator(CompositionModel(TINY).eval(), flow, TemplateLibrary([close, apart]))
    batch = generator.sample(torch.tensor([2]), torch.tensor([11, 17]), steps=2, generator=torch.Generator())
    (crystal,) = batch.to_crystals()
    assert min_interatomic_distance(close) == pytest.approx(0.2)
    assert generator.contact_redraws == 1
    assert min_interatomic_distance(crystal) == pytest.approx(np.sqrt(3) * 2.0, rel=1e-5)
