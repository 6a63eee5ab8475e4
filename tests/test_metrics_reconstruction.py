"""Reconstruction errors against hand-computed values for known distortions."""

from __future__ import annotations

import numpy as np
import pytest

from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.metrics.reconstruction import DEFAULT_BOND_CUTOFF, pair_errors, reconstruction_metrics


def test_identical_pairs_have_zero_error(perov_sample):
    metrics = reconstruction_metrics(perov_sample[:4], perov_sample[:4], workers=1)
    for key in ("coord_mse", "bond_length_mse", "lattice_length_mse", "lattice_angle_mse", "rmse"):
        assert metrics[key] == pytest.approx(0.0, abs=1e-12)
    assert metrics["atom_type_accuracy"] == 1.0 and metrics["match_rate"] == 1.0


def test_coordinate_error_after_alignment_equals_the_applied_displacement(mp20_sample):
    rng = np.random.default_rng(0)
    for target in mp20_sample[:5]:
        displacement = rng.normal(0, 0.03, (target.num_atoms, 3))
        displacement -= displacement.mean(axis=0)  # alignment removes any common translation
        frac = (target.frac_coords + displacement @ np.linalg.inv(target.lattice) + 0.31) % 1
        order = rng.permutation(target.num_atoms)
        prediction = target.copy(frac_coords=frac[order], atomic_numbers=target.atomic_numbers[order])
        (errors,) = pair_errors([prediction], [target], workers=1)
        assert errors["alignment"] == "structure_matcher"
        assert errors["coord_mse"] == pytest.approx(np.mean(np.sum(displacement**2, axis=1)), rel=1e-4)


def test_isotropic_strain_scales_bonds_and_lattice_only(mp20_sample):
    target = mp20_sample[3]
    prediction = target.copy(lattice=target.lattice * 1.1)
    (errors,) = pair_errors([prediction], [target], workers=1)
    _, _, _, bonds = structure_from_crystal(target).get_neighbor_list(DEFAULT_BOND_CUTOFF)
    assert errors["coord_mse"] == pytest.approx(0.0, abs=1e-10)
    assert errors["bond_length_mse"] == pytest.approx(np.mean((0.1 * bonds) ** 2), rel=1e-6)
    assert errors["lattice_length_mse"] == pytest.approx(np.mean((0.1 * target.lattice_parameters[:3]) ** 2))
    assert errors["lattice_angle_mse"] == pytest.approx(0.0, abs=1e-12)


def test_wrong_atom_type_falls_back_to_index_alignment(perov_sample):
    target = perov_sample[0]
    numbers = target.atomic_numbers.copy()
    numbers[0] = 3 if numbers[0] != 3 else 4
    (errors,) = pair_errors([target.copy(atomic_numbers=numbers)], [target], workers=1)
    assert errors["atom_type_accuracy"] == pytest.approx(1 - 1 / target.num_atoms)
    assert errors["alignment"] == "index" and errors["coord_mse"] == pytest.approx(0.0, abs=1e-12)
