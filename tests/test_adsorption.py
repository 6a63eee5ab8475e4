"""Adsorption sites, placements, slab relaxation and `autoperi adsorb`, against ASE's fcc(111) and fcc(100) slabs."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest
from ase.build import add_adsorbate, bulk, fcc100, fcc111
from ase.data import covalent_radii

from autoperi.adsorption.placement import adsorbate_number, placement_height, placements
from autoperi.adsorption.sites import find_sites, in_plane_distances, nearest_site
from autoperi.cli.main import main
from autoperi.crystal import Crystal
from autoperi.data.cache import payload_to_report, report_to_payload
from autoperi.errors import CrystalError
from autoperi.io import read_crystals
from autoperi.io.ase_adapter import crystal_from_atoms
from autoperi.io.pymatgen_adapter import write_cif
from autoperi.io.readers import ReadReport
from autoperi.physics.relax import relax_crystals


def _slab(atoms) -> Crystal:
    return crystal_from_atoms(atoms).as_slab(axis=2)


@pytest.fixture(scope="module")
def pt111() -> Crystal:
    return _slab(fcc111("Pt", size=(2, 2, 4), vacuum=10.0))


def _ase_site(kind: str) -> np.ndarray:
    """Where ASE's add_adsorbate puts an atom on ``kind`` of Pt(111): an independent reference."""
    atoms = fcc111("Pt", size=(2, 2, 4), vacuum=10.0)
    add_adsorbate(atoms, "O", 1.5, position=kind)
    return atoms.positions[-1]


def test_layers_of_an_fcc111_slab_are_its_atomic_planes(pt111: Crystal) -> None:
    layers = pt111.layers()
    assert Counter(layers.tolist()) == {0: 4, 1: 4, 2: 4, 3: 4}
    heights = pt111.cart_coords[:, 2]
    assert all(heights[layers == k].max() < heights[layers == k + 1].min() for k in range(3))


def test_sites_of_fcc111_are_where_ase_puts_adsorbates(pt111: Crystal) -> None:
    every = find_sites(pt111, symmetry_reduce=False)
    assert Counter(site.kind for site in every) == {"ontop": 4, "bridge": 12, "fcc": 4, "hcp": 4}
    assert sorted(site.kind for site in find_sites(pt111)) == ["bridge", "fcc", "hcp", "ontop"]
    for kind in ("ontop", "bridge", "fcc", "hcp"):
        site, distance = nearest_site(every, pt111, _ase_site(kind))
        assert site.kind == kind and distance < 1e-6
    ontop = np.array([s.position for s in every if s.kind == "ontop"])
    for atom in pt111.cart_coords[pt111.layers() == 3]:
        assert in_plane_distances(pt111, ontop, atom).min() < 1e-6


def test_a_one_by_one_cell_counts_periodic_images_as_neighbours() -> None:
    kinds = Counter(site.kind for site in find_sites(_slab(fcc111("Cu", size=(1, 1, 3), vacuum=8.0)), False))
    assert kinds == {"ontop": 1, "bridge": 3, "fcc": 1, "hcp": 1}


def test_fcc100_hollows_are_four_fold_not_fcc_or_hcp() -> None:
    kinds = Counter(site.kind for site in find_sites(_slab(fcc100("Cu", size=(2, 2, 3), vacuum=10.0)), False))
    assert kinds == {"ontop": 4, "bridge": 8, "hollow": 4}


def test_placement_is_one_bond_length_from_the_nearest_atom(pt111: Crystal) -> None:
    bond = covalent_radii[8] + covalent_radii[78]
    for kind in ("ontop", "fcc"):
        point = _ase_site(kind)
        height = placement_height(pt111, point, 8)
        adsorbate = np.array([point[0], point[1], height])
        offsets = pt111.cart_coords - adsorbate
        nearest = np.min(np.linalg.norm(offsets[:, None] + _images(pt111)[None], axis=-1))
        assert nearest == pytest.approx(bond, abs=1e-9)
    assert placement_height(pt111, _ase_site("ontop"), 8) - pt111.cart_coords[:, 2].max() == pytest.approx(bond)


def _images(slab: Crystal) -> np.ndarray:
    return np.array([(i, j, 0) for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=float) @ slab.lattice


def test_placements_cover_every_site_kind_then_seeded_random_points(pt111: Crystal) -> None:
    first = placements(pt111, "O", 6, seed=3)
    assert [p.initial_site for p in first] == ["ontop", "bridge", "fcc", "hcp", "random", "random"]
    again = placements(pt111, "O", 6, seed=3)
    other = placements(pt111, "O", 6, seed=4)
    np.testing.assert_allclose(first[-1].crystal.frac_coords, again[-1].crystal.frac_coords)
    assert not np.allclose(first[-1].crystal.frac_coords, other[-1].crystal.frac_coords)
    assert all(p.crystal.symbols[-1] == "O" and p.crystal.pbc == (True, True, False) for p in first)
    assert adsorbate_number("cl") == 17
    with pytest.raises(CrystalError, match="unknown adsorbate"):
        adsorbate_number("Xx")


def test_slab_relaxation_keeps_the_cell_and_the_fixed_layers() -> None:
    atoms = fcc111("Cu", size=(1, 1, 3), vacuum=8.0)
    add_adsorbate(atoms, "H", 1.5, position="ontop")
    slab = _slab(atoms)
    (result,) = relax_crystals([slab], steps=15, progress=False, fixed_layers=2)
    assert result.error is None and result.steps > 0
    np.testing.assert_allclose(result.relaxed.lattice, slab.lattice)
    bottom = slab.layers() < 2
    np.testing.assert_allclose(result.relaxed.cart_coords[bottom], slab.cart_coords[bottom], atol=1e-9)
    assert np.abs(result.relaxed.cart_coords[~bottom] - slab.cart_coords[~bottom]).max() > 1e-3


def test_cli_ranks_relaxed_placements(tmp_path, capsys) -> None:
    write_cif(_slab(fcc111("Cu", size=(1, 1, 3), vacuum=8.0)), tmp_path / "cu.cif")
    out = tmp_path / "out"
    arguments = ["adsorb", "--slab", str(tmp_path / "cu.cif"), "--adsorbate", "H", "-k", "5", "--steps", "8"]
    assert main([*arguments, "--out", str(out), "--seed", "1"]) == 0
    with (out / "ranked.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"rank", "file", "energy", "site", "initial_site", "binding_energy"} <= set(rows[0])
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    energies = [float(r["energy"]) for r in rows]
    assert energies == sorted(energies)
    assert all((out / r["file"]).is_file() and r["site"] in ("ontop", "bridge", "fcc", "hcp") for r in rows)
    ranked = read_crystals(out / "ranked.extxyz").crystals
    assert len(ranked) == 5 and all(c.pbc == (True, True, False) and c.symbols[-1] == "H" for c in ranked)
    assert "ranked 5 placements" in (out / "adsorb.log").read_text() and "ranked 5" in capsys.readouterr().out


def test_cli_bad_input_is_one_line(tmp_path, capsys) -> None:
    write_cif(_slab(fcc111("Cu", size=(1, 1, 3), vacuum=8.0)), tmp_path / "cu.cif")
    write_cif(crystal_from_atoms(bulk("Cu", cubic=True)), tmp_path / "bulk.cif")
    (tmp_path / "empty.cif").write_text("")
    cases = {
        ("cu.cif", "Xx"): "unknown adsorbate",
        ("bulk.cif", "O"): "not a slab",
        ("empty.cif", "O"): "empty.cif",
    }
    for (name, adsorbate), message in cases.items():
        capsys.readouterr()
        code = main(["adsorb", "--slab", str(tmp_path / name), "--adsorbate", adsorbate, "--out", str(tmp_path / "o")])
        error = capsys.readouterr().err.strip()
        assert code == 2 and message in error and len(error.splitlines()) == 1, error


def test_cache_keeps_pbc_and_reads_older_files_as_bulk(pt111: Crystal) -> None:
    payload = report_to_payload(ReadReport("slabs", [pt111, pt111.copy(pbc=(True, True, True))]))
    assert [c.pbc for c in payload_to_report(payload).crystals] == [(True, True, False), (True, True, True)]
    del payload["pbc"]
    assert all(c.is_bulk for c in payload_to_report(payload).crystals)
