"""Conversions between :class:`Crystal` and pymatgen ``Structure``, and CIF text.

``pbc`` travels as pymatgen's ``Lattice.pbc``. A CIF describes a cell repeated in all three directions,
so it cannot say that a direction is not periodic: a slab is written with its vacuum in the cell and reads
back as a bulk crystal, unless the reader is asked for slabs (:func:`autoperi.io.read_crystals`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from pymatgen.core import DummySpecies, Lattice, Structure
from pymatgen.io.cif import CifFile, CifParser, CifWriter

from autoperi.crystal import MAX_ATOMIC_NUMBER, Crystal
from autoperi.errors import CrystalError
from autoperi.io.cif_checks import check_cell_lengths, check_declared_formula, check_distinct_sites, closest_sites


def right_handed(crystal: Crystal) -> Crystal:
    """The same crystal in a right-handed cell (a left-handed lattice is negated, coordinates with it)."""
    if np.linalg.det(crystal.lattice) < 0:
        return crystal.change_basis(-np.eye(3, dtype=int))
    return crystal


def crystal_from_structure(structure: Structure, crystal_id: str | None = None) -> Crystal:
    if not structure.is_ordered:
        raise CrystalError("disordered", "the structure has partially occupied (disordered) sites")
    numbers = []
    for site in structure:
        element = site.specie
        if isinstance(element, DummySpecies) or not 1 <= getattr(element, "Z", 0) <= MAX_ATOMIC_NUMBER:
            raise CrystalError("unknown_element", f"unknown element {element.symbol!r}")
        numbers.append(element.Z)
    pbc = tuple(bool(p) for p in structure.lattice.pbc)
    crystal = Crystal(structure.lattice.matrix, structure.frac_coords, np.asarray(numbers), id=crystal_id, pbc=pbc)
    return right_handed(crystal)


def structure_from_crystal(crystal: Crystal) -> Structure:
    return Structure(Lattice(crystal.lattice, pbc=crystal.pbc), crystal.atomic_numbers.tolist(), crystal.frac_coords)


def canonical_orientation(crystal: Crystal) -> Crystal:
    """Rebuild the lattice from its parameters, as CDVAE's preprocessing does (a along x, b in xy)."""
    params = crystal.lattice_parameters
    return Crystal.from_parameters(
        tuple(params[:3]),
        tuple(params[3:]),
        crystal.frac_coords,
        crystal.atomic_numbers,
        id=crystal.id,
        properties=crystal.properties,
    )


def niggli_reduced_structure(crystal: Crystal) -> Crystal:
    """Niggli-reduce with pymatgen's ``Structure.get_reduced_structure`` (CDVAE's preprocessing)."""
    reduced = structure_from_crystal(crystal).get_reduced_structure()
    return crystal_from_structure(reduced, crystal.id).copy(properties=crystal.properties)


def parse_cif_text(text: str, crystal_id: str | None = None) -> list[Crystal]:
    """All structures in a CIF string; raises :class:`CrystalError` with a one-line reason."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise CrystalError("empty", "the CIF is empty")
    parser = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parser = CifParser.from_str(text, occupancy_tolerance=1.0)
            blocks = list(parser.as_dict().values())
            for block in blocks:
                check_cell_lengths(block)
            structures = parser.parse_structures(primitive=False, on_error="raise")
    except CrystalError:
        raise
    except Exception as error:
        raise CrystalError(*_describe_cif_failure(text, error, caught, parser)) from None
    if not structures:
        raise CrystalError("malformed_cif", "no structure could be read from the CIF")
    if len(blocks) == len(structures):
        for block, structure in zip(blocks, structures, strict=True):
            check_declared_formula(block, structure)
    for structure in structures:
        check_distinct_sites(structure)
    return [crystal_from_structure(s, crystal_id) for s in structures]


# pymatgen reports every CIF failure as a ValueError; these fragments of its message name the cause.
_CIF_FAILURE_CAUSES = (
    (("occupanc", "disorder"), "disordered", "the structure has partially occupied (disordered) sites"),
    (("nan", "could not convert", "convert float"), "non_finite", "a coordinate is not a finite number"),
    (("thickness", "below threshold", "singular"), "non_positive_volume", "the cell has zero volume"),
    (("'_atom_site_label'", "_atom_site_fract"), "zero_atoms", "the CIF lists no atom sites"),
    (("element", "species", "symbol"), "unknown_element", "the CIF names an unknown element"),
)


def _describe_cif_failure(text: str, error: Exception, caught: list, parser: CifParser | None) -> tuple[str, str]:
    messages = (" ".join(str(w.message) for w in caught) + " " + str(error)).lower()
    if "_cell_length" not in text:
        return "malformed_cif", "malformed CIF: no cell parameters (_cell_length_a ...)"
    if "exceeded tolerance" in messages and parser is not None:
        blocks = CifFile.from_str(text).data.values()
        pairs = [pair for block in blocks if (pair := closest_sites(parser, block))]
        if pairs:
            return "overlapping_atoms", min(pairs)[1]
    for fragments, reason, explanation in _CIF_FAILURE_CAUSES:
        if any(fragment in messages for fragment in fragments):
            return reason, explanation
    lines = [line for line in str(error).splitlines() if line.strip()]
    return "malformed_cif", f"malformed CIF: {lines[-1][:200] if lines else type(error).__name__}"


def read_cif(path: str | Path) -> list[Crystal]:
    path = Path(path)
    return parse_cif_text(path.read_text(errors="replace"), crystal_id=path.stem)


def cif_text(crystal: Crystal) -> str:
    return str(CifWriter(structure_from_crystal(crystal)))


def write_cif(crystal: Crystal, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(cif_text(crystal))
    return path
