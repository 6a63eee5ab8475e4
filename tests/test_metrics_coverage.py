"""COV-R/COV-P and the fingerprints behind them."""

from __future__ import annotations

import csv
import gzip
import io

import numpy as np
import pytest
from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

from autoperi.metrics._cdvae_magpie_scaler import MAGPIE_MEANS, MAGPIE_STDS
from autoperi.metrics.coverage import (
    COMPOSITION_FP_SIZE,
    STRUCTURE_FP_SIZE,
    Fingerprints,
    cached_fingerprints,
    compute_fingerprints,
    coverage,
    site_orbits,
    standardised_composition,
    structure_fingerprint,
)
from physics_structures import rocksalt, silicon


def fingerprints(structure_rows, composition_rows) -> Fingerprints:
    """Fingerprints whose standardised composition equals ``composition_rows`` (first feature only)."""
    structure = np.zeros((len(structure_rows), STRUCTURE_FP_SIZE))
    structure[:, 0] = structure_rows
    composition = np.tile(np.asarray(MAGPIE_MEANS), (len(composition_rows), 1))
    composition[:, 0] += np.asarray(composition_rows) * MAGPIE_STDS[0]
    return Fingerprints(structure, composition)


def test_split_scored_against_itself_has_full_coverage(perov_sample):
    prints = compute_fingerprints(perov_sample, workers=2)
    result = coverage(prints, prints, 0.2, 4.0)
    assert result["cov_recall"] == 1.0 and result["cov_precision"] == 1.0
    assert result["amsd_recall"] == 0.0 and result["amcd_precision"] == 0.0


def test_structural_and_compositional_neighbours_are_taken_independently():
    # Generated crystal 0 is structurally close to reference 0 and compositionally close to reference 1,
    # but close to neither in both: the reference code still counts it as covered (precision). Each
    # reference, seen from the single generated crystal, is near in one fingerprint only: not recalled.
    generated = fingerprints([0.0], [0.0])
    reference = fingerprints([0.1, 5.0], [50.0, 1.0])
    result = coverage(generated, reference, 0.4, 10.0)
    assert result["cov_precision"] == 1.0
    assert result["cov_recall"] == 0.0
    assert result["amsd_precision"] == pytest.approx(0.1)
    assert result["amcd_precision"] == pytest.approx(1.0)


def test_cutoffs_and_failed_fingerprints():
    generated = fingerprints([0.0, 0.0, 0.0], [0.0, 20.0, 0.0])
    generated.structure[2] = np.nan  # CrystalNN failed: left out, but still in COV-P's denominator
    reference = fingerprints([0.3, 0.5], [0.0, 0.0])
    result = coverage(generated, reference, 0.4, 10.0)
    assert result["cov_precision"] == pytest.approx(1 / 3)  # only crystal 0 is within both cut-offs
    assert result["cov_recall"] == pytest.approx(1 / 2)  # reference 1 is 0.5 away structurally
    assert result["n_generated_fingerprinted"] == 2


def test_standardisation_uses_fixed_constants_and_zeroes_nans():
    raw = np.tile(np.asarray(MAGPIE_MEANS), (2, 1))
    raw[0, 5] += 2 * MAGPIE_STDS[5]
    raw[1, 7] = np.nan
    scaled = standardised_composition(raw)
    assert scaled.shape == (2, COMPOSITION_FP_SIZE)
    assert scaled[0, 5] == pytest.approx(2.0)
    assert np.count_nonzero(scaled) == 1


@pytest.mark.parametrize(
    ("crystal", "coordination"), [(rocksalt(), "octahedral CN_6"), (silicon(), "tetrahedral CN_4")]
)
def test_structure_fingerprint_recognises_the_coordination_and_ignores_the_cell(crystal, coordination):
    # Rock salt is octahedral and diamond-structure silicon tetrahedral at every site: the weight of that
    # coordination number and its order parameter are 1, every other coordination number weighs 0.
    labels = CrystalNNFingerprint.from_preset("ops").feature_labels()
    fingerprint = structure_fingerprint(crystal)
    number = coordination.split()[-1]
    assert fingerprint[labels.index(f"wt {number}")] == pytest.approx(1.0)
    assert fingerprint[labels.index(coordination)] == pytest.approx(1.0, abs=1e-6)
    assert sum(fingerprint[i] for i, label in enumerate(labels) if label.startswith("wt ")) == pytest.approx(1.0)
    supercell = crystal.supercell((2, 1, 1))
    order = np.random.default_rng(0).permutation(supercell.num_atoms)
    shuffled = supercell.copy(frac_coords=supercell.frac_coords[order], atomic_numbers=supercell.atomic_numbers[order])
    np.testing.assert_allclose(structure_fingerprint(shuffled), fingerprint, atol=1e-9)


def test_symmetry_reduced_fingerprint_is_close_to_the_plain_one(mp20_sample):
    # Not bit-identical: CrystalNN's order parameters of equivalent sites carry numerical noise.
    for crystal in mp20_sample[:8]:
        representatives, sizes = site_orbits(crystal)
        assert sizes.sum() == crystal.num_atoms and len(representatives) <= crystal.num_atoms
        plain, reduced = structure_fingerprint(crystal), structure_fingerprint(crystal, use_symmetry=True)
        assert np.abs(plain - reduced).max() < 1e-2


def test_reference_fingerprints_are_cached_by_file_hash(perov_sample, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "reference.csv"
    source.write_text("pretend reference file")
    first, hit_first = cached_fingerprints(perov_sample[:4], [source], workers=1)
    second, hit_second = cached_fingerprints(perov_sample[:4], [source], workers=1)
    assert (hit_first, hit_second) == (False, True)
    np.testing.assert_array_equal(first.structure, second.structure)
    source.write_text("the file changed")
    assert cached_fingerprints(perov_sample[:4], [source], workers=1)[1] is False


@pytest.mark.slow
def test_whole_perov5_test_split_against_itself_has_full_coverage(tmp_path, monkeypatch):
    from autoperi.metrics.reference import load_reference

    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path))
    reference = load_reference("perov_5")
    prints, _ = cached_fingerprints(reference.crystals, reference.sources)
    result = coverage(prints, prints, 0.2, 4.0)
    assert result["cov_recall"] == 1.0 and result["cov_precision"] == 1.0


def test_shipped_fingerprints_answer_when_the_cache_is_empty(perov_sample, tmp_path, monkeypatch):
    import autoperi.metrics.coverage as coverage_module

    source = tmp_path / "reference.csv"
    source.write_text("a reference file")
    shipped = tmp_path / "shipped"
    key = coverage_module.fingerprint_key([source], "", 4, False)
    computed = compute_fingerprints(perov_sample[:4], workers=1)
    computed.save(shipped / f"{key}.npz")
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(coverage_module, "SHIPPED_FINGERPRINTS", shipped)
    monkeypatch.setattr(coverage_module, "compute_fingerprints", lambda *args, **kwargs: pytest.fail("recomputed"))
    found, hit = cached_fingerprints(perov_sample[:4], [source], workers=1)
    assert hit
    np.testing.assert_array_equal(found.structure, computed.structure)


def test_shipped_mp20_test_fingerprints_match_the_data_and_a_fresh_computation(shared_data_root, tmp_path):
    from autoperi.data import load_file
    from autoperi.metrics.coverage import SHIPPED_FINGERPRINTS, fingerprint_key
    from autoperi.metrics.reference import ReferenceSet

    test_file = shared_data_root / "mp_20" / "test.csv.gz"
    key = fingerprint_key([test_file], ReferenceSet.read_options, 9046, False)
    shipped = Fingerprints.load(SHIPPED_FINGERPRINTS / f"{key}.npz")
    assert len(shipped) == 9046
    head = tmp_path / "head.csv"  # the split's first three rows, read by the same loader
    with gzip.open(test_file, "rt") as handle:
        text = handle.read()
    rows = list(csv.reader(io.StringIO(text)))
    with head.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows[:4])
    fresh = compute_fingerprints(list(load_file(head, niggli=True, use_cache=False)), workers=1)
    np.testing.assert_allclose(fresh.structure, shipped.structure[:3], atol=1e-9)
    np.testing.assert_allclose(fresh.composition, shipped.composition[:3], atol=1e-9, equal_nan=True)
