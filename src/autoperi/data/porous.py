"""Porous framework sets of the shared data (nothing downloads; see ../shared/data/README.md).

- ``zeolites_iza``: the IZA frameworks as pure-SiO2 P1 cells, geometry-relaxed (``relaxed.csv.gz``, 236) and as
  published (``experimental.csv.gz``, 253); Schwalbe-Koda et al., arXiv:2307.10935, CC BY 4.0.
- ``core_cof``: 612 experimental 2D and 3D covalent organic frameworks (CoRE COF DT613 v6); Tong et al.,
  Chem. Eng. Sci. 168, 456 (2017), MIT.

Held-out split, fixed: a framework's split follows from its id alone (the IZA three-letter code, or the COF's
file name), ``u = int(sha256(id)[:16 hex digits]) / 16**16``: test if ``u < 0.15``, val if ``u < 0.30``, else
train. It never depends on file order or on which other frameworks a file holds, so the relaxed and the
as-published cell of one zeolite always fall in the same split: ``train``, ``val``, ``test`` are the relaxed
cells (the first file of a set), ``experimental_train`` ... the as-published ones.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autoperi.data.paths import data_root
from autoperi.errors import DatasetError
from autoperi.io.readers import ReadReport

if TYPE_CHECKING:
    from autoperi.data.datasets import CrystalDataset

POROUS_SPLITS = ("train", "val", "test")
TEST_FRACTION = 0.15
VAL_FRACTION = 0.15


@dataclass(frozen=True)
class PorousSet:
    """A porous set: its files by geometry (the first one is the primary), with their row counts."""

    name: str
    description: str
    citation: str
    files: dict[str, str]  # geometry -> file name inside the set's folder
    rows: dict[str, int]  # geometry -> rows in the file

    def split_names(self) -> list[str]:
        """``train, val, test`` of the primary file, then ``<geometry>_<split>`` of every other file."""
        others = list(self.files)[1:]
        return [*POROUS_SPLITS, *(f"{geometry}_{split}" for geometry in others for split in POROUS_SPLITS)]

    def parse_split(self, split: str) -> tuple[str, str]:
        """(geometry, split) of a split name such as ``test`` or ``experimental_test``."""
        if split in POROUS_SPLITS:
            return next(iter(self.files)), split
        geometry, _, part = split.rpartition("_")
        if geometry not in self.files or part not in POROUS_SPLITS or geometry == next(iter(self.files)):
            raise DatasetError(f"{self.name} has no split {split!r} (splits: {', '.join(self.split_names())})")
        return geometry, part


POROUS_SETS: dict[str, PorousSet] = {
    spec.name: spec
    for spec in (
        PorousSet(
            name="zeolites_iza",
            description="IZA zeolite frameworks as SiO2 P1 cells, relaxed and as published (15-4,320 atoms)",
            citation="Schwalbe-Koda et al., arXiv:2307.10935 (2023); IZA Database of Zeolite Structures",
            files={"relaxed": "relaxed.csv.gz", "experimental": "experimental.csv.gz"},
            rows={"relaxed": 236, "experimental": 253},
        ),
        PorousSet(
            name="core_cof",
            description="CoRE COF DT613 v6: experimental 2D and 3D covalent organic frameworks (15-2,480 atoms)",
            citation="Tong, Lan, Yang, Zhong, Chem. Eng. Sci. 168, 456-464 (2017)",
            files={"experimental": "dt613_v6.csv.gz"},
            rows={"experimental": 612},
        ),
    )
}


def porous_set(name: str) -> PorousSet:
    try:
        return POROUS_SETS[name]
    except KeyError:
        raise DatasetError(f"unknown porous set {name!r} (known: {', '.join(POROUS_SETS)})") from None


def held_out_split(material_id: str) -> str:
    """``train``, ``val`` or ``test`` of a framework, from a hash of its id (see the module docstring)."""
    fraction = int(hashlib.sha256(material_id.encode()).hexdigest()[:16], 16) / 16**16
    if fraction < TEST_FRACTION:
        return "test"
    return "val" if fraction < TEST_FRACTION + VAL_FRACTION else "train"


def porous_file(name: str, geometry: str, root: Path | None = None) -> Path:
    spec = porous_set(name)
    path = (root or data_root()) / name / spec.files[geometry]
    if not path.is_file():
        raise DatasetError(f"{path} not found (set AUTOPERI_DATA_ROOT to the folder holding {name}/)")
    return path


def load_porous_split(
    name: str,
    split: str,
    root: Path | None = None,
    niggli: bool = True,
    max_atoms: int | None = None,
    workers: int | None = None,
) -> CrystalDataset:
    """The frameworks of one split (the whole file is parsed once, through the cache, then filtered)."""
    # datasets.load_split dispatches porous names here, so this module cannot import it at the top.
    from autoperi.data.datasets import CrystalDataset, load_file

    spec = porous_set(name)
    geometry, part = spec.parse_split(split)
    whole = load_file(porous_file(name, geometry, root), niggli, max_atoms, workers)
    report = ReadReport(
        source=f"{whole.sources[0]} ({part})",
        crystals=[crystal for crystal in whole if held_out_split(str(crystal.id)) == part],
        # a skipped row's message starts with its id
        errors=[error for error in whole.reports[0].errors if held_out_split(error[1].split(":")[0]) == part],
    )
    return CrystalDataset(f"{name}/{split}", report.crystals, whole.sources, [report], whole.from_cache)
