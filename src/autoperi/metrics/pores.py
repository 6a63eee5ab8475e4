"""Pore descriptors of many crystals (Zeo++, :mod:`autoperi.metrics.zeopp_adapter`) as table rows."""

from __future__ import annotations

from collections.abc import Sequence

from autoperi.crystal import Crystal
from autoperi.errors import CrystalError
from autoperi.io.readers import ReadReport
from autoperi.metrics.zeopp_adapter import PoreSettings, pore_descriptors, require_pyzeo
from autoperi.parallel import parallel_map

AVOGADRO = 6.02214076e23
CUBIC_CM_PER_CUBIC_ANGSTROM = 1e-24


def density(crystal: Crystal) -> float:
    """Mass density in g/cm³ (standard atomic masses)."""
    from ase.data import atomic_masses

    mass_grams = float(atomic_masses[crystal.atomic_numbers].sum()) / AVOGADRO
    return mass_grams / (abs(crystal.volume) * CUBIC_CM_PER_CUBIC_ANGSTROM)


def pore_row(item: tuple[Crystal, PoreSettings]) -> dict[str, object] | tuple[str, str]:
    """One crystal's row (id, num_atoms, density, the descriptors), or ``(reason, message)`` if it fails."""
    crystal, settings = item
    try:
        descriptors = pore_descriptors(crystal, settings)
    except CrystalError as error:
        return error.reason, f"{crystal.id}: {error}"
    return {"id": crystal.id, "num_atoms": crystal.num_atoms, "density": density(crystal), **descriptors.as_dict()}


def pore_rows(
    crystals: Sequence[Crystal], settings: PoreSettings, workers: int | None = 1
) -> tuple[list[dict[str, object]], ReadReport]:
    """The rows of every crystal Zeo++ could describe, in order, and a report of the ones it could not."""
    require_pyzeo()
    rows, failed = [], ReadReport(source="pore descriptors")
    for result in parallel_map(pore_row, [(c, settings) for c in crystals], workers, "pore descriptors"):
        if isinstance(result, dict):
            rows.append(result)
        else:
            failed.add(result)
    return rows, failed
