"""The CDVAE CSV format: one row per crystal, a ``cif`` column, ``material_id`` and property columns."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from autoperi.crystal import Crystal
from autoperi.errors import CrystalError
from autoperi.io.pymatgen_adapter import canonical_orientation, niggli_reduced_structure, parse_cif_text
from autoperi.parallel import parallel_map

CIF_COLUMN = "cif"
ID_COLUMN = "material_id"
ROW_LABEL_COLUMN = "row_label"  # what pandas calls the leading unnamed index column of CDVAE's files

ParsedRow = Crystal | tuple[str, str]


def read_table(path: str | Path) -> pd.DataFrame:
    """The CSV as a DataFrame with its unnamed index column (if any) renamed to ``row_label``."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise CrystalError("empty", f"{path} is empty")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, EOFError, OSError) as error:
        raise CrystalError("malformed_csv", f"{path}: not a readable CSV ({error})") from None
    if CIF_COLUMN not in frame.columns:
        raise CrystalError("malformed_csv", f"{path}: no '{CIF_COLUMN}' column (found {list(frame.columns)})")
    unnamed = [c for c in frame.columns if str(c).startswith("Unnamed: 0")]
    return frame.rename(columns={unnamed[0]: ROW_LABEL_COLUMN}) if unnamed else frame


def parse_row(cif: Any, crystal_id: str, properties: dict[str, Any], niggli: bool, max_atoms: int | None) -> ParsedRow:
    """One row to a validated Crystal, or ``(reason, message)`` if it must be skipped."""
    try:
        if not isinstance(cif, str):
            raise CrystalError("empty", "the cif field is empty")
        crystals = parse_cif_text(cif, crystal_id)
        if len(crystals) != 1:
            raise CrystalError("malformed_cif", f"the cif field holds {len(crystals)} structures, expected 1")
        crystal = crystals[0].validate(max_atoms)
        if niggli:
            crystal = canonical_orientation(niggli_reduced_structure(crystal)).wrapped()
        return crystal.copy(properties=properties).validate(max_atoms)
    except CrystalError as error:
        return error.reason, f"{crystal_id}: {error}"


def _parse_item(item: tuple[tuple[Any, str, dict[str, Any]], bool, int | None]) -> ParsedRow:
    (cif, crystal_id, properties), niggli, max_atoms = item
    return parse_row(cif, crystal_id, properties, niggli, max_atoms)


def _clean_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def table_rows(frame: pd.DataFrame) -> list[tuple[Any, str, dict[str, Any]]]:
    property_columns = [c for c in frame.columns if c not in (CIF_COLUMN, ID_COLUMN)]
    ids = frame[ID_COLUMN].astype(str) if ID_COLUMN in frame.columns else pd.Series(frame.index).astype(str)
    return [
        (cif, crystal_id, {c: _clean_value(row[c]) for c in property_columns})
        for cif, crystal_id, (_, row) in zip(frame[CIF_COLUMN], ids, frame[property_columns].iterrows(), strict=True)
    ]


def parse_rows(
    rows: list[tuple[Any, str, dict[str, Any]]],
    niggli: bool = True,
    max_atoms: int | None = None,
    workers: int | None = None,
    description: str = "parsing CIFs",
) -> list[ParsedRow]:
    """Parse rows in parallel (``workers`` processes, default all cores) with progress, in order."""
    return parallel_map(_parse_item, [(row, niggli, max_atoms) for row in rows], workers, description, unit="cif")


def write_cdvae_csv(crystals: Iterable[Crystal], path: str | Path) -> Path:
    """Write crystals as CDVAE lays out its data CSVs: a leading index column, ``material_id``, ``cif``."""
    from autoperi.io.pymatgen_adapter import cif_text

    rows = []
    for index, crystal in enumerate(crystals):
        properties = {k: v for k, v in crystal.properties.items() if k not in (ROW_LABEL_COLUMN, ID_COLUMN, CIF_COLUMN)}
        rows.append(
            {
                ID_COLUMN: crystal.id or f"crystal-{index}",
                "pretty_formula": crystal.formula,
                CIF_COLUMN: cif_text(crystal),
                **properties,
            }
        )
    path = Path(path)
    pd.DataFrame(rows).to_csv(path)
    return path
