"""Metrics against a porous reference (``autoperi evaluate --reference zeolites_iza``): pore-descriptor Wasserstein
distances, their cache, zeolite framework validity and the evaluation's outputs, on three small real zeolites."""

from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.crystal import Crystal
from autoperi.io.pymatgen_adapter import parse_cif_text, write_cif
from autoperi.metrics.porous import cached_pore_table, pore_table, pore_wasserstein_distances, zeolite_validity
from autoperi.metrics.zeopp_adapter import PORE_COLUMNS, PoreSettings

# ABW (24 atoms) and BIK (36) are in the test split, SOD (36) in train.
CODES = ("ABW", "BIK", "SOD")
TEST_CODES = ("ABW", "BIK")

needs_pyzeo = pytest.mark.skipif(
    importlib.util.find_spec("pyzeo") is None, reason="pyzeo (the extra autoperi[porous]) is not installed"
)


@pytest.fixture(scope="module")
def frameworks(shared_data_root) -> list[Crystal]:
    table = pd.read_csv(shared_data_root / "zeolites_iza" / "relaxed.csv.gz")
    rows = table[table.material_id.isin(CODES)]
    return [parse_cif_text(cif, code)[0] for code, cif in zip(rows.material_id, rows.cif, strict=True)]


@pytest.fixture
def zeolite_root(shared_data_root, tmp_path, monkeypatch):
    """A data root whose zeolites_iza holds only the three frameworks, and a fresh cache."""
    folder = tmp_path / "data" / "zeolites_iza"
    folder.mkdir(parents=True)
    for name in ("relaxed.csv.gz", "experimental.csv.gz"):
        table = pd.read_csv(shared_data_root / "zeolites_iza" / name)
        table[table.material_id.isin(CODES)].to_csv(folder / name, index=False)
    monkeypatch.setenv("AUTOPERI_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "data"


def scaled(crystals: list[Crystal], factor: float) -> list[Crystal]:
    """The same frameworks with every cell vector stretched by ``factor`` (fractional coordinates kept)."""
    return [crystal.copy(lattice=crystal.lattice * factor) for crystal in crystals]


def without_one_oxygen(crystal: Crystal) -> Crystal:
    keep = np.ones(crystal.num_atoms, dtype=bool)
    keep[np.flatnonzero(crystal.atomic_numbers == 8)[0]] = False
    return crystal.copy(
        frac_coords=crystal.frac_coords[keep], atomic_numbers=crystal.atomic_numbers[keep], id=f"{crystal.id}-broken"
    )


@needs_pyzeo
def test_a_set_against_itself_is_at_distance_zero_and_stretched_cells_move_away(frameworks):
    settings = PoreSettings()
    reference = pore_table(frameworks, settings, workers=1)
    assert len(reference.rows) == 3 and not reference.failed
    assert pore_wasserstein_distances(reference, reference) == {f"wdist_{name}": 0.0 for name in PORE_COLUMNS}
    small, large = (
        pore_wasserstein_distances(pore_table(scaled(frameworks, factor), settings, workers=1), reference)
        for factor in (1.05, 1.15)
    )
    for name in ("largest_included_sphere", "largest_free_sphere", "void_fraction"):
        assert 0 < small[f"wdist_{name}"] < large[f"wdist_{name}"], name
    # wider cells open the windows: more accessible surface and volume per gram
    assert large["wdist_accessible_surface_area"] > 0 and large["wdist_accessible_volume"] > 0


@needs_pyzeo
def test_the_reference_descriptors_are_computed_once(frameworks, tmp_path, monkeypatch):
    import autoperi.metrics.porous as porous

    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "frameworks.csv"
    source.write_text("stands in for the reference's file\n")
    first, cached = cached_pore_table(frameworks, [source], "niggli=True", PoreSettings(), workers=1)
    assert not cached
    monkeypatch.setattr(porous, "pore_table", lambda *args: pytest.fail("recomputed a cached reference"))
    again, cached = cached_pore_table(frameworks, [source], "niggli=True", PoreSettings(), workers=1)
    assert cached and again.rows == first.rows
    with pytest.raises(pytest.fail.Exception):  # another probe is another key
        cached_pore_table(frameworks, [source], "niggli=True", PoreSettings(probe_radius=1.0), workers=1)


def test_zeolite_validity_flags_a_framework_missing_an_oxygen(frameworks):
    broken = [without_one_oxygen(crystal) for crystal in frameworks]
    np.testing.assert_array_equal(zeolite_validity(frameworks + broken, workers=1), [True] * 3 + [False] * 3)


def evaluate(samples, out, *options: str) -> dict:
    args = ["evaluate", str(samples), "--reference", "zeolites_iza", "--out", str(out), "--workers", "1", *options]
    assert main(args) == 0
    return json.loads((out / "metrics.json").read_text())


def cif_folder(crystals: list[Crystal], folder):
    folder.mkdir()
    for crystal in crystals:
        write_cif(crystal, folder / f"{crystal.id}.cif")
    return folder


@needs_pyzeo
def test_evaluate_against_zeolites_writes_pore_metrics_plot_and_tables(frameworks, zeolite_root, tmp_path):
    held_out = [c for c in frameworks if c.id in TEST_CODES]
    samples = cif_folder([*held_out, without_one_oxygen(held_out[0])], tmp_path / "samples")
    payload = evaluate(samples, tmp_path / "out")
    metrics, settings = payload["metrics"], payload["settings"]
    assert settings["reference"] == "zeolites_iza:test" and not settings["reference_pores_cached"]
    assert metrics["zeolite_valid"] == pytest.approx(2 / 3) and metrics["reference_zeolite_valid"] == 1.0
    assert metrics["n_pores_reference"] == 2 and metrics["n_pores_generated"] == metrics["n_wasserstein_samples"]
    out = tmp_path / "out"
    assert (out / "pores.png").stat().st_size > 10_000
    with (out / "pores_reference.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["id"] for row in rows) == list(TEST_CODES) and set(PORE_COLUMNS) <= set(rows[0])
    for name in PORE_COLUMNS:  # the held-out frameworks themselves, in another cell setting: Monte Carlo noise
        scale = np.mean([float(row[name]) for row in rows])
        assert metrics[f"wdist_{name}"] <= 0.05 * scale + 1e-9, name
    report = (out / "report.md").read_text()
    assert "Zeolite framework validity | 66.67%" in report and "![pores](pores.png)" in report

    stretched = cif_folder(scaled(held_out, 1.15), tmp_path / "stretched")
    moved = evaluate(stretched, tmp_path / "out-stretched", "--no-novelty", "--symmetry-fingerprints")
    assert moved["settings"]["reference_pores_cached"]
    assert moved["metrics"]["wdist_largest_included_sphere"] > 0.3 + metrics["wdist_largest_included_sphere"]
    assert moved["metrics"]["zeolite_valid"] == 1.0  # Si-O stretched to 1.85 Å: within the 0.4 Å tolerance


def test_without_pyzeo_the_pore_metrics_are_skipped_with_a_note(frameworks, zeolite_root, tmp_path, monkeypatch):
    import autoperi.metrics.zeopp_adapter as adapter
    from autoperi.errors import AutoPeriError

    def missing():
        raise AutoPeriError("pore descriptors need Zeo++ through pyzeo, which is not installed")

    monkeypatch.setattr(adapter, "require_pyzeo", missing)
    samples = cif_folder([c for c in frameworks if c.id in TEST_CODES], tmp_path / "samples")
    metrics = evaluate(samples, tmp_path / "out", "--no-novelty", "--symmetry-fingerprints")["metrics"]
    assert metrics["zeolite_valid"] == 1.0 and "wdist_void_fraction" not in metrics
    assert "Pore descriptors skipped" in (tmp_path / "out" / "report.md").read_text()
    assert not (tmp_path / "out" / "pores.png").exists()
