"""The atom limit is a setting (argument, AUTOPERI_MAX_ATOMS, default 512) with a one-line error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.crystal import Crystal
from autoperi.data import load_file
from autoperi.errors import AutoPeriError, CrystalError
from autoperi.io.pymatgen_adapter import cif_text
from autoperi.io.readers import read_crystals
from autoperi.limits import ATOM_LIMIT_VARIABLE, DEFAULT_MAX_ATOMS, AtomLimit, atom_limit


@pytest.fixture
def rocksalt() -> Crystal:
    return Crystal(5.64 * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17], id="NaCl")


def test_the_limit_comes_from_the_argument_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv(ATOM_LIMIT_VARIABLE, raising=False)
    assert atom_limit().max_atoms == DEFAULT_MAX_ATOMS == 512
    monkeypatch.setenv(ATOM_LIMIT_VARIABLE, "2000")
    assert atom_limit().max_atoms == 2000
    assert atom_limit(30).max_atoms == 30


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "12"])
def test_a_limit_that_is_not_a_positive_whole_number_is_refused(value):
    with pytest.raises(AutoPeriError, match="atom limit"):
        AtomLimit(value)


def test_a_malformed_environment_value_is_one_line(monkeypatch):
    monkeypatch.setenv(ATOM_LIMIT_VARIABLE, "lots")
    with pytest.raises(AutoPeriError, match=f"{ATOM_LIMIT_VARIABLE}='lots'"):
        atom_limit()


def test_a_cell_over_the_limit_fails_in_one_line_that_says_how_to_raise_it(monkeypatch, rocksalt):
    monkeypatch.setenv(ATOM_LIMIT_VARIABLE, "15")
    big = rocksalt.supercell((2, 2, 2))
    with pytest.raises(CrystalError) as caught:
        big.validate()
    assert caught.value.reason == "too_many_atoms"
    message = str(caught.value)
    assert "\n" not in message and "16 atoms" in message and "limit of 15" in message and "--max-atoms" in message
    assert big.validate(max_atoms=16) is big


def test_readers_and_the_cached_loader_follow_the_setting(monkeypatch, tmp_path, rocksalt):
    path = tmp_path / "cells.csv"
    cells = [rocksalt, rocksalt.supercell((2, 1, 1)), rocksalt.supercell((2, 2, 2))]
    pd.DataFrame({"material_id": ["n2", "n4", "n16"], "cif": [cif_text(c) for c in cells]}).to_csv(path)
    monkeypatch.setenv(ATOM_LIMIT_VARIABLE, "4")
    assert [c.id for c in read_crystals(path, workers=1).crystals] == ["n2", "n4"]
    assert len(load_file(path, niggli=False, workers=1)) == 2
    monkeypatch.delenv(ATOM_LIMIT_VARIABLE)
    assert len(load_file(path, niggli=False, workers=1)) == 3  # the cache is keyed by the limit in force


def test_cli_refuses_a_bad_limit_in_one_line(tmp_path, capsys, rocksalt):
    path = tmp_path / "cells.csv"
    pd.DataFrame({"material_id": ["n2"], "cif": [cif_text(rocksalt)]}).to_csv(path)
    assert main(["data", "info", str(path), "--max-atoms", "0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "atom limit" in error
