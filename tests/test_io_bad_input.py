"""Each kind of bad input is skipped with its reason when loading, and is a one-line error on the CLI."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.errors import CrystalError
from autoperi.io.readers import read_crystals, read_one_crystal
from cif_texts import two_site_cubic_cif

GOOD_CIF = two_site_cubic_cif(5.64, "Na", "Cl")

# Rock salt as pymatgen writes it: conventional cell, P1, with the formula it declares.
NACL_CONVENTIONAL_CIF = """data_NaCl
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   5.64
_cell_length_b   5.64
_cell_length_c   5.64
_cell_angle_alpha   90.0
_cell_angle_beta   90.0
_cell_angle_gamma   90.0
_chemical_formula_sum   'Na4 Cl4'
loop_
 _symmetry_equiv_pos_site_id
 _symmetry_equiv_pos_as_xyz
  1  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Na  Na0  0.0  0.0  0.0  1
  Na  Na1  0.0  0.5  0.5  1
  Na  Na2  0.5  0.0  0.5  1
  Na  Na3  0.5  0.5  0.0  1
  Cl  Cl4  0.5  0.5  0.5  1
  Cl  Cl5  0.5  0.0  0.0  1
  Cl  Cl6  0.0  0.5  0.0  1
  Cl  Cl7  0.0  0.0  0.5  1
"""

# The same crystal in Fm-3m, where the F-centring maps Cl1 onto a second Cl site listed by mistake.
NACL_FM3M_CIF = """data_NaCl
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Cl1 Cl 0.5 0.5 0.5
"""

BAD_CIFS = {
    "malformed_cif": "data_broken\nthis is not a cif at all\n",
    "disordered": GOOD_CIF.replace("Cl Cl1 0.5 0.5 0.5 1", "Cl Cl1 0.5 0.5 0.5 0.5\nBr Br1 0.5 0.5 0.5 0.5"),
    "unknown_element": GOOD_CIF.replace("Cl Cl1", "Qq Qq1"),
    "non_finite": GOOD_CIF.replace("0.5 0.5 0.5", "nan 0.5 0.5"),
    "zero_atoms": GOOD_CIF.split("loop_")[0],
    "non_positive_volume": GOOD_CIF.replace("_cell_angle_gamma 90", "_cell_angle_gamma 0"),
    "empty": "",
    "invalid_lattice": GOOD_CIF.replace("_cell_length_a 5.64", "_cell_length_a -5.64"),
    "inconsistent_formula": NACL_CONVENTIONAL_CIF.split("  Cl  Cl5")[0],
    "overlapping_atoms": GOOD_CIF.replace("Cl Cl1 0.5 0.5 0.5", "Cl Cl1 0.0 0.0 0.0"),
}


@pytest.mark.parametrize("reason", sorted(BAD_CIFS))
def test_bad_cif_file_gives_its_reason(tmp_path, reason):
    path = tmp_path / "bad.cif"
    path.write_text(BAD_CIFS[reason])
    report = read_crystals(path)
    assert report.crystals == []
    assert dict(report.skipped) == {reason: 1}
    with pytest.raises(CrystalError) as caught:
        read_one_crystal(path)
    assert caught.value.reason == reason


def test_cif_with_a_byte_order_mark_loads(tmp_path):
    plain, marked = tmp_path / "plain.cif", tmp_path / "marked.cif"
    plain.write_text(GOOD_CIF)
    marked.write_bytes(GOOD_CIF.encode("utf-8-sig"))
    expected, crystal = read_one_crystal(plain), read_one_crystal(marked)
    np.testing.assert_allclose(crystal.lattice, expected.lattice)
    np.testing.assert_array_equal(crystal.atomic_numbers, [11, 17])


def test_negative_cell_length_is_refused_not_flipped(tmp_path):
    path = tmp_path / "negative.cif"
    path.write_text(BAD_CIFS["invalid_lattice"])
    with pytest.raises(CrystalError, match=re.escape("_cell_length_a is -5.64: a cell length must be positive")):
        read_one_crystal(path)


def test_cif_cut_off_in_its_atom_loop_is_refused(tmp_path):
    complete, cut = tmp_path / "complete.cif", tmp_path / "cut.cif"
    complete.write_text(NACL_CONVENTIONAL_CIF)
    assert read_one_crystal(complete).num_atoms == 8
    for line in ("  Na  Na1", "  Cl  Cl4", "  Cl  Cl7"):  # one Na left, every Cl lost, one Cl lost
        cut.write_text(NACL_CONVENTIONAL_CIF.split(line)[0])
        with pytest.raises(CrystalError, match="_chemical_formula_sum is 'Na4 Cl4'") as caught:
            read_one_crystal(cut)
        assert caught.value.reason == "inconsistent_formula"


def test_atoms_at_one_position_are_named_as_overlapping(tmp_path):
    path = tmp_path / "overlap.cif"
    path.write_text(GOOD_CIF.replace("Cl Cl1 0.5 0.5 0.5", "Cl Cl1 0.0 0.0 0.00002"))
    with pytest.raises(CrystalError, match=r"overlapping atoms: Na0 and Cl1 are 0\.000 Å apart"):
        read_one_crystal(path)
    path.write_text(NACL_FM3M_CIF)
    assert read_one_crystal(path).num_atoms == 8
    path.write_text(NACL_FM3M_CIF + "Cl2 Cl 0.5 0 0\n")  # an F-centring image of Cl1
    with pytest.raises(CrystalError, match=re.escape("overlapping atoms: Cl1 and Cl2 are 0.000 Å apart")):
        read_one_crystal(path)


def test_too_many_atoms_is_a_limit(tmp_path):
    path = tmp_path / "nacl.cif"
    path.write_text(GOOD_CIF)
    assert len(read_crystals(path, max_atoms=2).crystals) == 1
    report = read_crystals(path, max_atoms=1)
    assert dict(report.skipped) == {"too_many_atoms": 1}


def test_csv_load_skips_bad_rows_and_reports_why(tmp_path):
    rows = [("good-1", GOOD_CIF), *((f"bad-{r}", text) for r, text in BAD_CIFS.items()), ("good-2", GOOD_CIF)]
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"material_id": [r[0] for r in rows], "cif": [r[1] for r in rows]}).to_csv(path)
    report = read_crystals(path, workers=2)
    assert [c.id for c in report.crystals] == ["good-1", "good-2"]
    assert dict(report.skipped) == dict.fromkeys(BAD_CIFS, 1)
    summary = report.summary()
    assert f"skipped {len(BAD_CIFS)}" in summary and "bad-disordered" in summary


def test_extxyz_with_nan_or_unknown_element(tmp_path):
    nan_file = tmp_path / "nan.extxyz"
    nan_file.write_text(
        '2\nLattice="5.64 0 0 0 5.64 0 0 0 5.64" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
        "Na 0 0 0\nCl nan 2.82 2.82\n"
    )
    assert dict(read_crystals(nan_file).skipped) == {"non_finite": 1}
    unknown = tmp_path / "unknown.extxyz"
    unknown.write_text(nan_file.read_text().replace("nan", "2.82").replace("Cl", "Qq"))
    assert dict(read_crystals(unknown).skipped) == {"unknown_element": 1}


def test_empty_inputs(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "empty.extxyz").write_text("")
    (tmp_path / "nothing").mkdir()
    for name in ("empty.csv", "empty.extxyz", "nothing"):
        with pytest.raises(CrystalError):
            read_one_crystal(tmp_path / name)


def test_csv_without_cif_column(tmp_path):
    path = tmp_path / "table.csv"
    pd.DataFrame({"material_id": ["a"], "formula": ["NaCl"]}).to_csv(path)
    with pytest.raises(CrystalError, match="no 'cif' column"):
        read_crystals(path)


def test_unknown_format(tmp_path):
    path = tmp_path / "structure.pdb"
    path.write_text("ATOM")
    with pytest.raises(CrystalError, match="unknown format"):
        read_crystals(path)


@pytest.mark.parametrize(
    "reason", ["malformed_cif", "disordered", "non_finite", "empty", "invalid_lattice", "overlapping_atoms"]
)
def test_cli_prints_one_line_and_exits_nonzero(tmp_path, capsys, reason):
    path = tmp_path / "bad.cif"
    path.write_text(BAD_CIFS[reason])
    code = main(["data", "convert", str(path), str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code != 0
    error_lines = captured.err.strip().splitlines()
    assert len(error_lines) == 1 and error_lines[0].startswith("autoperi: error:")
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("reason", ["malformed_cif", "invalid_lattice", "inconsistent_formula", "overlapping_atoms"])
@pytest.mark.parametrize(
    "arguments",
    [
        ["data", "info", "BAD", "--out", "OUT"],
        ["evaluate", "BAD", "--reference", "perov_5", "--out", "OUT"],
        ["relax", "BAD", "--out", "OUT"],
    ],
)
def test_every_reading_command_rejects_a_bad_file(tmp_path, capsys, arguments, reason):
    path = tmp_path / "bad.cif"
    path.write_text(BAD_CIFS[reason])
    substitutions = {"BAD": str(path), "OUT": str(tmp_path / "out")}
    assert main([substitutions.get(a, a) for a in arguments]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert read_crystals(path).first_error[reason].split(": ", 1)[1] in captured.err


def test_cli_missing_file(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "missing.cif")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_nan_from_numpy_input_is_caught():
    from autoperi.crystal import Crystal

    crystal = Crystal(np.eye(3) * 4, [[0.1, np.nan, 0.2]], [6])
    with pytest.raises(CrystalError, match="NaN"):
        crystal.validate()


def mixed_csv(path):
    rows = [
        ("good-1", GOOD_CIF),
        ("bad-overlap", BAD_CIFS["overlapping_atoms"]),
        ("good-2", NACL_CONVENTIONAL_CIF),
        ("bad-cut", BAD_CIFS["inconsistent_formula"]),
    ]
    pd.DataFrame({"material_id": [r[0] for r in rows], "cif": [r[1] for r in rows]}).to_csv(path)
    return path


@pytest.mark.parametrize(
    "arguments",
    [
        ["evaluate", "CSV", "--reference", "REF", "--no-novelty", "--out", "OUT"],
        ["data", "info", "CSV", "--out", "OUT"],
        ["data", "convert", "CSV", "OUT/converted.extxyz"],
        ["relax", "CSV", "--steps", "0", "--out", "OUT"],
    ],
)
def test_every_command_reading_many_structures_names_each_skipped_row(tmp_path, capsys, monkeypatch, arguments):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("autoperi.progress.LOG_INTERVAL_S", 0.0)  # progress lines from the first update on
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"material_id": ["ref"], "cif": [NACL_CONVENTIONAL_CIF]}).to_csv(reference)
    out = tmp_path / "out"
    substitutions = {"CSV": str(mixed_csv(tmp_path / "mixed.csv")), "REF": str(reference), "OUT": str(out)}
    assert main([substitutions.get(a, a).replace("OUT", str(out)) for a in arguments]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in text
    assert "bad-overlap: overlapping atoms: Na0 and Cl1 are 0.000 Å apart [overlapping_atoms]" in text
    assert "bad-cut: the atom sites give Na4 Cl1" in text and "[inconsistent_formula]" in text
    if arguments[0] == "evaluate":
        metrics = json.loads((out / "metrics.json").read_text())["metrics"]
        assert metrics["n_generated"] == 4 and metrics["n_unreadable"] == 2
        assert "fingerprints (generated)" in captured.err and "fingerprints (reference)" in captured.err
    elif arguments[1] == "info":
        assert any(line.split()[:3] == ["mixed.csv", "2", "2"] for line in captured.out.splitlines())
    elif arguments[1] == "convert":
        assert [c.id for c in read_crystals(out / "converted.extxyz").crystals] == ["good-1", "good-2"]
    else:
        assert sorted(pd.read_csv(out / "relax.csv")["id"]) == ["good-1", "good-2"]
