"""Densities against pymatgen, and the Wasserstein protocol."""

from __future__ import annotations

import numpy as np
import pytest

from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.metrics.distribution import (
    density,
    num_elements,
    property_table,
    sample_valid,
    wasserstein_distances,
)


def test_density_and_element_count_match_pymatgen(mp20_sample):
    for crystal in mp20_sample:
        structure = structure_from_crystal(crystal)
        assert density(crystal) == pytest.approx(structure.density, rel=1e-6)
        assert num_elements(crystal) == len(set(structure.species))


def test_sample_draws_only_valid_crystals_without_replacement():
    valid = np.zeros(5000, dtype=bool)
    valid[::3] = True
    sample = sample_valid(valid, 1000, seed=3)
    assert len(sample) == len(set(sample)) == 1000 and valid[sample].all()
    np.testing.assert_array_equal(sample, sample_valid(valid, 1000, seed=3))
    assert len(sample_valid(valid[:30], 1000)) == valid[:30].sum()


def test_wasserstein_is_zero_for_the_same_set_and_the_shift_for_a_shifted_one(mp20_sample):
    table = property_table(mp20_sample)
    everything = np.arange(len(mp20_sample))
    assert all(v == pytest.approx(0.0) for v in wasserstein_distances(table, table, everything).values())
    shifted = {name: values + 0.7 for name, values in table.items()}
    distances = wasserstein_distances(shifted, table, everything)
    assert distances["wdist_density"] == pytest.approx(0.7)
    assert distances["wdist_num_atoms"] == pytest.approx(0.7)
