"""The composition model: tokens against pymatgen's compositions, the grammar, sampling constraints, learning."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from autoperi.batch import CrystalBatch
from autoperi.generative.composition import (
    END,
    PAD,
    CompositionConfig,
    CompositionFirstGenerator,
    CompositionModel,
    Vocabulary,
    composition_tokens,
    grammar_mask,
    nucleus,
)
from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
from autoperi.generative.templates import TemplateLibrary
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.nn.painn import PaiNNConfig
from autoperi.training.export import resolve_model_path
from physics_structures import caesium_chloride_supercell, rocksalt, zincblende

TINY = CompositionConfig(hidden_dim=32, num_layers=1, num_heads=2, max_atoms=20, max_elements=8)


def _decode(tokens: torch.Tensor, vocabulary: Vocabulary) -> list[dict[int, int]]:
    ranks, counts = vocabulary.split(tokens[:, 1:])
    elements = torch.where(ranks > 0, vocabulary.element_of_rank[ranks], 0)
    return [
        {int(z): int(c) for z, c in zip(row_z[0:-1:2], row_c[1::2], strict=True) if z > 0}
        for row_z, row_c in zip(elements, counts, strict=True)
    ]


@pytest.mark.parametrize("order", ["atomic_number", "mendeleev"])
def test_tokens_hold_pymatgen_compositions_and_end_after_the_last_count(mp20_sample, order):
    vocabulary = Vocabulary(20, order)
    pymatgen_order = {"atomic_number": lambda element: element.Z, "mendeleev": lambda element: element.mendeleev_no}
    batch = CrystalBatch.from_crystals(mp20_sample)
    tokens, fits = composition_tokens(batch.atomic_numbers, batch.num_atoms, vocabulary, max_elements=8)
    assert fits.all()
    for crystal, row, decoded in zip(mp20_sample, tokens, _decode(tokens, vocabulary), strict=True):
        expected = {element.Z: int(amount) for element, amount in structure_from_crystal(crystal).composition.items()}
        assert decoded == expected
        assert int(row[0]) - vocabulary.size_offset == crystal.num_atoms
        assert int(row[1 + 2 * len(expected)]) == END and (row[2 + 2 * len(expected) :] == PAD).all()
        assert list(decoded) == [element.Z for element in sorted(expected_elements(crystal), key=pymatgen_order[order])]


def expected_elements(crystal) -> list:
    return list(structure_from_crystal(crystal).composition)


def test_compositions_with_too_many_elements_do_not_fit():
    numbers = torch.tensor([1, 3, 5, 6, 7, 8, 9, 11])
    _, fits = composition_tokens(numbers, torch.tensor([8]), Vocabulary(20), max_elements=7)
    assert not fits.any()


def test_grammar_allows_every_real_next_token_and_counts_match_a_hand_count(mp20_sample):
    vocabulary = Vocabulary(20)
    batch = CrystalBatch.from_crystals(mp20_sample)
    tokens, _ = composition_tokens(batch.atomic_numbers, batch.num_atoms, vocabulary, max_elements=8)
    mask = grammar_mask(tokens[:, :-1], vocabulary, 8)
    targets = tokens[:, 1:]
    assert mask.gather(2, targets[..., None]).squeeze(-1)[targets != PAD].all()
    # Li (Z=3) x1 then O (Z=8) in a 4-atom cell: counts 1..3 after O; after O1, elements above 8 (92 of them)
    one = vocabulary.count_offset + 1
    prefix = torch.tensor([[vocabulary.size_offset + 4, 4, one, 9, one]])
    allowed = grammar_mask(prefix, vocabulary, 8)[0].sum(-1).tolist()
    assert allowed == [100, 4, 97, 3, 92]
    # only Li and O allowed: after O nothing can follow, so O takes the remaining 3 atoms
    restricted = grammar_mask(prefix[:, :4], vocabulary, 8, [3, 8])[0]
    assert restricted[3].nonzero().squeeze(1).tolist() == [vocabulary.count_offset + 3]


@pytest.mark.parametrize("order", ["atomic_number", "mendeleev"])
@pytest.mark.parametrize("allowed", [None, [3, 26, 15, 8]])
def test_samples_have_the_requested_atoms_of_distinct_allowed_elements(allowed, order):
    torch.manual_seed(0)
    model = CompositionModel(replace(TINY, element_order=order)).eval()
    num_atoms = torch.randint(1, 21, (64,), generator=torch.Generator().manual_seed(1))
    numbers = model.sample(num_atoms, torch.Generator().manual_seed(2), allowed)
    again = model.sample(num_atoms, torch.Generator().manual_seed(2), allowed)
    assert torch.equal(numbers, again)
    for count, chunk in zip(num_atoms.tolist(), torch.split(numbers, num_atoms.tolist()), strict=True):
        assert len(chunk) == count and torch.equal(chunk, chunk.sort().values)
        assert 1 <= len(set(chunk.tolist())) <= TINY.max_elements
        assert allowed is None or set(chunk.tolist()) <= set(allowed)


def test_nucleus_keeps_the_most_probable_tokens_that_reach_top_p():
    probabilities = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
    assert torch.equal(nucleus(probabilities, 0.7), torch.tensor([[0.0, 0.5, 0.0, 0.3]]))
    assert torch.equal(nucleus(probabilities, 0.5), torch.tensor([[0.0, 0.5, 0.0, 0.0]]))
    assert torch.equal(nucleus(probabilities, 1.0), probabilities)


def test_a_tiny_nucleus_samples_the_greedy_composition():
    """With top_p near 0 every token is the most probable one, so all cells of one size get one composition,
    the one built token by token from the argmax."""
    torch.manual_seed(0)
    model = CompositionModel(replace(TINY, top_p=1e-6)).eval()
    numbers = model.sample(torch.full((8,), 6), torch.Generator().manual_seed(0)).reshape(8, 6)
    tokens = torch.tensor([[model.vocabulary.size_offset + 6]])
    while int(tokens[0, -1]) != END:
        tokens = torch.cat([tokens, model.logits(tokens)[:, -1].argmax(-1, keepdim=True)], 1)
    greedy = _decode(tokens, model.vocabulary)[0]
    assert (numbers == numbers[0]).all()
    assert sorted(numbers[0].tolist()) == sorted(z for z, count in greedy.items() for _ in range(count))


def test_learns_a_composition_family():
    """After training on A1B3 cells of two element pairs, samples of 4 atoms are those compositions."""
    torch.manual_seed(0)
    model = CompositionModel(TINY)
    numbers = torch.tensor([11, 17, 17, 17, 19, 35, 35, 35] * 8)
    batch = CrystalBatch(torch.eye(3).repeat(16, 1, 1), torch.zeros(64, 3), numbers, torch.full((16,), 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = model.loss(batch)["total"].item()
    for _ in range(150):
        optimizer.zero_grad()
        loss = model.loss(batch)["total"]
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first
    model.eval()
    samples = model.sample(torch.full((50,), 4), torch.Generator().manual_seed(0)).reshape(50, 4).tolist()
    known = {(11, 17, 17, 17), (19, 35, 35, 35)}
    assert sum(tuple(row) in known for row in samples) >= 45


def test_hybrid_structures_are_relabelled_templates_and_the_flow_covers_the_rest(perov_sample):
    """With a template library, a composition of a template's anonymous formula gets that template's
    coordinates with the target's elements; a composition without a template gets a flow draw."""
    network = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)
    flow = CrystalFlow(CrystalFlowConfig(mode="csp", network=network, max_atoms=20)).eval()
    template = perov_sample[0]
    generator = CompositionFirstGenerator(CompositionModel(TINY).eval(), flow, TemplateLibrary([template]))
    relabelled = torch.as_tensor(template.atomic_numbers) + 1  # same anonymous formula, other elements
    no_template = torch.tensor([8, 8, 8, 8, 8, 8, 26])
    numbers = torch.cat([relabelled.sort().values, no_template])
    batch = generator.sample(torch.tensor([template.num_atoms, 7]), numbers, steps=2)
    first, second = batch.to_crystals()
    assert sorted(first.atomic_numbers.tolist()) == sorted(relabelled.tolist())
    assert np.allclose(first.frac_coords, template.frac_coords, atol=1e-6)
    assert sorted(second.atomic_numbers.tolist()) == no_template.tolist()


def test_a_repeated_composition_takes_the_next_template_then_flow_draws():
    """One composition drawn five times over two sample() calls, with three templates of its formula (three
    structure types): the templates, nearest first, then flow draws; no two of the five are the same."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    network = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)
    flow = CrystalFlow(CrystalFlowConfig(mode="csp", network=network, max_atoms=20)).eval()
    library = TemplateLibrary([zincblende(), rocksalt(6.6, 35, 19), caesium_chloride_supercell()])
    target = np.array([11] * 4 + [17] * 4)  # Na4Cl4: nearest KBr (rock salt), then CsCl, then ZnS
    nearest = library.candidates(target, k=3)
    assert [c.properties["template_id"] for c in nearest] == ["NaCl", "CsCl", "ZnS"]
    generator = CompositionFirstGenerator(CompositionModel(TINY).eval(), flow, library)
    seed = torch.Generator().manual_seed(0)
    crystals = []
    for repeats in (2, 3):
        numbers = torch.as_tensor(np.tile(target, repeats))
        crystals += generator.sample(torch.tensor([8] * repeats), numbers, steps=2, generator=seed).to_crystals()
    for crystal, template in zip(crystals[:3], nearest, strict=True):
        assert np.allclose(crystal.frac_coords, template.frac_coords, atol=1e-6)
    structures = [structure_from_crystal(c) for c in crystals]
    matcher = StructureMatcher()
    assert not any(matcher.fit(a, b) for i, a in enumerate(structures) for b in structures[i + 1 :])
    assert generator._claim([np.array([11, 17])]) == [5]  # NaCl in a smaller cell continues the count


def test_a_template_of_an_already_sampled_structure_type_is_skipped():
    """Two rock-salt templates relabel to the same NaCl: the second draw of NaCl skips the second rock salt
    (a duplicate under StructureMatcher) and takes the CsCl-type template."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    network = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)
    flow = CrystalFlow(CrystalFlowConfig(mode="csp", network=network, max_atoms=20)).eval()
    salts = [rocksalt(6.3, 17, 19).copy(id="KCl"), rocksalt(6.6, 35, 19).copy(id="KBr")]
    library = TemplateLibrary([*salts, caesium_chloride_supercell(4.6, 53, 55).copy(id="CsI")])
    target = np.array([11] * 4 + [17] * 4)
    assert [c.properties["template_id"] for c in library.candidates(target, k=3)] == ["KCl", "KBr", "CsI"]
    generator = CompositionFirstGenerator(CompositionModel(TINY).eval(), flow, library)
    numbers = torch.as_tensor(np.tile(target, 2))
    first, second = generator.sample(torch.tensor([8, 8]), numbers, steps=2).to_crystals()
    assert generator.duplicate_redraws == 1
    assert np.allclose(second.frac_coords, library.crystals[2].frac_coords, atol=1e-6)
    assert not StructureMatcher().fit(structure_from_crystal(first), structure_from_crystal(second))


def test_shipped_mp20_composition_model_gives_few_many_element_cells_and_respects_a_system():
    """The shipped file loads with weights_only=True; its cells rarely hold six or more elements (MP-20 test
    split: 0.1 %), and a chemical system restricts every sampled element."""
    from autoperi.training.export import load_model

    model, config, _ = load_model("mp_20-composition", "composition")
    assert config.data.dataset == "mp_20"
    num_atoms = model.sample_num_atoms(300, torch.Generator().manual_seed(0))
    numbers = model.sample(num_atoms, torch.Generator().manual_seed(1))
    chunks = torch.split(numbers, num_atoms.tolist())
    assert [len(chunk) for chunk in chunks] == num_atoms.tolist()
    assert np.mean([len(set(chunk.tolist())) >= 6 for chunk in chunks]) <= 0.02
    system = {3, 8, 15, 26}
    restricted = model.sample(torch.full((20,), 10), torch.Generator().manual_seed(2), sorted(system))
    assert len(restricted) == 200 and set(restricted.tolist()) <= system


@pytest.mark.parametrize("rate", [0.0, 0.3])
def test_the_configured_dropout_reaches_every_transformer_layer(rate):
    model = CompositionModel(replace(TINY, num_layers=2, dropout=rate))
    rates = {
        module.p for layer in model.transformer.layers for module in layer.modules() if isinstance(module, nn.Dropout)
    }
    rates |= {layer.self_attn.dropout for layer in model.transformer.layers}
    assert rates == {rate}


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_a_dropout_outside_0_to_1_is_refused(rate):
    with pytest.raises(ValueError, match="dropout"):
        CompositionConfig(dropout=rate)


def test_a_model_file_saved_without_a_dropout_field_loads_with_the_old_rate():
    """Files from before the field (the shipped mp_20-composition among them) build layers with dropout 0.1."""
    from autoperi.training.export import load_model

    payload = torch.load(resolve_model_path("mp_20-composition"), map_location="cpu", weights_only=True)
    assert "dropout" not in payload["config"]["model"]
    model, config, _ = load_model("mp_20-composition", "composition")
    assert config.model.dropout == 0.1
    assert model.transformer.layers[0].dropout.p == 0.1
