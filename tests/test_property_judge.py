"""The property regressor (the judge of property targets): invariances, its loss by hand, the shipped model's
file, a trend a chemist expects and its stored predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.metrics.properties import JUDGE_MODEL, predict_properties
from autoperi.nn.painn import PaiNNConfig
from autoperi.nn.regressor import PropertyRegressor, PropertyRegressorConfig
from physics_structures import rocksalt, silicon

SMALL = PropertyRegressorConfig(network=PaiNNConfig(hidden_dim=16, num_layers=2, num_radial=8, cutoff=5.0))


def copper(a: float = 3.61) -> Crystal:
    """fcc Cu in its conventional cell, 4 atoms."""
    frac = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    return Crystal(np.eye(3) * a, frac, [29] * 4, id="Cu")


def _labelled(crystals: list[Crystal], gaps: list[float]) -> CrystalBatch:
    batch = CrystalBatch.from_crystals(crystals)
    batch.labels = {
        "band_gap": torch.tensor(gaps, dtype=torch.float64),
        "formation_energy_per_atom": torch.tensor([-2.0, 0.0, 0.0][: len(gaps)], dtype=torch.float64),
        "e_above_hull": torch.tensor([0.0, 0.01, 0.02][: len(gaps)], dtype=torch.float64),
    }
    return batch


def test_predictions_ignore_rotations_and_the_order_of_atoms():
    torch.manual_seed(0)
    model = PropertyRegressor(SMALL).eval()
    salt = rocksalt()
    rotation = Rotation.from_euler("xyz", [0.3, -1.1, 0.7]).as_matrix()
    order = np.random.default_rng(0).permutation(salt.num_atoms)
    turned = salt.copy(lattice=salt.lattice @ rotation.T)
    shuffled = salt.copy(frac_coords=salt.frac_coords[order], atomic_numbers=salt.atomic_numbers[order])
    predicted = [predict_properties(model, [c]) for c in (salt, turned, shuffled)]
    for name in SMALL.properties:
        assert predicted[1][name] == pytest.approx(predicted[0][name], abs=1e-5)
        assert predicted[2][name] == pytest.approx(predicted[0][name], abs=1e-5)


def test_loss_is_the_mae_in_standard_units_and_predictions_are_in_physical_units():
    model = PropertyRegressor(SMALL)
    batch = _labelled([rocksalt(), copper(), silicon()], [8.0, 0.0, 1.0])
    model.fit_statistics(batch)
    torch.nn.init.zeros_(model.head[-1].weight)
    torch.nn.init.zeros_(model.head[-1].bias)  # every prediction: the training mean
    gaps = np.array([8.0, 0.0, 1.0])
    expected = np.abs(gaps - 3.0).mean() / gaps.std(ddof=1)
    assert model.loss(batch)["band_gap"].item() == pytest.approx(expected, rel=1e-5)
    assert model.predict(batch)["band_gap"].tolist() == pytest.approx([3.0] * 3)


@pytest.fixture(scope="module")
def shipped() -> PropertyRegressor:
    from autoperi.training.export import load_model, resolve_model_path

    payload = torch.load(resolve_model_path(JUDGE_MODEL), map_location="cpu", weights_only=True)
    assert payload["config"]["model_type"] == "property_regressor"
    model, _, _ = load_model(JUDGE_MODEL, "property_regressor")
    return model


def test_shipped_judge_sees_an_ionic_insulator_and_a_metal_apart(shipped):
    predicted = predict_properties(shipped, [rocksalt(), copper()])
    gap, formation = predicted["band_gap"], predicted["formation_energy_per_atom"]
    assert gap[0] > 2.0 and gap[1] < 0.5  # NaCl: a DFT gap about 5 eV; Cu: a metal
    assert formation[0] < -1.5 and formation[1] > -0.3  # NaCl about -2.1 eV/atom; an element: 0


# The shipped judge's predictions for rock-salt NaCl, fcc Cu and diamond Si, when it was shipped.
STORED = {
    "band_gap": [3.10844, -0.00835, 0.02519],
    "formation_energy_per_atom": [-1.85104, 0.07793, -0.14394],
    "e_above_hull": [0.00384, 0.00931, 0.00271],
}


def test_shipped_judge_reproduces_its_stored_predictions(shipped):
    predicted = predict_properties(shipped, [rocksalt(), copper(), silicon()])
    for name, values in STORED.items():
        assert predicted[name].tolist() == pytest.approx(values, abs=1e-4)
