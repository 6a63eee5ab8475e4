"""Energy above the convex hull against a reference of CHGNet energies (AutoPeri's stability protocol).

The reference is a list of (composition, CHGNet energy) entries: the static CHGNet energy of every structure
in a reference dataset (e.g. the MP-20 training split), plus elemental references. An element that has no
single-element structure in the dataset gets one from a few relaxed prototypes (fcc, bcc, hcp, diamond,
simple cubic, a dimer crystal); each element's terminal entry is the lowest energy per atom among its
dataset and prototype structures. The entries are computed once, with a progress bar, appended to a
checkpoint as they are computed (an interrupted build resumes), and cached under
``$AUTOPERI_CACHE_DIR/hull/<key>/`` (default ``~/.cache/autoperi``), where the key hashes the reference
file's sha256, the CHGNet version and the protocol version.

E_hull of a crystal is its CHGNet energy per atom minus the hull energy at its composition, from a pymatgen
``PhaseDiagram`` of the reference entries inside its chemical system (built on demand, memoised; the hull at a
composition depends only on those entries). It is negative below the reference hull. Flags: stable when
E_hull <= 0.0 eV/atom, metastable when E_hull <= 0.1 eV/atom (both within 1e-4 eV/atom, CHGNet's float32
noise). A crystal with an element absent from the
reference (or unsupported by CHGNet) gets NaN and a reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from autoperi.batch import CrystalBatch
from autoperi.caching import cache_dir, path_sha256
from autoperi.choices import METASTABLE_THRESHOLD, STABLE_THRESHOLD
from autoperi.crystal import Crystal
from autoperi.errors import CrystalError
from autoperi.progress import progress_bar

PROTOCOL_VERSION = 1
# CHGNet runs in float32: the same structure evaluated in two batches differs by ~1e-6 eV/atom.
NUMERICAL_TOLERANCE = 1e-4  # eV/atom
PROTOTYPES = ("fcc", "bcc", "hcp", "diamond", "sc", "dimer")


@dataclass
class ReferenceEntry:
    id: str
    composition: dict[str, float]
    energy_per_atom: float  # CHGNet, eV/atom
    origin: str = "data"  # "data" or "prototype:<name>"

    @property
    def num_atoms(self) -> float:
        return sum(self.composition.values())


@dataclass
class HullResult:
    id: str | None
    formula: str
    energy_per_atom: float  # CHGNet, eV/atom
    e_above_hull: float  # eV/atom; NaN when it cannot be computed (see ``reason``, also a caveat when finite)
    stable: bool
    metastable: bool
    reason: str | None = None


@dataclass
class HullReference:
    entries: list[ReferenceEntry]
    model_version: str
    source: str = ""
    skipped: dict[str, str] = field(default_factory=dict)  # reference id -> why it has no entry

    @cached_property
    def elements(self) -> frozenset[str]:
        return frozenset(element for entry in self.entries for element in entry.composition)

    @cached_property
    def _diagrams(self) -> dict:
        return {}

    def phase_diagram(self, elements: Iterable[str]):
        """pymatgen ``PhaseDiagram`` of the entries whose elements all lie in ``elements`` (memoised)."""
        from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
        from pymatgen.core import Composition

        system = frozenset(elements)
        if system not in self._diagrams:
            entries = [
                PDEntry(Composition(e.composition), e.energy_per_atom * e.num_atoms, name=e.id)
                for e in self.entries
                if set(e.composition) <= system
            ]
            self._diagrams[system] = PhaseDiagram(entries)
        return self._diagrams[system]

    def save(self, path: Path) -> None:
        payload = {
            "model_version": self.model_version,
            "source": self.source,
            "skipped": self.skipped,
            "entries": [asdict(entry) for entry in self.entries],
        }
        path.write_text(json.dumps(payload))

    @classmethod
    def load(cls, path: Path) -> HullReference:
        payload = json.loads(path.read_text())
        entries = [ReferenceEntry(**entry) for entry in payload.pop("entries")]
        return cls(entries=entries, **payload)


def _composition(crystal: Crystal) -> dict[str, float]:
    symbols, counts = np.unique(crystal.symbols, return_counts=True)
    return {str(symbol): float(count) for symbol, count in zip(symbols, counts, strict=True)}


def static_energies(
    crystals: Sequence[Crystal],
    batch_size: int = 8,
    progress: bool = True,
    description: str = "CHGNet energies",
) -> Iterable[tuple[Crystal, float | str]]:
    """(crystal, CHGNet energy per atom in eV/atom) in order, or (crystal, reason) if unusable."""
    from autoperi.physics.chgnet_adapter import check_supported_elements, chgnet_potential

    potential = chgnet_potential()
    with progress_bar(len(crystals), description, "crystal", enabled=progress) as bar:
        for start in range(0, len(crystals), batch_size):
            chunk = crystals[start : start + batch_size]
            usable, reasons = [], {}
            for index, crystal in enumerate(chunk):
                try:
                    check_supported_elements(crystal.atomic_numbers.tolist(), crystal.id or "structure")
                    usable.append(index)
                except CrystalError as error:
                    reasons[index] = str(error)
            energies: dict[int, float] = {}
            if usable:
                with torch.no_grad():
                    output = potential.evaluate(CrystalBatch.from_crystals([chunk[i] for i in usable]))
                energies = dict(zip(usable, output.energy_per_atom.tolist(), strict=True))
            for index, crystal in enumerate(chunk):
                yield crystal, energies.get(index, reasons.get(index, "not evaluated"))
            bar.update(len(chunk))


def _read_checkpoint(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    records = {}
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["id"]] = record
    return records


def reference_entries(
    crystals: Sequence[Crystal], checkpoint: Path | None = None, progress: bool = True, origin: str = "data"
) -> tuple[list[ReferenceEntry], dict[str, str]]:
    """CHGNet entries of ``crystals`` (ids must be unique), resuming from and appending to ``checkpoint``."""
    done = _read_checkpoint(checkpoint) if checkpoint else {}
    todo = [c for c in crystals if c.id not in done]
    handle = checkpoint.open("a") if checkpoint else None
    try:
        energies = static_energies(todo, progress=progress, description=f"reference energies ({origin})")
        for crystal, value in energies:
            record = {"id": crystal.id, "composition": _composition(crystal), "origin": origin}
            record |= {"energy_per_atom": value} if isinstance(value, float) else {"reason": value}
            done[crystal.id] = record
            if handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
    finally:
        if handle:
            handle.close()
    entries, skipped = [], {}
    for crystal in crystals:
        record = dict(done[crystal.id])
        if "reason" in record:
            skipped[crystal.id] = record["reason"]
        else:
            entries.append(ReferenceEntry(**record))
    return entries, skipped


def prototype(symbol: str, name: str) -> Crystal:
    """An elemental prototype whose nearest-neighbour distance is twice the covalent radius."""
    from ase.build import bulk
    from ase.data import atomic_numbers, covalent_radii

    from autoperi.io.ase_adapter import crystal_from_atoms

    bond = 2 * covalent_radii[atomic_numbers[symbol]]
    if name == "dimer":  # a molecular crystal: X2 along z in a cell with 3.5 Å between molecules
        length = bond + 3.5
        atoms_frac = [[0.0, 0.0, 0.0], [0.0, 0.0, bond / length]]
        numbers = [atomic_numbers[symbol]] * 2
        return Crystal(np.diag([3.5, 3.5, length]), atoms_frac, numbers, id=f"{symbol}-dimer")
    lattice_constant = {"fcc": bond * 2**0.5, "bcc": bond * 2 / 3**0.5, "sc": bond, "diamond": bond * 4 / 3**0.5}
    if name == "hcp":
        atoms = bulk(symbol, "hcp", a=bond, c=bond * (8 / 3) ** 0.5)
    else:
        atoms = bulk(symbol, name, a=lattice_constant[name])
    return crystal_from_atoms(atoms, f"{symbol}-{name}")


def elemental_prototype_entries(
    symbols: Iterable[str], checkpoint: Path | None, steps: int = 200, workers: int = 1, progress: bool = True
) -> list[ReferenceEntry]:
    """Relaxed prototype entries (one per prototype that relaxed) per element; checkpointed every ``workers``
    elements (each group is one parallel relaxation)."""
    done = _read_checkpoint(checkpoint) if checkpoint else {}
    symbols = sorted(symbols)
    with progress_bar(len(symbols), "elemental prototypes", "element", enabled=progress) as bar:
        for start in range(0, len(symbols), workers):
            group = symbols[start : start + workers]
            todo = [prototype(s, name) for s in group for name in PROTOTYPES if f"{s}-{name}" not in done]
            records = _prototype_records(todo, steps, workers)
            done |= {record["id"]: record for record in records}
            if checkpoint and records:
                with checkpoint.open("a") as handle:
                    handle.writelines(json.dumps(record) + "\n" for record in records)
            bar.update(len(group))
    return [ReferenceEntry(**record) for record in done.values() if "reason" not in record]


def _prototype_records(todo: list[Crystal], steps: int, workers: int) -> list[dict]:
    from autoperi.physics.relax import relax_crystals

    results = relax_crystals(todo, fmax=0.05, steps=steps, workers=workers, progress=False) if todo else []
    records = []
    for crystal, result in zip(todo, results, strict=True):
        record = {"id": crystal.id, "composition": _composition(crystal), "origin": "prototype"}
        outcome = {"energy_per_atom": result.energy_per_atom_final}
        records.append(record | ({"reason": result.error} if result.error else outcome))
    return records


def build_reference(
    crystals: Sequence[Crystal],
    model_version: str,
    source: str = "",
    work_dir: Path | None = None,
    prototype_steps: int = 200,
    workers: int = 1,
    progress: bool = True,
) -> HullReference:
    """Entries for ``crystals`` plus elemental prototypes for elements with no elemental structure."""
    entries, skipped = reference_entries(crystals, work_dir / "entries.jsonl" if work_dir else None, progress)
    elements = {element for entry in entries for element in entry.composition}
    with_elemental = {next(iter(entry.composition)) for entry in entries if len(entry.composition) == 1}
    missing = elements - with_elemental
    if missing:
        prototypes = elemental_prototype_entries(
            missing, work_dir / "prototypes.jsonl" if work_dir else None, prototype_steps, workers, progress
        )
        entries += [entry for entry in prototypes if next(iter(entry.composition)) in missing]
    return HullReference(entries=entries, model_version=model_version, source=source, skipped=skipped)


def reference_key(path: Path, model_version: str, limit: int | None) -> str:
    text = f"{path_sha256(path)}|{model_version}|protocol-{PROTOCOL_VERSION}|limit-{limit}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load_or_build_reference(
    path: str | Path, limit: int | None = None, workers: int = 1, progress: bool = True
) -> HullReference:
    """The cached reference for a dataset file (CSV, extxyz, CIF folder), built and cached on first use."""
    from autoperi.io import read_crystals
    from autoperi.physics.chgnet_adapter import chgnet_potential

    path = Path(path)
    model_version = chgnet_potential().version
    work_dir = cache_dir() / "hull" / reference_key(path, model_version, limit)
    finished = work_dir / "reference.json"
    if finished.exists():
        return HullReference.load(finished)
    work_dir.mkdir(parents=True, exist_ok=True)
    crystals = read_crystals(path, workers=workers).crystals[:limit]
    crystals = [c.copy(id=f"{c.id or 'row'}#{index}") for index, c in enumerate(crystals)]  # unique ids
    reference = build_reference(
        crystals, model_version, source=str(path), work_dir=work_dir, workers=workers, progress=progress
    )
    reference.save(finished)
    return reference


def _hull_result(crystal: Crystal, energy: float | str, reference: HullReference) -> HullResult:
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    formula = crystal.formula
    if isinstance(energy, str):
        return HullResult(crystal.id, formula, math.nan, math.nan, False, False, energy)
    if not math.isfinite(energy):
        return HullResult(crystal.id, formula, energy, math.nan, False, False, "no finite energy")
    composition = _composition(crystal)
    absent = sorted(set(composition) - reference.elements)
    if absent:
        reason = f"elements not in the reference: {', '.join(absent)}"
        return HullResult(crystal.id, formula, energy, math.nan, False, False, reason)
    entry = PDEntry(Composition(composition), energy * crystal.num_atoms)
    try:
        diagram = reference.phase_diagram(composition)
    except ValueError as error:  # e.g. a reference without a terminal entry for one of the elements
        return HullResult(crystal.id, formula, energy, math.nan, False, False, f"no phase diagram: {error}")
    _, e_hull = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
    e_hull = float(e_hull)
    note = None
    if len(composition) > 1 and all(len(e.composition.elements) == 1 for e in diagram.all_entries):
        note = f"the reference has no compound in {'-'.join(sorted(composition))}: E_hull is against the elements"
    return HullResult(
        crystal.id,
        formula,
        energy,
        e_hull,
        e_hull <= STABLE_THRESHOLD + NUMERICAL_TOLERANCE,
        e_hull <= METASTABLE_THRESHOLD + NUMERICAL_TOLERANCE,
        note,
    )


def energy_above_hull(
    crystals: Sequence[Crystal],
    reference: HullReference | str | Path,
    energies_per_atom: Sequence[float] | None = None,
    progress: bool = False,
) -> list[HullResult]:
    """E_hull (eV/atom) and stable/metastable flags per crystal, in order.

    ``energies_per_atom`` (CHGNet eV/atom, e.g. ``RelaxResult.energy_per_atom_final``) skips the static CHGNet
    evaluation. ``reference`` is a :class:`HullReference` or a reference dataset path (cached build).
    """
    if not isinstance(reference, HullReference):
        reference = load_or_build_reference(reference, progress=progress)
    if energies_per_atom is not None:
        if len(energies_per_atom) != len(crystals):
            raise ValueError(f"{len(energies_per_atom)} energies for {len(crystals)} crystals")
        energies = map(float, energies_per_atom)
        pairs: Iterable[tuple[Crystal, float | str]] = zip(crystals, energies, strict=True)
    else:
        pairs = static_energies(crystals, progress=progress)
    return [_hull_result(crystal, energy, reference) for crystal, energy in pairs]
