"""Slabs: cut from bulk crystals with pymatgen's SlabGenerator, and the DFT adsorbate slabs on fcc(111).

A slab of a bulk crystal keeps the bulk's id in ``bulk_id``; the slabs of a split are cut from that split's
bulk crystals only, so a slab's split is its bulk's split and no facet of a held-out material is seen in
training. Every slab is periodic along a and b, with c normal to the surface and the vacuum along c.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autoperi.caching import cache_dir
from autoperi.crystal import Crystal
from autoperi.data.cache import read_cached, write_cache
from autoperi.data.datasets import CrystalDataset, load_split
from autoperi.data.paths import data_root
from autoperi.errors import CrystalError, DatasetError
from autoperi.io.readers import ReadReport
from autoperi.limits import atom_limit
from autoperi.parallel import parallel_map

if TYPE_CHECKING:
    from pymatgen.core import Structure

SLAB_PBC = (True, True, False)
SLAB_CACHE_VERSION = 3  # 2: miller_index as '(1,-1,0)', which extxyz keeps a string; 3: pbc stored
ADSORBATE_FOLDER = "fcc111_adsorbates"


@dataclass(frozen=True)
class SlabSettings:
    """How slabs are cut: every symmetrically distinct facet with Miller indices up to ``max_index``, one
    termination each (the first pymatgen lists), ``min_slab_size`` Å of material and ``min_vacuum_size`` Å
    of vacuum; at most ``max_facets`` facets per bulk (a seeded, per-bulk choice) and ``max_atoms`` atoms
    (default: the atom limit in force, ``--max-atoms`` else ``AUTOPERI_MAX_ATOMS`` else 512, fixed here)."""

    max_index: int = 1
    min_slab_size: float = 7.0
    min_vacuum_size: float = 15.0
    max_facets: int | None = None
    max_atoms: int | None = None
    symprec: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_index < 1 or self.min_slab_size <= 0 or self.min_vacuum_size <= 0:
            raise DatasetError("slab settings need max_index >= 1 and positive slab and vacuum sizes")
        if self.max_facets is not None and self.max_facets < 1:
            raise DatasetError(f"max_facets must be at least 1, got {self.max_facets}")
        object.__setattr__(self, "max_atoms", atom_limit(self.max_atoms).max_atoms)


def _stable_seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def conventional_cell(bulk: Crystal, symprec: float = SlabSettings.symprec) -> Structure:
    """The bulk's conventional standard cell (pymatgen), to which Miller indices refer."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from autoperi.io.pymatgen_adapter import structure_from_crystal

    return SpacegroupAnalyzer(structure_from_crystal(bulk), symprec=symprec).get_conventional_standard_structure()


def chosen_facets(conventional: Structure, bulk_id: str | None, settings: SlabSettings) -> list[tuple[int, ...]]:
    """The facets of one bulk crystal to cut; the seeded subsample depends only on the bulk's id and the
    settings, never on which other crystals are processed."""
    from pymatgen.core.surface import get_symmetrically_distinct_miller_indices

    facets = [
        tuple(int(i) for i in hkl)
        for hkl in get_symmetrically_distinct_miller_indices(conventional, settings.max_index)
    ]
    if settings.max_facets is None or len(facets) <= settings.max_facets:
        return facets
    rng = np.random.default_rng(_stable_seed(settings.seed, bulk_id))
    return [facets[i] for i in sorted(rng.choice(len(facets), settings.max_facets, replace=False))]


def cut_slab(conventional: Structure, bulk_id: str | None, facet: tuple[int, ...], settings: SlabSettings) -> Crystal:
    """One slab along ``facet`` of a bulk's conventional cell: its first termination, c normal to the surface."""
    from pymatgen.core.surface import SlabGenerator

    from autoperi.io.pymatgen_adapter import crystal_from_structure

    generator = SlabGenerator(
        conventional, facet, settings.min_slab_size, settings.min_vacuum_size, center_slab=True, primitive=True
    )
    slab = generator.get_slab(shift=generator.gen_possible_terminations()[0]).get_orthogonal_c_slab()
    label = "".join(str(i) for i in facet)
    crystal = crystal_from_structure(slab, f"{bulk_id}-{label}").as_slab(axis=2)
    crystal.properties = {"bulk_id": bulk_id, "miller_index": f"({','.join(str(i) for i in facet)})"}
    return crystal.validate(settings.max_atoms)


def slabs_of_bulk(item: tuple[Crystal, SlabSettings]) -> list[Crystal | tuple[str, str]]:
    """Every chosen slab of one bulk crystal, or ``(reason, message)`` for each one that failed."""
    bulk, settings = item
    results: list[Crystal | tuple[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about rounding and occupancies on many cells
        try:
            conventional = conventional_cell(bulk, settings.symprec)
            facets = chosen_facets(conventional, bulk.id, settings)
        except Exception as error:
            return [("slab_failed", f"{bulk.id}: no facets ({type(error).__name__}: {str(error)[:120]})")]
        for facet in facets:
            try:
                results.append(cut_slab(conventional, bulk.id, facet, settings))
            except CrystalError as error:
                results.append((error.reason, f"{bulk.id} {facet}: {error}"))
            except Exception as error:
                results.append(("slab_failed", f"{bulk.id} {facet}: {type(error).__name__}: {str(error)[:120]}"))
    return results


def build_slabs(
    bulks: Sequence[Crystal], settings: SlabSettings, workers: int | None = 1, source: str = "bulk crystals"
) -> ReadReport:
    """The slabs of every bulk crystal, in order, and every facet skipped (with why)."""
    report = ReadReport(source=f"slabs of {source}")
    for results in parallel_map(slabs_of_bulk, [(b, settings) for b in bulks], workers, "cutting slabs", "bulk"):
        for item in results:
            report.add(item)
    return report


def bulk_subsample(count: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of ``limit`` of ``count`` bulk crystals, a seeded choice (all of them without a limit)."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, limit, replace=False))


def _slab_cache_file(bulks: Sequence[Crystal], settings: SlabSettings, label: str) -> Path:
    digest = hashlib.sha256(json.dumps(asdict(settings), sort_keys=True).encode())
    digest.update(f"v{SLAB_CACHE_VERSION}".encode())
    for bulk in bulks:
        digest.update(str(bulk.id).encode() + bulk.lattice.tobytes() + bulk.frac_coords.tobytes())
        digest.update(bulk.atomic_numbers.tobytes())
    return cache_dir() / "slabs" / f"{label}-{digest.hexdigest()[:20]}.pt"


def load_slabs(
    name: str,
    split: str,
    settings: SlabSettings | None = None,
    limit: int | None = None,
    root: Path | None = None,
    workers: int | None = 1,
    use_cache: bool = True,
) -> CrystalDataset:
    """Slabs of (a seeded subsample of ``limit``) bulk crystals of a dataset split, cached by content."""
    settings = settings or SlabSettings()
    bulks = load_split(name, split, root)
    chosen = [bulks[int(i)] for i in bulk_subsample(len(bulks), limit, settings.seed)]
    cache_file = _slab_cache_file(chosen, settings, f"{name}-{split}")
    report = read_cached(cache_file) if use_cache else None
    from_cache = report is not None
    if report is None:
        report = build_slabs(chosen, settings, workers, f"{name}/{split}")
        if use_cache:
            write_cache(cache_file, report)
    return CrystalDataset(f"{name}/{split} slabs", report.crystals, [str(cache_file)], [report], from_cache)


def _entries(structures: dict) -> Iterator[tuple[str, str, str, str, object]]:
    for metal, by_adsorbate in structures.items():
        for adsorbate, by_site in by_adsorbate.items():
            for site, by_coverage in by_site.items():
                for coverage, entry in by_coverage.items():
                    yield metal, adsorbate, site, coverage, entry


def load_adsorbate_slabs(root: Path | None = None) -> CrystalDataset:
    """The DFT-relaxed fcc(111) slabs with adsorbates (and each metal's clean slab, once), with properties
    ``metal``, ``adsorbate``, ``site``, ``coverage`` and ``adsorption_energy`` (eV, as the source defines
    it). The 14 calculations the source marks 'Q' instead of giving a structure are reported as skipped."""
    folder = (root or data_root()) / ADSORBATE_FOLDER
    try:
        structures = json.loads((folder / "structures.json").read_text())
        energies = json.loads((folder / "energies.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DatasetError(f"{folder}: cannot read structures.json and energies.json ({error})") from None
    report = ReadReport(source=str(folder))
    seen: set[str] = set()
    for metal, adsorbate, site, coverage, entry in _entries(structures):
        clean = float(coverage) == 0.0
        key = f"{metal}-clean" if clean else f"{metal}-{adsorbate}-{site}-{coverage}"
        if key in seen:
            continue  # each metal's clean slab is listed once per adsorbate and site, always the same
        seen.add(key)
        if not isinstance(entry, dict):
            report.add(("no_structure", f"{key}: the source gives {entry!r} instead of a structure"))
            continue
        properties: dict[str, object] = {"metal": metal, "coverage": float(coverage)}
        if not clean:
            energy = energies[metal][adsorbate][site][coverage]
            properties |= {"adsorbate": adsorbate, "site": site, "adsorption_energy": float(energy)}
        report.add(_adsorbate_slab(entry, key, properties))
    return CrystalDataset(ADSORBATE_FOLDER, report.crystals, [str(folder)], [report])


def _adsorbate_slab(entry: dict, key: str, properties: dict) -> Crystal:
    from ase import Atoms

    from autoperi.io.ase_adapter import crystal_from_atoms

    atoms = Atoms(entry["symbols"], positions=entry["pos"], cell=entry["cell"], pbc=SLAB_PBC)
    crystal = crystal_from_atoms(atoms, key)
    crystal.properties = properties
    return crystal.validate()
