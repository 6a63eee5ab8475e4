"""Energy above hull: hand arithmetic and pymatgen's PhaseDiagram on CHGNet energies computed independently
(CHGNet's own predict_structure), NaN with a reason for unknown elements, the on-disk cache and resuming."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from ase.build import bulk
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram

from autoperi.crystal import Crystal
from autoperi.io.ase_adapter import crystal_from_atoms
from autoperi.io.pymatgen_adapter import structure_from_crystal, write_cif
from autoperi.physics import hull
from autoperi.physics.chgnet_adapter import load_chgnet
from autoperi.physics.hull import HullReference, build_reference, energy_above_hull, load_or_build_reference

FACE_CENTRES = [[0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]]


def copper() -> Crystal:
    return crystal_from_atoms(bulk("Cu", "fcc", a=3.61), "Cu")


def gold() -> Crystal:
    return crystal_from_atoms(bulk("Au", "fcc", a=4.08), "Au")


def l10_cuau() -> Crystal:
    return Crystal(np.diag([2.72, 2.72, 3.85]), [[0, 0, 0], [0.5, 0.5, 0.5]], [29, 79], id="CuAu")


def l12(a: float, corner: int, faces: int, crystal_id: str) -> Crystal:
    return Crystal(np.eye(3) * a, [[0, 0, 0], *FACE_CENTRES], [corner, faces, faces, faces], id=crystal_id)


def chgnet_energy(crystal: Crystal) -> float:
    """CHGNet's own prediction (eV/atom), independent of the adapter."""
    return float(load_chgnet().predict_structure(structure_from_crystal(crystal), task="e")["e"])


def entry(crystal: Crystal) -> PDEntry:
    return PDEntry(structure_from_crystal(crystal).composition, chgnet_energy(crystal) * crystal.num_atoms)


@pytest.fixture(scope="module")
def binary_reference() -> HullReference:
    crystals = [copper(), gold(), l10_cuau(), l12(3.75, 79, 29, "Cu3Au")]
    return build_reference(crystals, "chgnet-0.3.0", progress=False)


def test_elemental_hull_by_hand():
    reference = build_reference([copper(), gold()], "chgnet-0.3.0", progress=False)
    strained_copper = copper().copy(lattice=copper().lattice * 1.04, id="Cu-strained")
    results = energy_above_hull([l10_cuau(), strained_copper], reference)
    e_cu, e_au = chgnet_energy(copper()), chgnet_energy(gold())
    assert results[0].e_above_hull == pytest.approx(chgnet_energy(l10_cuau()) - (e_cu + e_au) / 2, abs=1e-5)
    assert results[1].e_above_hull == pytest.approx(chgnet_energy(strained_copper) - e_cu, abs=1e-5)
    assert results[1].e_above_hull > 0.01  # a 4% expansion costs energy
    # Only the elements are on this hull: the compound's E_hull is finite but flagged; an element's is not.
    assert "no compound in Au-Cu" in results[0].reason and results[1].reason is None
    for result in results:
        assert result.stable == (result.e_above_hull <= 1e-4)
        assert result.metastable == (result.e_above_hull <= 0.1 + 1e-4)


def test_matches_pymatgen_phase_diagram(binary_reference):
    expanded = l12(3.75, 79, 29, "Cu3Au").copy(lattice=np.eye(3) * 3.9, id="Cu3Au-big")
    queries = [l12(4.0, 29, 79, "CuAu3"), expanded]
    diagram = PhaseDiagram([entry(c) for c in (copper(), gold(), l10_cuau(), l12(3.75, 79, 29, "Cu3Au"))])
    expected = [diagram.get_decomp_and_e_above_hull(entry(c), allow_negative=True)[1] for c in queries]
    results = energy_above_hull(queries, binary_reference)
    np.testing.assert_allclose([r.e_above_hull for r in results], expected, atol=1e-5)
    assert [r.formula for r in results] == ["CuAu3", "Cu3Au"]
    assert [r.id for r in results] == ["CuAu3", "Cu3Au-big"]
    assert all(r.reason is None for r in results)  # the reference has Cu-Au compounds
    # Given energies skip the CHGNet evaluation and give the same answer.
    energies = [r.energy_per_atom for r in results]
    given = energy_above_hull(queries, binary_reference, energies_per_atom=energies)
    assert [g.e_above_hull for g in given] == pytest.approx([r.e_above_hull for r in results])


def test_unknown_elements_give_nan_with_a_reason(binary_reference):
    iron_gold = Crystal(np.eye(3) * 3.0, [[0, 0, 0], [0.5, 0.5, 0.5]], [26, 79], id="FeAu")
    americium = Crystal(np.eye(3) * 3.5, [[0, 0, 0]], [95], id="Am")
    results = energy_above_hull([iron_gold, americium, copper()], binary_reference)
    assert math.isnan(results[0].e_above_hull) and "Fe" in results[0].reason
    assert math.isnan(results[1].e_above_hull) and "CHGNet" in results[1].reason
    assert not (results[0].stable or results[0].metastable or results[1].stable)
    assert results[2].e_above_hull == pytest.approx(0.0, abs=1e-6) and results[2].stable


def test_reference_is_cached_on_disk_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "reference"
    folder.mkdir()
    for crystal in (copper(), gold(), l10_cuau()):
        write_cif(crystal, folder / f"{crystal.id}.cif")
    key = hull.reference_key(folder, "chgnet-0.3.0", None)
    work_dir = tmp_path / "cache" / "hull" / key
    work_dir.mkdir(parents=True)
    # A previous, interrupted build computed Au (with a marker energy): only the other two are evaluated now.
    marker = {"id": "Au#0", "composition": {"Au": 1.0}, "energy_per_atom": -3.0, "origin": "data"}
    (work_dir / "entries.jsonl").write_text(json.dumps(marker) + "\n")
    reference = load_or_build_reference(folder, progress=False)
    energies = {e.id: e.energy_per_atom for e in reference.entries}
    assert energies["Au#0"] == -3.0
    assert energies["Cu#1"] == pytest.approx(chgnet_energy(copper()), abs=1e-5)
    assert len((work_dir / "entries.jsonl").read_text().splitlines()) == 3
    assert (work_dir / "reference.json").exists()

    def no_evaluation(*args, **kwargs):
        raise AssertionError("the cached reference should be used")

    monkeypatch.setattr(hull, "static_energies", no_evaluation)
    cached = load_or_build_reference(folder, progress=False)
    assert [(e.id, e.energy_per_atom) for e in cached.entries] == list(energies.items())
    write_cif(l12(3.75, 79, 29, "Cu3Au"), folder / "Cu3Au.cif")
    assert hull.reference_key(folder, "chgnet-0.3.0", None) != key  # a changed reference set is rebuilt


@pytest.mark.slow
def test_missing_elemental_references_come_from_relaxed_prototypes():
    reference = build_reference([l10_cuau()], "chgnet-0.3.0", prototype_steps=100, progress=False)
    elementals = {e.id: e.energy_per_atom for e in reference.entries if e.origin == "prototype"}
    assert {"Cu-fcc", "Au-fcc"} <= set(elementals)
    # The best relaxed prototype is at least as low as the (unrelaxed) experimental fcc cell, and close to it.
    for symbol, experimental in (("Cu", copper()), ("Au", gold())):
        lowest = min(v for k, v in elementals.items() if k.startswith(f"{symbol}-"))
        assert chgnet_energy(experimental) - 0.1 < lowest <= chgnet_energy(experimental) + 1e-3
