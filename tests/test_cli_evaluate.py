"""``autoperi evaluate`` end to end on small sets, S.U.N. through the hull interface, and bad input."""

from __future__ import annotations

import gzip
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.errors import AutoPeriError
from autoperi.io.ase_adapter import write_extxyz
from autoperi.io.pymatgen_adapter import write_cif
from autoperi.metrics.reference import ReferenceSet, load_reference
from autoperi.metrics.report import write_all
from autoperi.metrics.stability import e_above_hull
from autoperi.metrics.suite import DngOptions, evaluate_dng
from autoperi.metrics.validity import is_compositionally_valid


@pytest.fixture
def small_reference(tmp_path, shared_data_root):
    """12 Perov-5 test rows as a CDVAE CSV inside a folder named like the dataset (so its cut-offs apply)."""
    folder = tmp_path / "perov_5"
    folder.mkdir()
    path = folder / "small.csv"
    pd.read_csv(shared_data_root / "perov_5" / "test.csv", index_col=0).iloc[:12].to_csv(path)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))


def cif_folder(crystals, folder, suffix=""):
    folder.mkdir()
    for crystal in crystals:
        write_cif(crystal, folder / f"{crystal.id}{suffix}.cif")
    return folder


def test_dng_against_itself(tmp_path, small_reference, cache, capsys):
    reference = load_reference(str(small_reference))
    generated = cif_folder(reference.crystals[:8], tmp_path / "generated")
    out = tmp_path / "out"
    assert main(["evaluate", str(generated), "--reference", str(small_reference), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["cov_precision"] == 1.0 and metrics["struct_valid"] == 1.0
    assert metrics["novel"] == 0.0 and metrics["unique"] == 1.0
    assert metrics["n_wasserstein_samples"] == round(metrics["valid"] * 8)
    for name in ("report.md", "density.png", "num_elements.png", "num_atoms.png"):
        assert (out / name).stat().st_size > 0
    assert "COV-P | 100.00%" in (out / "report.md").read_text()
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert settings["coverage_cutoffs_from"] == "perov_5" and not settings["reference_fingerprints_cached"]
    assert main(["evaluate", str(generated), "--reference", str(small_reference), "--out", str(out)]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["settings"]["reference_fingerprints_cached"] and again["settings"]["generated_fingerprints_cached"]
    assert again["metrics"] == metrics


def test_extxyz_input_with_novelty_off(tmp_path, small_reference, cache):
    crystals = load_reference(str(small_reference)).crystals[:3]
    path = write_extxyz(crystals, tmp_path / "samples.extxyz")
    out = tmp_path / "out"
    args = ["evaluate", str(path), "--reference", str(small_reference), "--no-novelty", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["n_generated"] == 3 and "novel" not in metrics and metrics["cov_precision"] == 1.0
    assert f"Only {round(metrics['valid'] * 3)} valid crystals" in (out / "report.md").read_text()


def test_unreadable_file_in_a_folder_counts_as_invalid(tmp_path, small_reference, cache, capsys):
    folder = cif_folder(load_reference(str(small_reference)).crystals[:2], tmp_path / "generated")
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 5\n")
    out = tmp_path / "out"
    assert main(["evaluate", str(folder), "--reference", str(small_reference), "--no-novelty", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["n_unreadable"] == 1 and metrics["struct_valid"] == pytest.approx(2 / 3)
    assert metrics["cov_precision"] == pytest.approx(2 / 3)
    assert "warning" in capsys.readouterr().err


def test_csp_and_recon_pair_predictions_with_targets(tmp_path, small_reference, cache):
    reference = load_reference(str(small_reference))
    predictions = [c.copy(id=f"{c.id}-{k}") for c in reference.crystals[:3] for k in range(2)]
    folder = cif_folder(predictions, tmp_path / "predictions")
    for task in ("csp", "recon"):
        out = tmp_path / task
        assert (
            main(
                [
                    "evaluate",
                    str(folder),
                    "--reference",
                    str(small_reference),
                    "--task",
                    task,
                    "--out",
                    str(out),
                    "--workers",
                    "1",
                ]
            )
            == 0
        )
        metrics = json.loads((out / "metrics.json").read_text())["metrics"]
        assert metrics["match_rate_structural"] == 1.0 and metrics["rmse_structural"] == pytest.approx(0, abs=1e-9)
    assert json.loads((tmp_path / "csp" / "metrics.json").read_text())["metrics"]["candidates_per_target"] == 2


def test_sun_uses_the_hull_function_only_on_unique_novel_valid_crystals(perov_sample, tmp_path, cache):
    known = ReferenceSet(perov_sample[6:], [tmp_path / "known.csv"], "known", "perov_5")
    known.sources[0].write_text("stand-in for the reference file")
    seen = []

    def fake_hull(crystals):
        seen.extend(crystals)
        return [(-0.1, 0.5, None, 0.0)[i % 4] for i in range(len(crystals))]

    options = DngOptions(workers=1, novelty=known, sun=True, hull_function=fake_hull)
    generated = perov_sample[:6] + perov_sample[6:8]  # 6 novel crystals, then 2 copies of known ones
    evaluation = evaluate_dng(generated, known, options)
    valid = [c for c in perov_sample[:6] if is_compositionally_valid(c)]
    assert [c.id for c in seen] == [c.id for c in valid]
    expected_stable = sum(v is not None and v <= 0 for v in fake_hull(valid))
    assert evaluation.metrics["sun"] == pytest.approx(expected_stable / 8)
    written = write_all(evaluation, tmp_path / "out", "generated")
    assert (tmp_path / "out" / "e_hull.png") in written


def test_sun_without_a_source_of_hull_energies_is_a_one_line_error(tmp_path, small_reference, cache, capsys):
    crystals = load_reference(str(small_reference)).crystals[:2]
    with pytest.raises(AutoPeriError, match="energies above hull"):
        e_above_hull(crystals, hull_function=None)
    np.testing.assert_array_equal(e_above_hull([crystals[0].copy(properties={"e_above_hull": 0.2})], None)[0], [0.2])
    folder = cif_folder(crystals, tmp_path / "generated")
    code = main(["evaluate", str(folder), "--reference", str(small_reference), "--sun", "--no-novelty"])
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["empty_folder", "malformed_cif", "unknown_reference", "empty_csv"])
def test_bad_input_gives_one_line_error(case, tmp_path, small_reference, capsys):
    target, reference = tmp_path / "input", str(small_reference)
    if case == "empty_folder":
        target.mkdir()
    elif case == "malformed_cif":
        target = tmp_path / "broken.cif"
        target.write_text("data_broken\n_cell_length_a 5\nloop_\n_atom_site_label\nNa1\n")
    elif case == "unknown_reference":
        target = cif_folder(load_reference(reference).crystals[:1], target)
        reference = "no_such_dataset"
    else:
        target = tmp_path / "empty.csv.gz"
        target.write_bytes(gzip.compress(b"material_id,cif\n"))
    assert main(["evaluate", str(target), "--reference", reference, "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("autoperi: error:") and len(error.splitlines()) == 1
    assert not (tmp_path / "o" / "metrics.json").exists()


@pytest.mark.slow
def test_physics_hull_function_relaxes_and_places_crystals_on_the_hull(small_reference, cache):
    pytest.importorskip("autoperi.physics.hull")
    from autoperi.metrics.stability import physics_hull_function

    crystals = load_reference(str(small_reference)).crystals[:2]
    hull_function = physics_hull_function(small_reference, workers=1)
    values, source = e_above_hull(crystals, hull_function)
    assert source.startswith("autoperi.metrics.stability.relax+hull")
    assert values.shape == (2,) and np.isfinite(values).all() and (values >= -1e-6).all()


def test_physics_adapter_relaxes_then_places_on_the_hull_in_order(perov_sample, monkeypatch, tmp_path):
    import autoperi.physics.hull as hull
    import autoperi.physics.relax as relax
    from autoperi.metrics.stability import physics_hull_function

    def fake_relax(crystals, workers=1, progress=True):
        relaxed = [c if i != 1 else None for i, c in enumerate(crystals)]  # the second one fails
        return [SimpleNamespace(relaxed=r, energy_per_atom_final=-float(i)) for i, r in enumerate(relaxed)]

    def fake_hull(crystals, reference, energies_per_atom=None):
        assert reference == ("hull built from", tmp_path / "phases.csv")
        return [SimpleNamespace(e_above_hull=0.1 * -energy) for energy in energies_per_atom]

    monkeypatch.setattr(relax, "relax_crystals", fake_relax)
    monkeypatch.setattr(hull, "energy_above_hull", fake_hull)
    monkeypatch.setattr(hull, "load_or_build_reference", lambda path, **_: ("hull built from", path))
    values = physics_hull_function(tmp_path / "phases.csv")(perov_sample[:3])
    assert values == [0.0, None, pytest.approx(0.2)]


def _fcc(element: str, a: float):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(a), [element] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def test_sun_with_real_relaxation_and_hull_through_the_cli(tmp_path, cache):
    """End to end with CHGNet: a Cu-Au reference (elements, CuAu, Cu3Au) and three strained candidates."""
    from pymatgen.core import Lattice, Structure

    from autoperi.io.cdvae_csv import write_cdvae_csv
    from autoperi.io.pymatgen_adapter import crystal_from_structure

    cu3au = Structure(
        Lattice.cubic(3.75), ["Au", "Cu", "Cu", "Cu"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    )
    cuau = Structure(Lattice.tetragonal(2.80, 3.67), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    reference = [_fcc("Cu", 3.61), _fcc("Au", 4.08), cuau, cu3au]
    write_cdvae_csv([crystal_from_structure(s, f"ref-{i}") for i, s in enumerate(reference)], tmp_path / "ref.csv")
    candidates = [cuau.copy(), cu3au.copy(), Structure(cu3au.lattice, ["Cu", "Au", "Au", "Au"], cu3au.frac_coords)]
    for structure in candidates:
        structure.apply_strain(0.02)
    write_cdvae_csv([crystal_from_structure(s, f"gen-{i}") for i, s in enumerate(candidates)], tmp_path / "gen.csv")
    reference_path = str(tmp_path / "ref.csv")
    out = tmp_path / "evaluation"
    arguments = [
        "evaluate",
        str(tmp_path / "gen.csv"),
        "--reference",
        reference_path,
        "--sun",
        "--hull-reference",
        reference_path,
        "--novelty-reference",
        reference_path,
        "--cutoffs",
        "0.4",
        "10",
        "--out",
        str(out),
    ]
    assert main(arguments) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    values = metrics["metrics"]
    assert values["novel"] == pytest.approx(1 / 3)  # only CuAu3 is new
    assert values["n_e_hull_computed"] == 1 and values["n_e_hull_failed"] == 0  # only it is relaxed and placed
    assert values["sun"] in (0.0, pytest.approx(1 / 3))
    assert (out / "e_hull.png").exists()
