"""The atom limit reaches ``autoperi screen`` and the slab settings; CIF and CSV readers refuse one atom
listed twice (two sites closer than 0.01 Å, periodic images included) with a one-line reason."""

from __future__ import annotations

import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.data.slabs import SlabSettings
from autoperi.errors import AutoPeriError
from autoperi.io import read_crystals
from autoperi.io.pymatgen_adapter import write_cif
from physics_structures import rocksalt, silicon


def test_slab_settings_take_the_atom_limit_in_force(monkeypatch):
    monkeypatch.delenv("AUTOPERI_MAX_ATOMS", raising=False)
    assert SlabSettings().max_atoms == 512
    monkeypatch.setenv("AUTOPERI_MAX_ATOMS", "40")
    assert SlabSettings().max_atoms == 40
    assert SlabSettings(max_atoms=90).max_atoms == 90  # --max-atoms wins over the environment
    monkeypatch.setenv("AUTOPERI_MAX_ATOMS", "many")
    with pytest.raises(AutoPeriError, match="AUTOPERI_MAX_ATOMS='many' is not a whole number"):
        SlabSettings()


@pytest.mark.parametrize(("variable", "option"), [("4", []), (None, ["--max-atoms", "4"])], ids=["env", "option"])
def test_screen_drops_candidates_over_the_atom_limit(tmp_path, capsys, monkeypatch, variable, option):
    if variable is None:
        monkeypatch.delenv("AUTOPERI_MAX_ATOMS", raising=False)
    else:
        monkeypatch.setenv("AUTOPERI_MAX_ATOMS", variable)
    candidates = tmp_path / "candidates"
    candidates.mkdir()
    write_cif(rocksalt(), candidates / "NaCl.cif")  # 8 atoms
    known = write_cif(silicon(), tmp_path / "known.cif")
    argv = ["screen", "--input", str(candidates), "--out", str(tmp_path / "out"), "--novelty-reference", str(known)]
    assert main(argv + option) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("autoperi: error")]
    assert len(errors) == 1 and "no candidate left to screen" in errors[0] and "too_many_atoms" in errors[0]


def test_screen_refuses_a_bad_atom_limit_in_one_line(tmp_path, capsys):
    path = write_cif(silicon(), tmp_path / "Si.cif")
    assert main(["screen", "--input", str(path), "--out", str(tmp_path / "out"), "--max-atoms", "0"]) == 2
    stderr = capsys.readouterr().err
    assert "the atom limit must be a whole number of atoms, at least 1" in stderr and "Traceback" not in stderr


def _cif(sites: list[tuple[str, float, float, float]], a: float = 4.0) -> str:
    header = [
        "data_x",
        "_symmetry_space_group_name_H-M 'P 1'",
        *(f"_cell_length_{axis} {a}" for axis in "abc"),
        *(f"_cell_angle_{angle} 90" for angle in ("alpha", "beta", "gamma")),
        "loop_",
        "_symmetry_equiv_pos_as_xyz",
        "'x, y, z'",
        "loop_",
        *(f"_atom_site_{field}" for field in ("type_symbol", "label", "fract_x", "fract_y", "fract_z", "occupancy")),
    ]
    rows = [f"{element} {element}{i} {x} {y} {z} 1" for i, (element, x, y, z) in enumerate(sites)]
    return "\n".join(header + rows) + "\n"


CASES = {
    "clean": [("Na", 0, 0, 0), ("Cl", 0.5, 0.5, 0.5)],
    "twice": [("Na", 0, 0, 0), ("Na", 0.0005, 0, 0), ("Cl", 0.5, 0.5, 0.5)],  # 0.002 Å apart
    "across_the_cell_face": [("Na", 0, 0, 0), ("Na", 0.9995, 0, 0), ("Cl", 0.5, 0.5, 0.5)],  # 0.002 Å by an image
    "close_but_two_atoms": [("Na", 0, 0, 0), ("Na", 0.075, 0, 0), ("Cl", 0.5, 0.5, 0.5)],  # 0.3 Å: invalid, read
}


@pytest.mark.parametrize("kind", ["csv", "cif"])
def test_one_atom_listed_twice_is_skipped_by_name(tmp_path, kind):
    if kind == "csv":
        path = tmp_path / "crystals.csv"
        pd.DataFrame([{"material_id": name, "cif": _cif(sites)} for name, sites in CASES.items()]).to_csv(path)
    else:
        path = tmp_path / "cifs"
        path.mkdir()
        for name, sites in CASES.items():
            (path / f"{name}.cif").write_text(_cif(sites))
    report = read_crystals(path, workers=1)
    assert sorted(c.id for c in report.crystals) == ["clean", "close_but_two_atoms"]
    messages = sorted(message for reason, message in report.errors if reason == "overlapping_atoms")
    assert len(messages) == 2 and len(report.errors) == 2
    assert messages[0].startswith("across_the_cell_face") and messages[1].startswith("twice")
    assert all("overlapping atoms: Na0 and Na1 are 0.0020 Å apart" in message for message in messages)
