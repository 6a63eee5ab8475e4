"""Slabs cut from bulk crystals (SlabGenerator), their cache and hold-out by bulk, and the fcc(111) DFT set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pymatgen.core import Composition

from autoperi.crystal import Crystal
from autoperi.data import data_root
from autoperi.data.slabs import (
    ADSORBATE_FOLDER,
    SlabSettings,
    build_slabs,
    chosen_facets,
    conventional_cell,
    load_adsorbate_slabs,
    load_slabs,
)
from autoperi.errors import DatasetError
from autoperi.io.cdvae_csv import write_cdvae_csv
from autoperi.testing import load_sample

SETTINGS = SlabSettings(max_facets=2)


@pytest.fixture(scope="module")
def bulks() -> list[Crystal]:
    return load_sample("mp_20", "val", 3)


@pytest.fixture(scope="module")
def slabs(bulks: list[Crystal]) -> list[Crystal]:
    report = build_slabs(bulks, SETTINGS)
    assert not report.errors, report.summary()
    return report.crystals


def test_slabs_are_open_along_a_normal_c_with_the_vacuum_asked_for(slabs: list[Crystal]) -> None:
    assert len(slabs) >= 3
    for slab in slabs:
        a, b, c = slab.lattice
        assert slab.pbc == (True, True, False)
        assert abs(np.dot(c, a)) < 1e-6 and abs(np.dot(c, b)) < 1e-6
        assert slab.vacuum >= SETTINGS.min_vacuum_size - 1e-6


def translation_lengths(lattice: np.ndarray, reach: int = 6) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.arange(-reach, reach + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return np.linalg.norm(grid @ lattice, axis=1)


def test_slab_is_a_stoichiometric_cut_of_its_bulk_along_its_facet(bulks: list[Crystal], slabs: list[Crystal]) -> None:
    by_id = {bulk.id: bulk for bulk in bulks}
    for slab in slabs:
        bulk = by_id[slab.properties["bulk_id"]]
        assert Composition(slab.formula).reduced_composition == Composition(bulk.formula).reduced_composition
        a, b = slab.lattice[:2]  # in-plane translations of the slab are translations of the bulk (in any frame)
        lengths = translation_lengths(bulk.lattice)
        for vector in (a, b, a - b, a + b):
            assert np.min(np.abs(lengths - np.linalg.norm(vector))) < 1e-4, slab.id


def test_facets_are_a_seeded_choice_per_bulk(bulks: list[Crystal]) -> None:
    cell = conventional_cell(bulks[0])
    everything = chosen_facets(cell, bulks[0].id, SlabSettings())
    two = chosen_facets(cell, bulks[0].id, SETTINGS)
    assert len(two) == 2 and set(two) <= set(everything)
    assert chosen_facets(conventional_cell(bulks[0].copy()), bulks[0].id, SETTINGS) == two
    others = {tuple(chosen_facets(cell, f"other-{i}", SETTINGS)) for i in range(8)}
    assert len(others) > 1, "the choice must depend on the bulk"
    assert all(max(abs(i) for i in facet) <= 1 for facet in everything)


def test_slabs_are_cached_and_split_like_their_bulks(bulks: list[Crystal], tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "mp_20").mkdir()
    write_cdvae_csv(bulks[:2], tmp_path / "mp_20" / "val.csv")
    write_cdvae_csv(bulks[2:], tmp_path / "mp_20" / "test.csv")
    first = load_slabs("mp_20", "val", SETTINGS, root=tmp_path)
    again = load_slabs("mp_20", "val", SETTINGS, root=tmp_path)
    assert not first.from_cache and again.from_cache
    assert [s.id for s in again] == [s.id for s in first] and all(s.pbc == (True, True, False) for s in again)
    np.testing.assert_allclose(again[0].frac_coords, first[0].frac_coords)
    test = load_slabs("mp_20", "test", SETTINGS, root=tmp_path)
    assert {s.properties["bulk_id"] for s in first} == {b.id for b in bulks[:2]}
    assert {s.properties["bulk_id"] for s in test} == {bulks[2].id}
    limited = load_slabs("mp_20", "val", SETTINGS, limit=1, root=tmp_path, use_cache=False)
    assert len({s.properties["bulk_id"] for s in limited}) == 1


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(DatasetError, match="max_facets"):
        SlabSettings(max_facets=0)


@pytest.fixture(scope="module")
def adsorbate_slabs():
    if not (data_root() / ADSORBATE_FOLDER).is_dir():
        pytest.skip("the fcc111_adsorbates data is not under the data root")
    return load_adsorbate_slabs()


def test_adsorbate_slabs_hold_every_usable_source_entry(adsorbate_slabs) -> None:
    raw = json.loads((data_root() / ADSORBATE_FOLDER / "energies.json").read_text())
    numeric = [v for m in raw.values() for a in m.values() for s in a.values() for v in s.values() if v != "Q"]
    with_energy = [s for s in adsorbate_slabs if "adsorption_energy" in s.properties]
    assert len(with_energy) == len(numeric) == 882 and adsorbate_slabs.num_skipped == 14
    assert len(adsorbate_slabs) - len(with_energy) == 7  # one clean slab per metal
    by_id = {s.id: s for s in adsorbate_slabs}
    assert by_id["Pt-O-fcc-0.25"].properties["adsorption_energy"] == raw["Pt"]["O"]["fcc"]["0.25"]


def test_adsorbates_sit_on_top_of_a_slab_open_along_c(adsorbate_slabs) -> None:
    for slab in adsorbate_slabs:
        assert slab.pbc == (True, True, False) and slab.vacuum > 15.0
        metal = np.array(slab.symbols) == slab.properties["metal"]
        heights = slab.cart_coords[:, 2]
        assert np.all(heights[~metal] > heights[metal].max()), slab.id
        coverage = slab.properties["coverage"]
        assert (~metal).sum() == round(coverage * 4), slab.id  # a 2x2 surface cell: coverage in monolayers


def test_cli_cuts_and_writes_slabs_with_their_pbc(bulks: list[Crystal], tmp_path, monkeypatch, capsys) -> None:
    from autoperi.cli.main import main
    from autoperi.io import read_crystals

    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "mp_20").mkdir()
    write_cdvae_csv(bulks[:1], tmp_path / "mp_20" / "val.csv")
    out = tmp_path / "slabs.extxyz"
    arguments = ["data", "slabs", "mp_20", "--split", "val", "--root", str(tmp_path), "--max-facets", "2"]
    assert main([*arguments, "--out", str(out)]) == 0
    assert "2 slabs of 1 bulk crystals" in capsys.readouterr().out
    written = read_crystals(out).crystals
    assert len(written) == 2 and all(slab.pbc == (True, True, False) for slab in written)
    assert all(slab.properties["miller_index"].startswith("(") for slab in written)  # a string, not an array
    assert main([*arguments, "--vacuum", "-1"]) == 2
    assert "positive slab and vacuum sizes" in capsys.readouterr().err
