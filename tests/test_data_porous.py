"""The porous sets (IZA zeolites, CoRE COFs): the fixed held-out split and ``autoperi data info``."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
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


needs_core_mof = pytest.mark.skipif(
    importlib.util.find_spec("CoRE_MOF") is None, reason="core-mof (the extra autoperi[porous]) is not installed"
)
# Four small cells of CoRE MOF 2014 (its archive is the smallest: 7 MB): three hash into val
CORE_MOF_IDS = {"PIYZAZ_clean", "JUTCUW_clean", "FIGXEY_clean", "KECRAL10_clean"}


def test_a_core_mof_split_ignores_the_cleaning_suffix():
    spec = porous_set("core_mof")
    for refcode in ("ABAVIJ", "ACODUT", "1499489-acs.cgd.6b01265_1499490", "JUTCUW"):
        splits = {spec.split_of(f"{refcode}_{suffix}") for suffix in ("clean", "freeONLY", "charged", "SL_part")}
        assert splits == {held_out_split(refcode)}
    assert spec.split_of("JUTCUW_SL") == spec.split_of("JUTCUW_clean") == "val"
    assert spec.split_of("PIYZAZ_clean") == "train"
    assert spec.split_names()[3:] == ["fsr_train", "fsr_val", "fsr_test", "2014_train", "2014_val", "2014_test"]


@needs_core_mof
def test_core_mof_loads_from_the_package_export(tmp_path, monkeypatch, capsys):
    import CoRE_MOF

    from autoperi.data.porous import export_core_mof

    path = export_core_mof("2014", tmp_path / "core_mof" / "2014.csv.gz", CORE_MOF_IDS)
    table = pd.read_csv(path).set_index("material_id")
    assert set(table.index) == CORE_MOF_IDS
    # the package's own reader (it scans the whole archive per entry: one entry only)
    assert table.cif["KECRAL10_clean"] == CoRE_MOF.get_CIF_structure_data("2014", "KECRAL10_clean").decode()
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    val = load_split("core_mof", "2014_val", tmp_path)
    assert sorted(c.id for c in val) == ["FIGXEY_clean", "JUTCUW_clean", "KECRAL10_clean"]
    assert all(c.num_atoms > 0 and c.is_bulk for c in val)
    args = ["data", "info", "core_mof", "--root", str(tmp_path), "--split", "2014_train", "--split", "2014_val"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:4] == ["2014_val", "3", "0", "2014,"] for line in lines), lines[:4]
    assert any(line.split()[:4] == ["2014_train", "1", "0", "2014,"] for line in lines), lines[:4]


def test_without_the_package_core_mof_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "CoRE_MOF", None)  # import CoRE_MOF raises ImportError
    monkeypatch.setitem(sys.modules, "CoRE_MOF.data", None)
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match=r"pip install 'autoperi\[porous\]'"):
        load_split("core_mof", "test", tmp_path)
