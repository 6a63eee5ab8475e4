"""Library warnings (numpy, pymatgen, ...) stay out of normal command output; ``--debug`` shows them."""

from __future__ import annotations

import warnings

import numpy as np

from autoperi.cli.main import main
from autoperi.crystal import Crystal
from autoperi.io import readers
from cif_texts import two_site_cubic_cif

HELIUM_OXIDE_CIF = two_site_cubic_cif(4.0, "He", "O")


def test_formula_of_an_element_without_electronegativity_is_silent():  # pymatgen sorts He last
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Crystal(4 * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [2, 8]).formula == "OHe"


def test_a_real_file_converts_without_library_warnings(tmp_path, capsys):
    path = tmp_path / "heo.cif"
    path.write_text(HELIUM_OXIDE_CIF)
    assert main(["data", "convert", str(path), str(tmp_path / "out.csv")]) == 0
    captured = capsys.readouterr()
    assert "Warning" not in captured.err + captured.out


def test_library_warnings_are_hidden_unless_debugging(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    original = readers.read_crystals

    def noisy_read(*args, **kwargs):
        np.log(np.zeros(1))  # numpy: RuntimeWarning: divide by zero encountered in log
        warnings.warn("a pymatgen-style warning", UserWarning, stacklevel=1)
        return original(*args, **kwargs)

    monkeypatch.setattr(readers, "read_crystals", noisy_read)
    path = tmp_path / "heo.cif"
    path.write_text(HELIUM_OXIDE_CIF)
    assert main(["data", "convert", str(path), str(tmp_path / "a.extxyz")]) == 0
    assert "Warning" not in capsys.readouterr().err
    assert __import__("os").environ["PYTHONWARNINGS"] == "ignore"  # what spawned workers inherit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["--debug", "data", "convert", str(path), str(tmp_path / "b.extxyz")]) == 0
    assert {w.category for w in caught} >= {RuntimeWarning, UserWarning}
