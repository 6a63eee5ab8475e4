"""``autoperi relax``: relaxed CIFs and relax.csv from a folder; one-line errors for bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.io import read_one_crystal
from autoperi.io.pymatgen_adapter import write_cif
from physics_structures import perturbed, rocksalt, silicon


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_explains_when_matched_rms_is_empty(capsys):
    with pytest.raises(SystemExit):
        main(["relax", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "matched_rms, pymatgen StructureMatcher's RMS distance" in text
    assert "left empty when the matcher (default tolerances) finds no match" in text


def test_relaxes_a_folder_and_skips_a_malformed_cif(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_cif(perturbed(silicon(), seed=0), folder / "Si.cif")
    write_cif(perturbed(rocksalt(), seed=1), folder / "NaCl.cif")
    (folder / "broken.cif").write_text(MALFORMED_CIF)
    out = tmp_path / "out"
    argv = ["relax", str(folder), "--out", str(out), "--steps", "8", "--fmax", "0.01"]
    code, stdout, stderr = run(argv, capsys)
    assert code == 0, stderr
    assert "skipped 1" in stderr and "Traceback" not in stderr
    table = pd.read_csv(out / "relax.csv")
    assert list(table["id"]) == ["NaCl", "Si"]
    expected_columns = {"energy_per_atom_initial", "energy_per_atom_final", "matched_rms", "displacement", "steps"}
    assert expected_columns <= set(table.columns)
    assert table["displacement"].notna().all() and (table["matched_rms"] < 0.3).all()
    assert (table["steps"] == 8).all() and not table["converged"].any()
    assert (table["energy_per_atom_final"] < table["energy_per_atom_initial"]).all()
    relaxed = read_one_crystal(out / "Si.cif")
    assert relaxed.formula == "Si" and relaxed.num_atoms == 2
    assert "relaxed 2 of 2" in stdout


MALFORMED_CIF = "data_x\n_cell_length_a 3\nloop_\n"


def empty_folder(path):
    path.mkdir()
    return path


def malformed_cif(path):
    path = path.with_suffix(".cif")
    path.write_text(MALFORMED_CIF)
    return path


def americium_cif(path):
    return write_cif(silicon().copy(atomic_numbers=[95, 95], id="Am"), path.with_suffix(".cif"))


@pytest.mark.parametrize(
    ("make_input", "message"),
    [(empty_folder, "holds no .cif"), (malformed_cif, "nothing to relax"), (americium_cif, "element Am")],
    ids=["empty-folder", "malformed-cif", "unsupported-element"],
)
def test_bad_input_is_one_line(tmp_path, capsys, make_input, message):
    path = make_input(tmp_path / "input")
    code, _, stderr = run(["relax", str(path), "--out", str(tmp_path / "out"), "--steps", "2"], capsys)
    errors = [line for line in stderr.splitlines() if line.startswith("autoperi: error")]
    assert code == 2 and len(errors) == 1 and message in errors[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("pressure", ["nan", "inf"])
def test_a_pressure_that_is_not_finite_is_one_line(tmp_path, capsys, pressure):
    path = write_cif(silicon(), tmp_path / "si.cif")
    argv = ["relax", str(path), "--out", str(tmp_path / "out"), "--pressure", pressure]
    code, _, stderr = run(argv, capsys)
    assert code == 2 and "--pressure must be a finite number" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out" / "relax.csv").exists()
