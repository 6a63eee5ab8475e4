"""benchmarks/physics_ablation.py without training: paired differences and the rendered table."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "physics_ablation.py"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("physics_ablation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def rows(energies: list[float]) -> list[dict]:
    return [{"energy_per_atom": energy} for energy in energies]


def test_paired_differences_by_hand(ablation):
    crystals = {"flow": rows([-5.0, -4.0, -3.0, math.nan]), "physics": rows([-5.5, -4.1, -2.9, -6.0])}
    count, mean, error, lower = ablation.paired_differences(crystals, "energy_per_atom")
    # pairs: -0.5, -0.1, +0.1 (the NaN pair is left out); mean -1/6, sample std 0.3055, s.e. 0.3055/√3
    assert count == 3 and lower == pytest.approx(2 / 3)
    assert mean == pytest.approx(-1 / 6) and error == pytest.approx(0.30550505 / math.sqrt(3))


def test_too_few_pairs_give_nan_not_an_error(ablation):
    crystals = {"flow": rows([math.nan, -1.0]), "physics": rows([-1.0, -1.0])}
    count, mean, _, _ = ablation.paired_differences(crystals, "energy_per_atom")
    assert count == 1 and math.isnan(mean)
    assert "| CHGNet energy, raw (eV/atom) | 1 |" in "\n".join(ablation.paired_table(crystals))
