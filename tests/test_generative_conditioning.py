"""Space-group conditioning: targets and their errors, the conditioned composition model and its guidance,
templates restricted to a space group."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.generative.composition import CompositionConfig, CompositionModel
from autoperi.generative.conditions import Targets, require_conditions
from autoperi.generative.space_group_templates import template_space_groups
from autoperi.generative.templates import TemplateLibrary
from autoperi.metrics.symmetry import space_group_number
from brief_training import fit_briefly
from physics_structures import rocksalt
from test_metrics_symmetry import wurtzite

TINY = CompositionConfig(hidden_dim=32, num_layers=1, num_heads=2, space_group_condition=True)
NACL, MGO = (11, 11, 17, 17), (8, 8, 12, 12)  # as sorted atomic numbers


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({"space_group": 0}, "1 to 230"),
        ({"space_group": 231}, "1 to 230"),
        ({"space_group": 225, "guidance": -0.5}, "at least 0"),
        ({"guidance": 2.0}, "needs a condition"),
    ],
)
def test_bad_targets_are_errors(targets, message):
    with pytest.raises(AutoPeriError, match=message):
        Targets(**targets)


def test_a_condition_the_model_lacks_is_named():
    require_conditions(("space_group",), Targets(space_group=225), "m")
    with pytest.raises(AutoPeriError, match=r"m was not trained on --band-gap \(it knows --space-group\)"):
        require_conditions(("space_group",), Targets(space_group=225, band_gap=3.0), "m")
    with pytest.raises(AutoPeriError, match="it knows no condition"):
        CompositionModel(replace(TINY, space_group_condition=False)).sample(
            torch.tensor([4]), targets=Targets(space_group=225)
        )


def _two_group_batch() -> CrystalBatch:
    """Cells of 4 atoms: NaCl-like ones in group 225, MgO-like ones in group 194."""
    numbers = torch.tensor([*NACL, *MGO] * 8)
    batch = CrystalBatch(torch.eye(3).repeat(16, 1, 1), torch.zeros(64, 3), numbers, torch.full((16,), 4))
    batch.labels["spacegroup.number"] = torch.tensor([225.0, 194.0] * 8, dtype=torch.float64)
    return batch


@pytest.fixture(scope="module")
def conditioned() -> CompositionModel:
    torch.manual_seed(0)
    model, batch = CompositionModel(TINY), _two_group_batch()
    return fit_briefly(model, batch)


def _draws(model: CompositionModel, targets: Targets | None) -> list[tuple[int, ...]]:
    numbers = model.sample(torch.full((60,), 4), torch.Generator().manual_seed(1), targets=targets)
    return [tuple(row) for row in numbers.reshape(60, 4).tolist()]


def test_the_condition_picks_its_family_and_no_condition_mixes_them(conditioned):
    assert conditioned.conditions == ("space_group",)
    assert _draws(conditioned, Targets(space_group=225)).count(NACL) >= 57
    assert _draws(conditioned, Targets(space_group=194)).count(MGO) >= 57
    unconditional = _draws(conditioned, None)
    assert 15 <= unconditional.count(NACL) <= 45 and 15 <= unconditional.count(MGO) <= 45


def test_guidance_zero_is_the_unconditional_model_and_stronger_guidance_sharpens(conditioned):
    tokens = torch.tensor([[conditioned.vocabulary.size_offset + 4]])
    plain = conditioned._next_logits(tokens, None, None).log_softmax(-1)
    ignored = conditioned._next_logits(tokens, None, Targets(space_group=225, guidance=0.0)).log_softmax(-1)
    finite = torch.isfinite(plain)
    assert torch.allclose(plain[finite], ignored[finite], atol=1e-5)
    sodium = conditioned.vocabulary.rank[11] + 1  # ELEMENT_OFFSET + rank
    p = [
        conditioned._next_logits(tokens, None, Targets(space_group=225, guidance=w)).softmax(-1)[0, sodium]
        for w in (1.0, 3.0)
    ]
    assert p[1] > p[0]


def test_training_without_space_group_labels_is_an_error():
    batch = _two_group_batch()
    batch.labels.clear()
    with pytest.raises(AutoPeriError, match=r"spacegroup\.number"):
        CompositionModel(TINY).loss(batch)


def test_relabelled_templates_keep_their_space_group(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    crystals = [rocksalt(), wurtzite()]
    assert template_space_groups(crystals).tolist() == [225, 186]
    assert np.array_equal(template_space_groups(crystals), np.load(next((tmp_path / "space_groups").glob("*.npy"))))
    library = TemplateLibrary(crystals)
    (potassium_bromide,) = library.candidates([19, 19, 19, 19, 35, 35, 35, 35])
    assert sorted(potassium_bromide.atomic_numbers.tolist()) == [19] * 4 + [35] * 4
    assert space_group_number(potassium_bromide) == 225


def test_targeted_cells_have_the_libraries_sizes_and_compositions_without_a_template_are_drawn_again():
    from autoperi.generative.composition import CompositionFirstGenerator
    from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
    from autoperi.nn.painn import PaiNNConfig

    network = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)
    flow = CrystalFlow(CrystalFlowConfig(mode="csp", network=network, max_atoms=20)).eval()
    one_to_three = TemplateLibrary([Crystal(np.eye(3) * 4.0, np.eye(4, 3) * 0.5, [11, 17, 17, 17])])
    torch.manual_seed(0)
    untrained = CompositionModel(TINY).eval()  # draws cells of 4 atoms of every anonymous formula
    targets = Targets(space_group=221, guidance=0.0)

    def share_with_template(redraws: int) -> float:
        generator = CompositionFirstGenerator(untrained, flow).targeted(targets, one_to_three, redraws)
        numbers = generator._compositions(torch.full((100,), 4), torch.Generator().manual_seed(0), None)
        return np.mean([one_to_three.num_templates(row) > 0 for row in numbers.reshape(100, 4).numpy()])

    once, redrawn = share_with_template(0), share_with_template(10)
    assert once < 0.5 and redrawn > 0.8
    targeted = CompositionFirstGenerator(untrained, flow).targeted(targets, one_to_three)
    assert set(targeted.sample_num_atoms(50).tolist()) == {4}  # the only cell size the library has


def test_shipped_space_group_model_draws_the_formulas_of_its_group(shared_data_root):
    """Asked for P6_3/mmc (194), the shipped model draws mostly anonymous formulas that MP-20 training crystals
    of that group have; its unconditional draws (same cell sizes) far fewer."""
    from autoperi.data import load_split
    from autoperi.generative.species import species_order
    from autoperi.training.export import load_model

    pool = load_split("mp_20", "lowdata_train").crystals
    formulas = {species_order(c.atomic_numbers)[1] for c in pool if c.properties["spacegroup.number"] == 194}
    model, _, _ = load_model("mp_20-composition-space_group", "composition")
    assert model.conditions == ("space_group",)
    counts = model.sample_num_atoms(200, torch.Generator().manual_seed(0))

    def share_of_group_formulas(targets: Targets | None) -> float:
        numbers = model.sample(counts, torch.Generator().manual_seed(0), targets=targets)
        return np.mean([species_order(row.numpy())[1] in formulas for row in torch.split(numbers, counts.tolist())])

    conditioned, unconditional = share_of_group_formulas(Targets(space_group=194)), share_of_group_formulas(None)
    assert conditioned > 0.5 and conditioned > 2 * unconditional
