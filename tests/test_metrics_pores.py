"""Zeo++ pore descriptors (optional extra ``autoperi[porous]``) against the geometry of a simple cubic crystal,
where every descriptor has a closed form, and ``autoperi pores``."""

from __future__ import annotations

import csv
import importlib.util
import sys

import numpy as np
import pytest
from ase.data import atomic_masses, vdw_radii

from autoperi.cli.main import main
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError, CrystalError
from autoperi.io.pymatgen_adapter import write_cif
from autoperi.metrics.zeopp_adapter import PORE_COLUMNS, PoreSettings, require_pyzeo

ARGON = 18
EDGE = 6.0  # Å
RADIUS = float(vdw_radii[ARGON])  # Bondi's 1.88 Å, the radius Zeo++'s table gives argon
PROBE = 1.0
AVOGADRO = 6.02214076e23

needs_pyzeo = pytest.mark.skipif(
    importlib.util.find_spec("pyzeo") is None, reason="pyzeo (the extra autoperi[porous]) is not installed"
)


def simple_cubic(repeats: int = 1) -> Crystal:
    return Crystal(EDGE * np.eye(3), [[0.0, 0.0, 0.0]], [ARGON], id="Ar-sc").supercell((repeats,) * 3)


def analytic_descriptors(probe: float) -> dict[str, float]:
    """One argon sphere per cube of edge a. The largest void sphere sits at the body centre, a√3/2 from eight
    atom centres; the narrowest window of a channel is the face centre, a/√2 from four. While r + probe < a/2
    the probe-inflated spheres do not overlap: the accessible surface is one whole sphere of radius r + probe,
    and the probe's centre reaches everything outside those spheres."""
    grams = atomic_masses[ARGON] / AVOGADRO
    inflated = RADIUS + probe
    return {
        "largest_included_sphere": EDGE * np.sqrt(3) - 2 * RADIUS,
        "largest_free_sphere": EDGE * np.sqrt(2) - 2 * RADIUS,
        "accessible_surface_area": 4 * np.pi * inflated**2 * 1e-20 / grams,  # m²/g
        "accessible_volume": (EDGE**3 - 4 / 3 * np.pi * inflated**3) * 1e-24 / grams,  # cm³/g
        "void_fraction": 1 - 4 / 3 * np.pi * RADIUS**3 / EDGE**3,
    }


@needs_pyzeo
def test_simple_cubic_descriptors_equal_their_closed_forms():
    from autoperi.metrics.zeopp_adapter import pore_descriptors

    ours = pore_descriptors(simple_cubic(), PoreSettings(probe_radius=PROBE)).as_dict()
    expected = analytic_descriptors(PROBE)
    for key in ("largest_included_sphere", "largest_free_sphere"):
        assert ours[key] == pytest.approx(expected[key], abs=1e-3), key
    assert ours["accessible_surface_area"] == pytest.approx(expected["accessible_surface_area"], rel=2e-3)
    for key in ("accessible_volume", "void_fraction"):  # Monte Carlo, 50,000 points: ~0.4 % noise
        assert ours[key] == pytest.approx(expected[key], rel=0.02), key


@needs_pyzeo
def test_a_probe_wider_than_the_window_finds_no_accessible_space():
    """The face window admits spheres up to (a√2 - 2r)/2 = 2.36 Å in radius; a 2.5 Å probe passes nowhere."""
    from autoperi.metrics.zeopp_adapter import pore_descriptors

    closed = pore_descriptors(simple_cubic(), PoreSettings(probe_radius=2.5))
    assert closed.accessible_surface_area == 0 and closed.accessible_volume == 0
    assert closed.largest_free_sphere < 2 * 2.5 < closed.largest_included_sphere


@needs_pyzeo
def test_a_supercell_has_the_same_descriptors():
    from autoperi.metrics.zeopp_adapter import pore_descriptors

    settings = PoreSettings(probe_radius=PROBE)
    unit, supercell = (pore_descriptors(simple_cubic(n), settings).as_dict() for n in (1, 2))
    for key in PORE_COLUMNS:
        assert supercell[key] == pytest.approx(unit[key], rel=0.02, abs=1e-3), key


@needs_pyzeo
def test_elements_beyond_the_radius_table_and_slabs_are_refused_in_one_line():
    from autoperi.metrics.zeopp_adapter import pore_descriptors

    with pytest.raises(CrystalError, match="no radius"):
        pore_descriptors(simple_cubic().copy(atomic_numbers=[115]))
    slab = Crystal(np.diag([EDGE, EDGE, 30.0]), [[0, 0, 0.1]], [ARGON], pbc=(True, True, False))
    with pytest.raises(CrystalError, match="periodic in 3D"):
        pore_descriptors(slab)


def test_missing_pyzeo_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyzeo", None)
    with pytest.raises(AutoPeriError, match=r"autoperi\[porous\]"):
        require_pyzeo()
    with pytest.raises(AutoPeriError):
        PoreSettings(probe_radius=-1.0)


@needs_pyzeo
def test_cli_writes_the_descriptor_columns(tmp_path, capsys):
    from autoperi.metrics.zeopp_adapter import pore_descriptors

    folder = tmp_path / "cifs"
    folder.mkdir()
    write_cif(simple_cubic(), folder / "argon.cif")
    write_cif(Crystal(5.64 * np.eye(3), [[0, 0, 0], [0.5, 0.5, 0.5]], [11, 17], id="NaCl"), folder / "nacl.cif")
    assert main(["pores", str(folder), "--out", str(tmp_path / "out"), "--probe-radius", str(PROBE)]) == 0
    with (tmp_path / "out" / "pores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "num_atoms", "density", *PORE_COLUMNS]
    assert [row["id"] for row in rows] == ["argon", "nacl"]
    expected = pore_descriptors(simple_cubic(), PoreSettings(probe_radius=PROBE)).as_dict()
    assert {key: float(rows[0][key]) for key in PORE_COLUMNS} == pytest.approx(expected)
    assert float(rows[0]["density"]) == pytest.approx(atomic_masses[ARGON] / AVOGADRO / (EDGE**3 * 1e-24))
    assert "wrote pore descriptors of 2 crystals" in capsys.readouterr().out


def test_cli_help_gives_the_units(capsys):
    with pytest.raises(SystemExit):
        main(["pores", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("largest_included_sphere (Å", "largest_free_sphere (Å", "accessible_surface_area (m²/g)"):
        assert phrase in text
    assert "accessible_volume (cm³/g)" in text and "void_fraction (fraction" in text


def test_cli_without_pyzeo_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "pyzeo", None)
    assert main(["pores", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "pip install 'autoperi[porous]'" in error
