"""The porous sets (IZA zeolites, CoRE COFs): the fixed held-out split and ``autoperi data info``."""

from __future__ import annotations

import hashlib
from collections import Counter

import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.data import load_split
from autoperi.data.porous import POROUS_SETS, held_out_split, porous_set
from autoperi.errors import DatasetError


def test_a_frameworks_split_follows_from_its_id_alone():
    for code in ("FAU", "SOD", "MFI", "LTA", "CHA", "BEA"):
        fraction = int(hashlib.sha256(code.encode()).hexdigest()[:16], 16) / 16**16
        expected = "test" if fraction < 0.15 else "val" if fraction < 0.30 else "train"
        assert held_out_split(code) == expected
    assert held_out_split("FAU") == "test" and held_out_split("MFI") == "train"


def test_split_sizes_and_that_both_geometries_of_a_zeolite_share_a_split(shared_data_root):
    relaxed = pd.read_csv(shared_data_root / "zeolites_iza" / "relaxed.csv.gz").material_id
    experimental = pd.read_csv(shared_data_root / "zeolites_iza" / "experimental.csv.gz").material_id
    assert Counter(map(held_out_split, relaxed)) == {"train": 166, "val": 40, "test": 30}
    assert Counter(map(held_out_split, experimental)) == {"train": 179, "val": 41, "test": 33}
    assert len(set(relaxed) & set(experimental)) == 234  # a code in both files has one split, from the code
    cofs = pd.read_csv(shared_data_root / "core_cof" / "dt613_v6.csv.gz").material_id.astype(str)
    assert Counter(map(held_out_split, cofs)) == {"train": 409, "val": 102, "test": 101}


def test_split_names_and_unknown_ones():
    assert POROUS_SETS["zeolites_iza"].split_names() == [
        "train", "val", "test", "experimental_train", "experimental_val", "experimental_test"
    ]  # fmt: skip
    assert porous_set("zeolites_iza").parse_split("experimental_test") == ("experimental", "test")
    assert POROUS_SETS["core_cof"].split_names() == ["train", "val", "test"]
    with pytest.raises(DatasetError, match="no split"):
        load_split("zeolites_iza", "relaxed_test")


@pytest.fixture
def small_zeolite_root(shared_data_root, tmp_path):
    """A data root holding the real relaxed and as-published cells of six small frameworks."""
    codes = ["SOD", "LTA", "ABW", "FAU", "BIK", "MFI"]
    folder = tmp_path / "zeolites_iza"
    folder.mkdir()
    for name in ("relaxed.csv.gz", "experimental.csv.gz"):
        table = pd.read_csv(shared_data_root / "zeolites_iza" / name)
        table[table.material_id.isin(codes)].to_csv(folder / name, index=False)
    return tmp_path


def test_load_split_keeps_the_frameworks_of_the_split_and_their_skipped_rows(small_zeolite_root):
    test = load_split("zeolites_iza", "test", small_zeolite_root, max_atoms=512)
    assert [c.id for c in test] == ["ABW", "BIK"] and test.reports[0].skipped == {"too_many_atoms": 1}  # FAU: 576
    test = load_split("zeolites_iza", "test", small_zeolite_root, max_atoms=1000)
    assert [c.id for c in test] == ["ABW", "BIK", "FAU"] and test[2].num_atoms == 576
    train = load_split("zeolites_iza", "experimental_train", small_zeolite_root)
    assert {c.id for c in train} == {"SOD", "LTA", "MFI"}
    assert all(held_out_split(c.id) == "train" for c in train)


def test_data_info_on_a_porous_set(small_zeolite_root, capsys):
    root = str(small_zeolite_root)
    assert main(["data", "info", "zeolites_iza", "--root", root, "--split", "test", "--max-atoms", "1000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:5] == ["test", "3", "0", "relaxed,", "15%"] for line in lines), lines[:4]
