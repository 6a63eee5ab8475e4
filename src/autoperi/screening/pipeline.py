"""A screen: relax every frozen candidate as a Dask task (each result on disk as it arrives), then derive
E_hull, uniqueness, novelty and S.U.N. for the whole set from the records.

Files under the output folder: ``screen.json`` (the settings; a rerun must match them), ``relaxations.jsonl``
(one record per finished candidate, the resume point), ``relaxed/<id>.cif``, and, once every candidate is
relaxed, ``screen.csv``, ``relaxed.extxyz`` and the report. The derived files are rewritten from the records
on every run, so changing a threshold and rerunning costs no relaxation.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from autoperi.choices import METASTABLE_THRESHOLD, STABLE_THRESHOLD
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.io.ase_adapter import write_extxyz
from autoperi.io.pymatgen_adapter import write_cif
from autoperi.io.tables import write_rows
from autoperi.physics.hull import NUMERICAL_TOLERANCE, HullReference
from autoperi.physics.relax import RelaxResult, RelaxSettings, relax_one
from autoperi.screening.store import RecordWriter, crystal_from_record, crystal_record, read_records

SETTINGS_FILE = "screen.json"
RECORDS_FILE = "relaxations.jsonl"
TABLE_FILE = "screen.csv"
# CHGNet energies of the MP-20 crystals outside the test split, with elemental prototypes (docs/screening.md).
SHIPPED_HULL_REFERENCE = Path(__file__).with_name("mp_20_hull.json")


@dataclass(frozen=True)
class ScreenSettings:
    source: str  # what the candidates came from (model and sampling options, or the input path)
    relax: RelaxSettings = field(default_factory=RelaxSettings)
    stable_threshold: float = STABLE_THRESHOLD  # eV/atom
    metastable_threshold: float = METASTABLE_THRESHOLD  # eV/atom

    def identity(self) -> dict[str, object]:
        """What the records depend on: a rerun into the same folder must agree on it."""
        return {"source": self.source, "relax": asdict(self.relax)}

    def token(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:12]


def check_settings(out: Path, settings: ScreenSettings) -> None:
    """Record the settings of a new screen, or refuse to resume one made with different settings."""
    path = out / SETTINGS_FILE
    identity = settings.identity()
    if path.exists():
        earlier = json.loads(path.read_text())
        if earlier != identity:
            changed = sorted(key for key in identity if earlier.get(key) != identity[key])
            raise AutoPeriError(f"{out} holds a screen with other {', '.join(changed)}: rerun as before or use --out")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(identity, indent=1))


def relax_task(crystal: Crystal, settings: RelaxSettings) -> RelaxResult:
    """One Dask task: relax ``crystal`` on one torch thread (a worker may run several tasks in turn)."""
    import torch

    torch.set_num_threads(1)
    return relax_one(crystal, settings)


def relaxation_record(result: RelaxResult) -> dict[str, object]:
    return {
        "id": result.id,
        "energy_raw": result.energy_per_atom_initial,
        "energy_relaxed": result.energy_per_atom_final,
        "steps": result.steps,
        "converged": result.converged,
        "matched_rms": result.rmsd,
        "displacement": result.displacement,
        "error": result.error or "",
        "relaxed": crystal_record(result.relaxed) if result.relaxed is not None else None,
    }


def relax_candidates(
    candidates: Sequence[Crystal], settings: ScreenSettings, out: Path, client, progress: bool = True
) -> int:
    """Relax the candidates without a record yet; each record (and CIF) is written as its task finishes.
    Returns how many were relaxed in this call."""
    from autoperi.distributed import stream_results

    records_path = out / RECORDS_FILE
    done = read_records(records_path)
    todo = {f"relax-{settings.token()}-{c.id}": (c, settings.relax) for c in candidates if c.id not in done}
    if not todo:
        return 0
    (out / "relaxed").mkdir(exist_ok=True)
    with RecordWriter(records_path) as writer:
        for _, result in stream_results(client, relax_task, todo, "relaxing", progress=progress):
            if result.relaxed is not None:
                write_cif(result.relaxed, out / "relaxed" / f"{result.id}.cif")
            writer.write(relaxation_record(result))
    return len(todo)


def decomposition(reference: HullReference, crystal: Crystal) -> str:
    """The reference phases the hull splits ``crystal``'s composition into, with their fractions."""
    from pymatgen.core import Composition

    composition = Composition(crystal.formula)
    parts = reference.phase_diagram(map(str, composition.elements)).get_decomposition(composition)
    return " + ".join(f"{entry.name}:{amount:.3f}" for entry, amount in sorted(parts.items(), key=lambda p: -p[1]))


def _on_or_below(value: float, threshold: float) -> bool:
    return math.isfinite(value) and value <= threshold + NUMERICAL_TOLERANCE


def screen_rows(
    candidates: Sequence[Crystal],
    records: dict[str, dict],
    reference: HullReference,
    known: list[Crystal],
    settings: ScreenSettings,
) -> tuple[list[dict[str, object]], list[Crystal]]:
    """One row per candidate (in candidate order) and the relaxed crystals, which carry their E_hull."""
    from autoperi.metrics.uniqueness import novel_mask, unique_mask
    from autoperi.physics.hull import energy_above_hull

    ordered = [records[c.id] for c in candidates]
    relaxed = [crystal_from_record(r["relaxed"]) for r in ordered if r["relaxed"]]
    relaxed_records = [r for r in ordered if r["relaxed"]]
    hull = energy_above_hull(relaxed, reference, energies_per_atom=[r["energy_relaxed"] for r in relaxed_records])
    unique = unique_mask(relaxed, workers=1) if relaxed else np.zeros(0, bool)
    novel = novel_mask(relaxed, known, workers=1) if relaxed else np.zeros(0, bool)
    derived = {}
    for crystal, result, is_unique, is_novel in zip(relaxed, hull, unique, novel, strict=True):
        crystal.properties["e_above_hull"] = result.e_above_hull
        crystal.properties["energy_per_atom"] = result.energy_per_atom
        stable = _on_or_below(result.e_above_hull, settings.stable_threshold)
        metastable = _on_or_below(result.e_above_hull, settings.metastable_threshold)
        derived[crystal.id] = {
            "e_hull": result.e_above_hull,
            "decomposition": decomposition(reference, crystal) if math.isfinite(result.e_above_hull) else "",
            "hull_note": result.reason or "",
            "stable": stable,
            "metastable": metastable,
            "unique": bool(is_unique),
            "novel": bool(is_novel),
            "sun": bool(stable and is_unique and is_novel),
            "msun": bool(metastable and is_unique and is_novel),
        }
    empty = dict.fromkeys(("stable", "metastable", "unique", "novel", "sun", "msun"), False)
    rows = []
    for candidate, record in zip(candidates, ordered, strict=True):
        row = {
            "id": candidate.id,
            "formula": candidate.formula,
            "num_atoms": candidate.num_atoms,
            **{key: record[key] for key in ("energy_raw", "energy_relaxed", "converged", "steps", "matched_rms")},
            **derived.get(candidate.id, {"e_hull": math.nan, "decomposition": "", "hull_note": "", **empty}),
            "error": record["error"],
            "cif": f"relaxed/{candidate.id}.cif" if record["relaxed"] else "",
        }
        rows.append(row)
    return rows, relaxed


def write_table(rows: list[dict[str, object]], relaxed: list[Crystal], out: Path) -> None:
    write_rows(rows, out / TABLE_FILE)
    if relaxed:
        write_extxyz(relaxed, out / "relaxed.extxyz")


def load_hull_reference(spec: str | None, workers: int = 1) -> HullReference:
    """A saved reference (``.json``, e.g. from benchmarks/build_hull_reference.py), a dataset file whose
    CHGNet reference is built and cached on first use, or (``None``) the shipped MP-20 reference."""
    from autoperi.physics.hull import load_or_build_reference

    if spec is None and not SHIPPED_HULL_REFERENCE.exists():
        raise AutoPeriError("this installation ships no hull reference: give --hull-reference")
    path = Path(spec) if spec is not None else SHIPPED_HULL_REFERENCE
    if not path.exists():
        raise AutoPeriError(f"hull reference {spec} not found (give --hull-reference a dataset file or a .json)")
    if path.suffix == ".json":
        try:
            return HullReference.load(path)
        except (ValueError, KeyError, TypeError) as error:
            raise AutoPeriError(f"hull reference {spec} is not a saved reference: {error}") from None
    return load_or_build_reference(path, workers=workers)


def known_crystals(spec: str) -> list[Crystal]:
    """The crystals novelty is judged against: a dataset name's training splits, ``NAME:SPLIT`` or a path."""
    from autoperi.data import DATASETS
    from autoperi.metrics.reference import load_reference, training_reference

    if spec in DATASETS:
        return training_reference(spec).crystals
    return load_reference(spec).crystals
