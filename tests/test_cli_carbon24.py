"""The shipped Carbon-24 models: the CSP flow (`autoperi csp`) and the composition-first de novo generator."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from autoperi.cli.main import main

CSP_MODEL = "carbon_24-crystal_flow_csp-fourier"
# Volume per atom of the Carbon-24 training cells: 5.42-8.99 Å³ (diamond 5.7, graphite 8.8).
VOLUME_PER_ATOM = (4.5, 11.0)


def test_shipped_carbon_csp_flow_predicts_carbon_cells_of_carbon_density(tmp_path):
    from autoperi.io.readers import read_crystals
    from autoperi.training.export import lineage_totals, load_model

    _, config, metadata = load_model(CSP_MODEL, "crystal_flow")
    assert config.model.mode == "csp" and config.model.network.kind == "fourier"
    assert config.data.dataset == "carbon_24" and lineage_totals(metadata)[0] >= 8000
    arguments = ["csp", "--formula", "C8", "-k", "4", "--steps", "50", "--strategy", "flow", "--model", CSP_MODEL]
    assert main([*arguments, "--out", str(tmp_path)]) == 0
    candidates = read_crystals(tmp_path).crystals
    assert len(candidates) == 4 and all(c.atomic_numbers.tolist() == [6] * 8 for c in candidates)
    assert all(VOLUME_PER_ATOM[0] < c.volume / c.num_atoms < VOLUME_PER_ATOM[1] for c in candidates)


def test_carbon_hybrid_puts_the_most_popular_structure_type_first_without_energy_ranking(tmp_path, shared_data_root):
    """All carbon templates tie in distance; the hybrid's first candidate is the 10-atom training cell that
    matches most 10-atom training cells (popularity from the shipped graph of the pool), the second one of
    another structure type, and --rank-pool 0 gives back the pool order."""
    import csv

    import numpy as np

    from autoperi.generative.templates import template_library

    library = template_library("carbon_24", "lowdata_train")
    sizes = np.array([c.num_atoms for c in library.crystals])
    graph = library.prototypes([6] * 10)
    popular = max(np.flatnonzero(sizes == 10), key=lambda i: (graph.popularity[i], -i))
    arguments = ["csp", "--formula", "C10", "-k", "2", "--steps", "10", "--model", CSP_MODEL]
    assert main([*arguments, "--out", str(tmp_path / "popular")]) == 0
    rows = list(csv.DictReader((tmp_path / "popular" / "candidates.csv").open()))
    assert rows[0]["template_id"] == str(library.crystals[popular].id)
    assert int(rows[0]["template_popularity"]) == graph.popularity[popular] > 1
    second = next(i for i, c in enumerate(library.crystals) if str(c.id) == rows[1]["template_id"])
    assert second not in graph.neighbours[popular]
    assert not rows[0].get("static_energy_per_atom")
    assert main([*arguments, "--rank-pool", "0", "--out", str(tmp_path / "nearest")]) == 0
    rows = list(csv.DictReader((tmp_path / "nearest" / "candidates.csv").open()))
    first = next(c for c in library.crystals if c.num_atoms == 10)
    assert rows[0]["template_id"] == str(first.id)


def test_shipped_carbon_composition_model_draws_the_training_atom_counts(tmp_path, shared_data_root):
    from autoperi.data import load_split
    from autoperi.io.readers import read_crystals
    from autoperi.training.export import load_model, shipped_models

    model, config, _ = load_model("carbon_24-composition", "composition")
    assert config.model.structure_model == CSP_MODEL and CSP_MODEL in shipped_models()
    training = Counter(c.num_atoms for c in load_split("carbon_24", "lowdata_train"))
    drawn = Counter(model.sample_num_atoms(4000, torch.Generator().manual_seed(0)).tolist())
    assert set(drawn) <= set(training)
    sizes = sorted(training)
    expected = np.array([training[n] for n in sizes]) / sum(training.values())
    observed = np.array([drawn[n] for n in sizes]) / 4000
    assert 0.5 * np.abs(expected - observed).sum() < 0.03  # total variation; sampling noise is about 0.01
    numbers = model.sample(torch.full((2000,), 8), torch.Generator().manual_seed(1))
    assert len(numbers) == 16000 and set(numbers.tolist()) == {6}  # at top_p 1 about 0.3 % of cells were not carbon
    assert main(["sample", "--model", "carbon_24-composition", "-n", "6", "--steps", "20", "--out", str(tmp_path)]) == 0
    crystals = read_crystals(tmp_path).crystals
    assert len(crystals) == 6 and all(set(c.atomic_numbers.tolist()) == {6} for c in crystals)
    assert all(c.num_atoms in training for c in crystals)
