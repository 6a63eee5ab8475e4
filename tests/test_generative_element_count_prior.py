"""The element-count prior of composition sampling: exactly the drawn number of elements per cell."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from autoperi.errors import AutoPeriError
from autoperi.generative.composition import CompositionConfig, CompositionModel
from autoperi.generative.element_count_prior import MAX_ELEMENT_COUNT_REDRAWS, element_count_prior
from autoperi.training.config import TrainConfig

MAX_ELEMENTS = 4
TINY = CompositionConfig(hidden_dim=32, num_layers=1, num_heads=2, max_atoms=20, max_elements=MAX_ELEMENTS)


def _wanted(n: int) -> int:
    return min(n, 1 + n % MAX_ELEMENTS)


def _prior(rows: dict[int, list[float]] | None = None) -> list[list[float]]:
    """One-hot rows (k = _wanted(N)) but for the ``rows`` given."""
    table = [[1.0] + [0.0] * MAX_ELEMENTS]
    for n in range(1, 21):
        table.append([float(k == _wanted(n)) for k in range(MAX_ELEMENTS + 1)])
    for n, row in (rows or {}).items():
        table[n] = row
    return table


def _model(charge: bool = False, prior: list[list[float]] | None = None) -> CompositionModel:
    torch.manual_seed(0)
    config = replace(TINY, charge_grammar=charge, element_count_prior=prior if prior is not None else ())
    return CompositionModel(config).eval()


def _element_counts(numbers: torch.Tensor, sizes: torch.Tensor) -> list[int]:
    return [len(set(z.tolist())) for z in torch.split(numbers, sizes.tolist())]


SIZES = torch.randint(1, 21, (200,), generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("charge", [False, True])
def test_every_draw_has_exactly_the_drawn_number_of_elements(charge):
    model = _model(charge, _prior())
    tokens = model.sample_tokens(SIZES, torch.Generator().manual_seed(6))
    numbers = model.atomic_numbers(tokens)
    assert [len(z) for z in torch.split(numbers, SIZES.tolist())] == SIZES.tolist()
    assert _element_counts(numbers, SIZES) == [_wanted(n) for n in SIZES.tolist()]
    assert model.element_count_redraws == model.element_count_fallbacks == 0
    unconstrained = _model(charge).sample(SIZES, torch.Generator().manual_seed(6))
    assert _element_counts(unconstrained, SIZES) != [_wanted(n) for n in SIZES.tolist()]
    if charge:  # ionic draws still close at zero charge under their states
        vocabulary = model.vocabulary
        ionic = tokens[:, 1] == vocabulary.ionic
        assert ionic.sum() > 20
        body = vocabulary.body(tokens[ionic])
        species = (body[:, 1::2] - vocabulary.species_offset).clamp(0, len(vocabulary.species) - 1)
        states = torch.where(body[:, 1::2] >= vocabulary.species_offset, vocabulary.species.state[species], 0)
        counts = vocabulary.split(body)[1][:, 2::2]
        assert ((states[:, : counts.shape[1]] * counts).sum(1) == 0).all()


def test_drawn_element_counts_follow_a_hand_set_prior_and_repeat_with_the_seed():
    wanted = [0.0, 0.1, 0.5, 0.3, 0.1]
    model = _model(prior=_prior({6: wanted}))
    sizes = torch.full((2000,), 6)
    numbers = model.sample(sizes, torch.Generator().manual_seed(1))
    frequencies = np.bincount(_element_counts(numbers, sizes), minlength=MAX_ELEMENTS + 1) / len(sizes)
    assert np.abs(frequencies - wanted).max() < 0.04  # about 3.6 standard errors of the largest share
    mixed = torch.randint(1, 21, (300,), generator=torch.Generator().manual_seed(0))
    first = model.sample(mixed, torch.Generator().manual_seed(7))
    assert torch.equal(first, model.sample(mixed, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, model.sample(mixed, torch.Generator().manual_seed(8)))


@pytest.mark.parametrize("charge", [False, True])
def test_without_a_prior_or_switched_off_the_draws_are_those_from_before_the_prior(charge):
    """Tokens recorded before the element-count prior existed (tiny seeded models, SIZES[:64] drawn with seed 6)."""
    sizes = torch.randint(1, 21, (64,), generator=torch.Generator().manual_seed(5))
    first_rows = {
        False: [[133, 91, 105, 96, 109, 1, 1, 1, 1, 1], [136, 25, 102, 60, 105, 85, 103, 101, 109, 1]],
        True: [[133, 143, 59, 110, 86, 104, 1, 1, 1, 1, 1], [136, 143, 76, 110, 85, 105, 100, 103, 1, 1, 1]],
    }[charge]
    plain = _model(charge).sample_tokens(sizes, torch.Generator().manual_seed(6))
    assert plain[:2].tolist() == first_rows
    switched_off = _model(charge, _prior())
    switched_off.config.use_element_count_prior = False
    assert torch.equal(switched_off.sample_tokens(sizes, torch.Generator().manual_seed(6)), plain)
    restricted = _model(charge, _prior()).sample(sizes, torch.Generator().manual_seed(6), [3, 8, 26])
    assert torch.equal(restricted, _model(charge).sample(sizes, torch.Generator().manual_seed(6), [3, 8, 26]))


def test_the_shipped_model_file_without_the_field_samples_as_before():
    from autoperi.training.export import load_model

    model, _, _ = load_model("mp_20-composition", "composition")
    assert not model.config.element_count_prior and not model.element_counts_drawn
    sizes = torch.randint(1, 21, (64,), generator=torch.Generator().manual_seed(5))[:16]
    numbers = model.sample(sizes, torch.Generator().manual_seed(6))
    assert numbers[:16].tolist() == [15, 15, 15, 15, 38, 38, 38, 38, 78, 78, 78, 91, 8, 8, 8, 8]
    assert int(numbers.sum()) == 5556


def test_an_impossible_element_count_falls_back_to_unconstrained_decoding_without_hanging():
    """Three elements in a two-atom cell: no legal first element; the row is redrawn, then decoded freely."""
    model = _model(prior=_prior({2: [0.0, 0.0, 0.0, 1.0, 0.0]}))
    sizes = torch.tensor([2, 5, 2, 7, 2])
    numbers = model.sample(sizes, torch.Generator().manual_seed(3))
    assert [len(z) for z in torch.split(numbers, sizes.tolist())] == sizes.tolist()
    counts = _element_counts(numbers, sizes)
    assert counts[1] == _wanted(5) and counts[3] == _wanted(7) and all(counts[i] <= 2 for i in (0, 2, 4))
    assert model.element_count_fallbacks == 3 and model.element_count_redraws == 3 * MAX_ELEMENT_COUNT_REDRAWS


def test_the_prior_of_hand_counted_formulas_is_shrunk_restricted_to_the_cell_size_and_normalised():
    cells = [np.array([3, 8])] * 3 + [np.array([3, 3, 8, 26])] + [np.array([3, 8, 8, 8])]
    prior = np.array(element_count_prior(cells, max_atoms=4, max_elements=3, pseudo_count=2.0))
    overall = np.array([0, 0, 4, 1]) / 5  # k = 2 four times, k = 3 once
    four = (np.array([0, 0, 1, 1]) + 2 * overall) / (2 + 2)
    assert prior[4] == pytest.approx(four) and prior[3] == pytest.approx(overall)
    assert prior[1] == pytest.approx([0, 1, 0, 0]) and prior[0] == pytest.approx([1, 0, 0, 0])
    assert prior[2] == pytest.approx([0, 0, 1, 0])  # k = 3 cannot fit two atoms
    assert prior.sum(1) == pytest.approx(np.ones(5))


@pytest.mark.parametrize(
    ("prior", "message"),
    [([[1.0, 0.0]] * 21, "needs 21 rows"), ([[0.5] * 9] * 21, "must be distributions")],
)
def test_a_bad_stored_prior_is_a_one_line_error(prior, message):
    with pytest.raises(AutoPeriError, match=message):
        TrainConfig.from_dict({"model_type": "composition", "model": {"element_count_prior": prior}})
