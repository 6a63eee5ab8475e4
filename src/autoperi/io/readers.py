"""Read crystals from any supported input: a CIF file, a folder of CIFs, extxyz or a CDVAE CSV.

Periodicity: extxyz carries ``pbc`` and it is kept. A CIF cannot say a direction is not periodic, so
with ``slab=True`` every structure that the file reads as bulk becomes a slab along the lattice direction
of its widest vacuum gap, which must be at least ``MIN_VACUUM`` Å (else it is skipped as ``no_vacuum``);
without it, CIFs read as bulk crystals, as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from autoperi.crystal import Crystal
from autoperi.errors import CrystalError
from autoperi.io.ase_adapter import crystal_from_atoms, read_extxyz_frames
from autoperi.io.cdvae_csv import parse_rows, read_table, table_rows
from autoperi.io.pymatgen_adapter import read_cif

CIF_SUFFIXES = (".cif",)
EXTXYZ_SUFFIXES = (".extxyz", ".xyz")
CSV_SUFFIXES = (".csv", ".csv.gz")


@dataclass
class ReadReport:
    """The crystals read from a source, and every entry skipped: ``(reason, message naming the entry)``."""

    source: str
    crystals: list[Crystal] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, item: Crystal | tuple[str, str]) -> None:
        if isinstance(item, Crystal):
            self.crystals.append(item)
        else:
            self.errors.append(item)

    @property
    def skipped(self) -> Counter[str]:
        return Counter(reason for reason, _ in self.errors)

    @property
    def first_error(self) -> dict[str, str]:
        first: dict[str, str] = {}
        for reason, message in self.errors:
            first.setdefault(reason, message)
        return first

    @property
    def num_skipped(self) -> int:
        return len(self.errors)

    def summary(self) -> str:
        text = f"{self.source}: read {len(self.crystals)} crystals"
        if not self.errors:
            return text
        first = self.first_error
        causes = "; ".join(f"{count} {reason} (e.g. {first[reason]})" for reason, count in self.skipped.most_common())
        return f"{text}, skipped {self.num_skipped}: {causes}"

    def skipped_lines(self) -> list[str]:
        """One line per skipped entry, in input order: its id (or file) and why."""
        return [f"skipped {message} [{reason}]" for reason, message in self.errors]


def input_kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "folder"
    for kind, suffixes in (("cif", CIF_SUFFIXES), ("extxyz", EXTXYZ_SUFFIXES), ("csv", CSV_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    raise CrystalError("unknown_format", f"{path}: unknown format (expected .cif, .extxyz, .csv, .csv.gz or a folder)")


def _validated(
    items: Iterable[Crystal], label: str, max_atoms: int | None, slab: bool
) -> Iterable[Crystal | tuple[str, str]]:
    for crystal in items:
        try:
            yield (crystal.as_slab() if slab and crystal.is_bulk else crystal).validate(max_atoms)
        except CrystalError as error:
            yield error.reason, f"{crystal.id or label}: {error}"


def _read_file_items(path: Path, kind: str, max_atoms: int | None, slab: bool) -> Iterable[Crystal | tuple[str, str]]:
    try:
        if kind == "cif":
            yield from _validated(read_cif(path), path.name, max_atoms, slab)
        else:
            frames = read_extxyz_frames(path)
            for index, atoms in enumerate(frames):
                label = f"{path.name}[{index}]"
                try:
                    crystal = crystal_from_atoms(atoms)
                    crystal.id = crystal.id or (path.stem if len(frames) == 1 else f"{path.stem}-{index}")
                    yield from _validated([crystal], label, max_atoms, slab)
                except CrystalError as error:
                    yield error.reason, f"{label}: {error}"
    except CrystalError as error:
        yield error.reason, f"{path.name}: {error}"


def _folder_files(folder: Path) -> list[Path]:
    cifs = sorted(p for p in folder.iterdir() if p.name.lower().endswith(CIF_SUFFIXES))
    if cifs:
        return cifs
    return sorted(p for p in folder.iterdir() if p.name.lower().endswith(EXTXYZ_SUFFIXES))


def read_crystals(
    path: str | Path,
    max_atoms: int | None = None,
    niggli: bool = False,
    workers: int | None = None,
    slab: bool = False,
) -> ReadReport:
    """Every usable crystal in ``path``; unusable entries are skipped and counted by reason.

    A folder is read for its ``*.cif`` files, or its extxyz files when it holds no CIF (an AutoPeri
    sample folder holds both, the same crystals twice). ``niggli`` applies CDVAE's preprocessing
    (Niggli reduction and a canonical orientation) to CSV rows; ``slab`` reads CIF and bulk extxyz
    structures as slabs (see the module docstring).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    kind = input_kind(path)
    report = ReadReport(source=str(path))
    if kind == "csv":
        if slab:
            raise CrystalError("unknown_format", f"{path}: slabs are read from CIF or extxyz, not from a CSV")
        for item in parse_rows(table_rows(read_table(path)), niggli=niggli, max_atoms=max_atoms, workers=workers):
            report.add(item)
        return report
    files = _folder_files(path) if kind == "folder" else [path]
    if kind == "folder" and not files:
        raise CrystalError("empty", f"{path}: the folder holds no .cif or .extxyz files")
    for file in files:
        for item in _read_file_items(file, input_kind(file), max_atoms, slab):
            report.add(item)
    return report


def read_one_crystal(path: str | Path, max_atoms: int | None = None, slab: bool = False) -> Crystal:
    """Exactly one crystal from a file; anything else raises a one-line :class:`CrystalError`."""
    report = read_crystals(path, max_atoms=max_atoms, workers=1, slab=slab)
    if report.skipped:
        reason = next(iter(report.skipped))
        raise CrystalError(reason, report.first_error[reason])
    if len(report.crystals) != 1:
        raise CrystalError("not_one_structure", f"{path}: holds {len(report.crystals)} structures, expected 1")
    return report.crystals[0]
