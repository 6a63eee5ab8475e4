"""Conversions between :class:`Crystal` and ASE ``Atoms``, and extended XYZ files (``pbc`` round trips)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read as ase_read
from ase.io import write as ase_write

from autoperi.crystal import Crystal
from autoperi.errors import CrystalError
from autoperi.io.pymatgen_adapter import right_handed

_ID_KEY = "autoperi_id"


def crystal_from_atoms(atoms: Atoms, crystal_id: str | None = None) -> Crystal:
    cell = np.asarray(atoms.cell[:], dtype=float)
    if abs(np.linalg.det(cell)) <= 1e-6:
        raise CrystalError("non_positive_volume", "the cell has zero volume")
    positions = atoms.get_positions()
    if not np.all(np.isfinite(positions)):
        raise CrystalError("non_finite", "a coordinate is not a finite number")
    numbers = atoms.get_atomic_numbers()
    if np.any(numbers < 1):
        raise CrystalError("unknown_element", "the structure contains an unknown element")
    properties = {key: value for key, value in atoms.info.items() if key != _ID_KEY and np.isscalar(value)}
    crystal = Crystal(
        cell,
        np.linalg.solve(cell.T, positions.T).T,
        numbers,
        id=crystal_id if crystal_id is not None else atoms.info.get(_ID_KEY),
        properties=properties,
        pbc=tuple(bool(p) for p in atoms.pbc),
    )
    return right_handed(crystal)


def atoms_from_crystal(crystal: Crystal) -> Atoms:
    atoms = Atoms(
        numbers=crystal.atomic_numbers, cell=crystal.lattice, scaled_positions=crystal.frac_coords, pbc=crystal.pbc
    )
    if crystal.id is not None:
        atoms.info[_ID_KEY] = crystal.id
    atoms.info.update({k: v for k, v in crystal.properties.items() if np.isscalar(v)})
    return atoms


def read_extxyz_frames(path: str | Path) -> list[Atoms]:
    """All frames of an extended XYZ file; one-line :class:`CrystalError` on any parse failure."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise CrystalError("empty", f"{path} is empty")
    try:
        return ase_read(path, index=":", format="extxyz")
    except Exception as error:
        message = str(error).strip().splitlines()[-1][:200] if str(error).strip() else type(error).__name__
        if isinstance(error, KeyError):
            raise CrystalError("unknown_element", f"{path}: unknown element {message}") from None
        raise CrystalError("malformed_extxyz", f"{path}: malformed extxyz: {message}") from None


def write_extxyz(crystals: Iterable[Crystal], path: str | Path) -> Path:
    path = Path(path)
    ase_write(path, [atoms_from_crystal(c) for c in crystals], format="extxyz")
    return path
