"""The composition model's charge grammar: labels against pymatgen, masks against a brute-force enumeration,
neutral ionic samples checked with pymatgen, the config option, and old model files sampling as before."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace

import pytest
import torch
from pymatgen.core import Composition, Element

from autoperi.batch import CrystalBatch
from autoperi.errors import AutoPeriError
from autoperi.generative.charge_grammar import running_totals
from autoperi.generative.composition import (
    END,
    PAD,
    CompositionConfig,
    CompositionModel,
    Vocabulary,
    composition_tokens,
    grammar_mask,
)
from autoperi.training.config import TrainConfig

CHARGED = CompositionConfig(hidden_dim=32, num_layers=1, num_heads=2, max_atoms=20, max_elements=8, charge_grammar=True)


def _pymatgen_states(z: int) -> list[int]:
    element = Element.from_Z(z)
    return list(element.icsd_oxidation_states or element.common_oxidation_states)


def _ionic_compositions(tokens: torch.Tensor, vocabulary: Vocabulary) -> list[dict[int, tuple[int, int]]]:
    """{Z: (state, count)} of each ionic row."""
    species = vocabulary.species
    out = []
    for row in tokens[tokens[:, 1] == vocabulary.ionic]:
        slots = row[2::2]
        chosen = slots[slots >= vocabulary.species_offset] - vocabulary.species_offset
        counts = row[3::2][: len(chosen)] - vocabulary.count_offset
        elements = vocabulary.element_of_rank[species.rank[chosen]]
        out.append({int(z): (int(q), int(c)) for z, q, c in zip(elements, species.state[chosen], counts, strict=True)})
    return out


def _tokens(cell: dict[int, int], vocabulary: Vocabulary) -> torch.Tensor:
    numbers = torch.tensor([z for z, count in cell.items() for _ in range(count)])
    tokens, fits = composition_tokens(numbers, torch.tensor([len(numbers)]), vocabulary, max_elements=8)
    assert fits.all()
    return tokens[0]


def test_training_labels_are_pymatgen_guesses_with_one_integer_state_per_element(mp20_sample):
    vocabulary = Vocabulary(20, charge=True)
    nacl = _tokens({11: 4, 17: 4}, vocabulary)
    assert int(nacl[1]) == vocabulary.ionic
    assert _ionic_compositions(nacl[None], vocabulary) == [{11: (1, 4), 17: (-1, 4)}]
    assert int(_tokens({26: 3, 8: 4}, vocabulary)[1]) == vocabulary.other  # Fe3O4: mixed valence only
    assert int(_tokens({29: 3, 79: 1}, vocabulary)[1]) == vocabulary.other  # Cu3Au: no guess
    batch = CrystalBatch.from_crystals(mp20_sample)
    tokens, _ = composition_tokens(batch.atomic_numbers, batch.num_atoms, vocabulary, max_elements=8)
    ionic = _ionic_compositions(tokens, vocabulary)
    assert 0 < len(ionic) < len(mp20_sample)
    for crystal, row in zip(mp20_sample, tokens, strict=True):
        composition = Composition(Counter(Element.from_Z(int(z)) for z in crystal.atomic_numbers)).reduced_composition
        guesses = [
            guess
            for guess in composition.oxi_state_guesses()
            if all(guess[element.symbol] in _pymatgen_states(element.Z) for element in composition)
        ]
        assert (int(row[1]) == vocabulary.ionic) == bool(guesses)
    for cell in ionic:
        assert sum(q * c for q, c in cell.values()) == 0


def _valid_ionic_sequences(vocabulary: Vocabulary, elements: list[int], max_elements: int) -> list[list[int]]:
    """Every ionic token sequence the grammar should allow, by enumeration: subsets of the elements in token
    order, one pymatgen state and a count each, N atoms in all, neutral."""
    species = vocabulary.species
    ordered = sorted(elements, key=lambda z: int(vocabulary.rank[z]))
    sequences = []
    for size in range(1, max_elements + 1):
        for subset in itertools.combinations(ordered, size):
            for states in itertools.product(*[_pymatgen_states(z) for z in subset]):
                for counts in itertools.product(range(1, vocabulary.max_atoms + 1), repeat=size):
                    if (
                        sum(counts) > vocabulary.max_atoms
                        or sum(q * c for q, c in zip(states, counts, strict=True)) != 0
                    ):
                        continue
                    body = []
                    for z, q, c in zip(subset, states, counts, strict=True):
                        body += [vocabulary.species_offset + species.index[(int(vocabulary.rank[z]), q)]]
                        body += [vocabulary.count_offset + c]
                    sequences.append([vocabulary.size_offset + sum(counts), vocabulary.ionic, *body, END])
    return sequences


def test_ionic_masks_allow_exactly_the_tokens_of_some_neutral_completion():
    """Against a brute-force enumeration of every neutral sequence in Li-Fe-O-Cl with up to 6 atoms and 2
    elements: after each prefix the mask allows exactly the next tokens of the sequences that extend it, and
    [ionic] exactly for the cell sizes that have a neutral composition."""
    vocabulary, elements, max_elements = Vocabulary(6, charge=True), [3, 26, 8, 17], 2
    sequences = _valid_ionic_sequences(vocabulary, elements, max_elements)
    assert [vocabulary.size_offset + 2, vocabulary.ionic, *_tokens({3: 1, 17: 1}, vocabulary)[2:6].tolist()] in [
        s[:6] for s in sequences
    ]
    expected: dict[tuple[int, ...], set[int]] = {}
    for sequence in sequences:
        for end in range(2, len(sequence)):
            expected.setdefault(tuple(sequence[:end]), set()).add(sequence[end])
    assert len(expected) > 50
    for prefix, following in expected.items():
        mask = grammar_mask(torch.tensor([prefix]), vocabulary, max_elements, elements)[0, -1]
        assert set(mask.nonzero().squeeze(1).tolist()) == following, prefix
    sizes = {s[0] - vocabulary.size_offset for s in sequences}
    cells = torch.arange(1, 7)[:, None] + vocabulary.size_offset
    first = grammar_mask(cells, vocabulary, max_elements, elements)[:, 0]
    assert first[:, vocabulary.ionic].tolist() == [n in sizes for n in range(1, 7)]
    assert first[:, vocabulary.other].all() and first.sum(1).max() == 2


def test_running_totals_of_a_hand_counted_cell():
    """Na4Cl4, [N] Na+ 4 Cl- 4 [end]: after each token the charge placed is 0, 0, 4, 4, 0, 0 and the atoms
    left 8, 8, 4, 4, 0, 0."""
    vocabulary = Vocabulary(20, charge=True)
    tokens = _tokens({11: 4, 17: 4}, vocabulary)[None, :7]
    body = vocabulary.body(tokens)
    state, charge, remaining = running_totals(body, vocabulary.split(body)[1], vocabulary.species, vocabulary)
    assert state[0, :5].tolist() == [0, 1, 0, -1, 0]
    assert charge[0].tolist() == [0, 0, 4, 4, 0, 0]
    assert remaining[0].tolist() == [8, 8, 4, 4, 0, 0]


def test_every_real_training_token_is_allowed(mp20_sample):
    vocabulary = Vocabulary(20, "mendeleev", charge=True)
    batch = CrystalBatch.from_crystals(mp20_sample)
    tokens, _ = composition_tokens(batch.atomic_numbers, batch.num_atoms, vocabulary, max_elements=8)
    mask = grammar_mask(tokens[:, :-1], vocabulary, 8)
    targets = tokens[:, 1:]
    assert mask.gather(2, targets[..., None]).squeeze(-1)[targets != PAD].all()


@pytest.mark.parametrize("allowed", [None, [3, 8, 15, 26]])
def test_sampled_ionic_compositions_are_neutral_for_pymatgen(allowed):
    """An untrained model samples both classes; every ionic sample is neutral under its states, each state
    is one pymatgen tries, and pymatgen's own guesses find a neutral assignment of the composition."""
    torch.manual_seed(0)
    model = CompositionModel(CHARGED).eval()
    num_atoms = torch.randint(1, 11, (80,), generator=torch.Generator().manual_seed(1))  # pymatgen is slow on more
    tokens = model.sample_tokens(num_atoms, torch.Generator().manual_seed(2), allowed)
    ionic = _ionic_compositions(tokens, model.vocabulary)
    assert 10 <= len(ionic) <= 70
    for cell, n in zip(ionic, num_atoms[tokens[:, 1] == model.vocabulary.ionic].tolist(), strict=True):
        assert sum(c for _, c in cell.values()) == n and sum(q * c for q, c in cell.values()) == 0
        assert all(q in _pymatgen_states(z) for z, (q, _) in cell.items())
        assert Composition({Element.from_Z(z): c for z, (_, c) in cell.items()}).oxi_state_guesses()
    numbers = model.sample(num_atoms, torch.Generator().manual_seed(2), allowed)
    assert len(numbers) == int(num_atoms.sum()) and (allowed is None or set(numbers.tolist()) <= set(allowed))


def test_learns_the_class_and_states_of_a_family():
    """After training on NaCl-type cells (ionic) and Cu3Au (other), 4-atom samples are those."""
    torch.manual_seed(0)
    model = CompositionModel(CHARGED)
    numbers = torch.tensor([11, 11, 17, 17, 29, 29, 29, 79] * 8)
    batch = CrystalBatch(torch.eye(3).repeat(16, 1, 1), torch.zeros(64, 3), numbers, torch.full((16,), 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        optimizer.zero_grad()
        loss = model.loss(batch)["total"]
        loss.backward()
        optimizer.step()
    tokens = model.eval().sample_tokens(torch.full((50,), 4), torch.Generator().manual_seed(0))
    samples = [tuple(row) for row in model.sample(torch.full((50,), 4)).reshape(50, 4).tolist()]
    assert sum(s in {(11, 11, 17, 17), (29, 29, 29, 79)} for s in samples) >= 45
    assert _ionic_compositions(tokens, model.vocabulary).count({11: (1, 2), 17: (-1, 2)}) >= 20


def test_config_option_is_validated_and_off_keeps_the_old_vocabulary():
    with pytest.raises(AutoPeriError, match="charge_grammar must be true or false"):
        TrainConfig.from_dict({"model_type": "composition", "model": {"charge_grammar": "yes"}})
    off, on = CompositionModel(replace(CHARGED, charge_grammar=False)), CompositionModel(CHARGED)
    assert off.vocabulary.size == 1 + 100 + 2 * 20 + 1 and off.length == 18
    assert on.vocabulary.size == off.vocabulary.size + 2 + len(on.vocabulary.species) and on.length == 19


def test_an_old_model_file_samples_as_before():
    """perov_5-composition predates the charge grammar; these are its draws before the grammar existed."""
    from autoperi.training.export import load_model

    model, _, _ = load_model("perov_5-composition", "composition")
    num_atoms = model.sample_num_atoms(200, torch.Generator().manual_seed(0))
    numbers = model.sample(num_atoms, torch.Generator().manual_seed(1))
    assert numbers[:20].tolist() == [7, 8, 9, 23, 75, 7, 8, 8, 29, 44, 3, 7, 7, 7, 33, 7, 8, 8, 41, 52]
    restricted = model.sample(torch.full((20,), 5), torch.Generator().manual_seed(2), [3, 8, 15, 26])
    assert restricted[:10].tolist() == [8, 8, 15, 26, 26, 3, 8, 8, 26, 26]
