"""``polymers``: 1D-periodic chains of the well-known polymers in ``polymers.csv`` (name, repeat-unit SMILES
with attachment points ``[*:1]``/``[*:2]``, reference), built with RDKit by
:func:`autoperi.io.rdkit_adapter.build_chain` (seed 0, 15 Å vacuum; needs the ``autoperi[polymers]`` extra).

The cells are built once and kept in the parsed-tensor cache (keyed by the table's bytes and the build
options). The held-out split follows from the polymer's name alone, as for the porous sets
(:func:`autoperi.data.porous.held_out_split`). A chain that fails to build is skipped and named.
"""

from __future__ import annotations

import csv
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from autoperi.data.cache import cache_path, read_cached, write_cache
from autoperi.data.porous import POROUS_SPLITS, held_out_split
from autoperi.errors import AutoPeriError, DatasetError
from autoperi.io.readers import ReadReport

if TYPE_CHECKING:
    from autoperi.data.datasets import CrystalDataset

POLYMER_SET = "polymers"
BUILD_OPTIONS = {"seed": 0, "vacuum": 15.0}


def polymer_table_path() -> Path:
    return Path(str(files("autoperi.data") / "polymers.csv"))


def polymer_table() -> list[dict[str, str]]:
    """The rows of ``polymers.csv``: ``name``, ``smiles``, ``reference``."""
    with polymer_table_path().open(newline="") as handle:
        return list(csv.DictReader(handle))


def build_polymers() -> ReadReport:
    from autoperi.io.rdkit_adapter import build_chain

    report = ReadReport(source=str(polymer_table_path()))
    for row in polymer_table():
        try:
            report.add(build_chain(row["smiles"], chain_id=row["name"], **BUILD_OPTIONS))
        except AutoPeriError as error:
            report.add(("polymer_build", f"{row['name']}: {error}"))
    return report


def load_polymer_split(split: str) -> CrystalDataset:
    """The chains of one split (all are built once, through the cache, then filtered)."""
    from autoperi.data.datasets import CrystalDataset

    if split not in POROUS_SPLITS:
        raise DatasetError(f"{POLYMER_SET} has no split {split!r} (splits: {', '.join(POROUS_SPLITS)})")
    cache_file = cache_path(polymer_table_path(), BUILD_OPTIONS)
    whole = read_cached(cache_file)
    from_cache = whole is not None
    if whole is None:
        whole = build_polymers()
        write_cache(cache_file, whole)
    report = ReadReport(
        source=f"{whole.source} ({split})",
        crystals=[chain for chain in whole.crystals if held_out_split(str(chain.id)) == split],
        errors=[error for error in whole.errors if held_out_split(error[1].split(": ")[0]) == split],
    )
    return CrystalDataset(f"{POLYMER_SET}/{split}", report.crystals, [whole.source], [report], from_cache)
