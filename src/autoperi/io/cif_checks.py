"""Checks of a CIF's own declarations that pymatgen's parser does not make, each a one-line CrystalError.

A cell length must be positive (pymatgen builds a left-handed cell from a negative one), the atom sites
must add up to the declared ``_chemical_formula_sum`` (a file cut off inside its atom loop otherwise
reads as another crystal), and two atoms at one position are named as overlapping, with their distance:
whether pymatgen merged them into one over-occupied site (positions equal to 1e-4 in fractional
coordinates) or kept both (closer than ``DUPLICATE_SITE_TOLERANCE``, as in 19 of the as-published IZA
zeolite cells, 0.001-0.003 Å apart).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from pymatgen.core import Composition, Structure
from pymatgen.io.cif import CifBlock as CifFileBlock
from pymatgen.io.cif import CifParser, str2float

from autoperi.errors import CrystalError

CifBlock = dict[str, Any]
FORMULA_TOLERANCE = 1e-3  # relative, on the amounts of the reduced compositions
# Å. Two sites this close are one atom listed twice: far below any bond, and below the 0.5 Å at which the
# structural validity metric calls a crystal invalid, so generated crystals with close atoms still read.
DUPLICATE_SITE_TOLERANCE = 0.01


def _number(text: Any) -> float | None:
    try:
        return str2float(str(text))
    except ValueError:
        return None


def check_cell_lengths(block: CifBlock) -> None:
    """Refuse a zero or negative ``_cell_length_*``."""
    for axis in "abc":
        key = f"_cell_length_{axis}"
        value = _number(block.get(key, "?"))
        if value is not None and value <= 0:
            raise CrystalError("invalid_lattice", f"{key} is {block[key]}: a cell length must be positive")


def check_declared_formula(block: CifBlock, structure: Structure) -> None:
    """Refuse atom sites whose composition is not in the ratio of the declared ``_chemical_formula_sum``."""
    declared = block.get("_chemical_formula_sum")
    if not isinstance(declared, str) or not declared.strip("?. "):
        return
    try:
        expected = Composition(declared).reduced_composition
    except ValueError:
        return
    found = structure.composition.reduced_composition
    if not found.almost_equals(expected, rtol=FORMULA_TOLERANCE, atol=0.0):
        raise CrystalError(
            "inconsistent_formula",
            f"the atom sites give {structure.composition.formula} but _chemical_formula_sum is '{declared}' "
            "(a truncated or edited file?)",
        )


def check_distinct_sites(structure: Structure) -> None:
    """Refuse two sites (periodic images included) closer than ``DUPLICATE_SITE_TOLERANCE``."""
    centres, neighbours, _, distances = structure.get_neighbor_list(DUPLICATE_SITE_TOLERANCE)
    if len(distances):
        pair = int(np.argmin(distances))
        first, second = structure[int(centres[pair])], structure[int(neighbours[pair])]
        raise CrystalError(
            "overlapping_atoms",
            f"overlapping atoms: {first.label} and {second.label} are {distances[pair]:.4f} Å apart "
            "(one atom listed twice?)",
        )


def closest_sites(parser: CifParser, block: CifFileBlock) -> tuple[float, str] | None:
    """Distance and description of the closest pair of sites (under the CIF's symmetry), if all are fully
    occupied: a failure of such a CIF on occupancy means overlapping atoms, not disorder."""
    fields = block.data
    labels = fields.get("_atom_site_label")
    occupancies = fields.get("_atom_site_occupancy", ["1"] * len(labels or []))
    if not labels or any(_number(o) != 1.0 for o in occupancies):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            operations = parser.get_symops(block)
        coords = np.array([[str2float(fields[f"_atom_site_fract_{x}"][i]) for x in "xyz"] for i in range(len(labels))])
        lattice = parser.get_lattice(block)
    except (KeyError, ValueError, IndexError):
        return None
    if lattice is None or len(labels) < 2:
        return None
    distance, first, second = _closest_pair(coords, lattice.matrix, [op.affine_matrix for op in operations])
    return distance, f"overlapping atoms: {labels[first]} and {labels[second]} are {distance:.3f} Å apart"


def _closest_pair(coords: np.ndarray, lattice: np.ndarray, affine: list[np.ndarray]) -> tuple[float, int, int]:
    rotations = np.stack([m[:3, :3] for m in affine])
    translations = np.stack([m[:3, 3] for m in affine])
    images = np.einsum("oij,nj->noi", rotations, coords) + translations  # (atoms, operations, 3)
    delta = images[:, :, None, :] - coords[None, None, :, :]
    delta -= np.round(delta)
    distances = np.linalg.norm(delta @ lattice, axis=-1).min(axis=1)  # (atoms, atoms)
    distances[np.tril_indices(len(coords))] = np.inf
    first, second = np.unravel_index(np.argmin(distances), distances.shape)
    return float(distances[first, second]), int(first), int(second)
