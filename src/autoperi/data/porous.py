"""Porous framework sets of the shared data (nothing downloads; see ../shared/data/README.md).

- ``zeolites_iza``: the IZA frameworks as pure-SiO2 P1 cells, geometry-relaxed (``relaxed.csv.gz``, 236) and as
  published (``experimental.csv.gz``, 253); Schwalbe-Koda et al., arXiv:2307.10935, CC BY 4.0.
- ``core_cof``: 612 experimental 2D and 3D covalent organic frameworks (CoRE COF DT613 v6); Tong et al.,
  Chem. Eng. Sci. 168, 456 (2017), MIT.
- ``core_mof``: the metal-organic frameworks of CoRE MOF 2019, all solvent removed (``asr``, 12,020 cells, the
  primary file) and free solvent removed (``fsr``, 7,061), and CoRE MOF 2014 (``2014``, 4,764); Chung et al.,
  J. Chem. Eng. Data 64, 5985 (2019) and Chem. Mater. 26, 6185 (2014), data CC BY 4.0. They ship as CIFs in
  the PyPI package ``core-mof`` (the extra ``autoperi[porous]``), not in the shared data: unless the data root
  holds ``core_mof/<file>``, the package's archive is read once into that CSV under the cache folder.

Held-out split, fixed: a framework's split follows from its id alone (the IZA three-letter code, or the COF's
file name), ``u = int(sha256(id)[:16 hex digits]) / 16**16``: test if ``u < 0.15``, val if ``u < 0.30``, else
train. It never depends on file order or on which other frameworks a file holds, so the relaxed and the
as-published cell of one zeolite always fall in the same split: ``train``, ``val``, ``test`` are the relaxed
cells (the first file of a set), ``experimental_train`` ... the as-published ones. A CoRE MOF id is the CSD
refcode (or the paper's file) followed by how the cell was cleaned (``ABAVIJ_clean``, ``ABAVIJ_freeONLY``); the
hash is of the id without that suffix, so the cells of one MOF in the three files share a split.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autoperi.caching import cache_dir
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
    id_suffix: str | None = None  # a pattern cut from the end of an id before it is hashed into a split
    package: str | None = None  # the PyPI package whose archives hold the set's CIFs (else: the shared data)

    def split_of(self, material_id: str) -> str:
        """``train``, ``val`` or ``test`` of one framework (see the module docstring)."""
        return held_out_split(re.sub(self.id_suffix, "", material_id) if self.id_suffix else material_id)

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
        PorousSet(
            name="core_mof",
            description="CoRE MOF 2019 (all / free solvent removed) and 2014: experimental metal-organic frameworks",
            citation="Chung et al., J. Chem. Eng. Data 64, 5985 (2019); Chung et al., Chem. Mater. 26, 6185 (2014)",
            files={"asr": "2019-ASR.csv.gz", "fsr": "2019-FSR.csv.gz", "2014": "2014.csv.gz"},
            rows={"asr": 12020, "fsr": 7061, "2014": 4764},
            # the cleaning suffixes of CoRE MOF file names (the "Extension" column of its tables)
            id_suffix=r"_(clean_h_min|clean_h|clean|freeONLY|charged|manual|SL_part|SL|ion_b|auto|neutral_b|neutral)$",
            package="core-mof",
        ),
    )
}
CORE_MOF_INSTALL_HINT = "the CoRE MOF structures ship in the package core-mof: pip install 'autoperi[porous]'"


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
    """The set's CSV of one geometry under the data root; for a set shipped as a package, else its export
    under the cache folder (written on first use)."""
    spec = porous_set(name)
    path = (root or data_root()) / name / spec.files[geometry]
    if path.is_file():
        return path
    if spec.package is None:
        raise DatasetError(f"{path} not found (set AUTOPERI_DATA_ROOT to the folder holding {name}/)")
    exported = cache_dir() / "porous" / name / spec.files[geometry]
    if not exported.is_file():
        export_core_mof(spec.files[geometry].removesuffix(".csv.gz"), exported)
    return exported


def core_mof_cifs(dataset: str) -> Iterator[tuple[str, str]]:
    """``(id, CIF text)`` of every structure of a CoRE MOF dataset (``2019-ASR``, ``2019-FSR``, ``2014``), read
    in one pass over the package's archive (its own ``get_CIF_structure_data`` scans the archive per entry)."""
    import tarfile
    from importlib import resources

    try:
        import CoRE_MOF.data
    except ImportError:
        raise DatasetError(CORE_MOF_INSTALL_HINT) from None
    with tarfile.open(str(resources.files(CoRE_MOF.data) / f"{dataset}.tar.xz")) as archive:
        for member in archive:
            name = member.name.rsplit("/", 1)[-1]
            if member.isfile() and member.size > 0 and name.endswith(".cif") and not name.startswith("."):
                handle = archive.extractfile(member)
                assert handle is not None  # a regular file
                yield name.removesuffix(".cif"), handle.read().decode("utf-8", errors="replace")


def export_core_mof(dataset: str, path: Path, ids: set[str] | None = None) -> Path:
    """Write a CoRE MOF dataset (or the structures ``ids`` of it) as a CSV of ``material_id`` and ``cif``."""
    import pandas as pd

    rows = [(key, cif) for key, cif in core_mof_cifs(dataset) if ids is None or key in ids]
    if not rows:
        raise DatasetError(f"CoRE MOF {dataset}: no structures {'of ' + ', '.join(sorted(ids)) if ids else ''}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    with gzip.open(partial, "wt", newline="") as handle:
        pd.DataFrame(rows, columns=["material_id", "cif"]).to_csv(handle, index=False)
    partial.replace(path)
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
        crystals=[crystal for crystal in whole if spec.split_of(str(crystal.id)) == part],
        # a skipped row's message starts with its id
        errors=[error for error in whole.reports[0].errors if spec.split_of(error[1].split(":")[0]) == part],
    )
    return CrystalDataset(f"{name}/{split}", report.crystals, whole.sources, [report], whole.from_cache)
