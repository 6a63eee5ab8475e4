"""Small inputs for the screen tests: candidates, a hand-made elemental hull, cheap relaxation options, and a
report built from made-up relaxation records (no CHGNet)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal
from autoperi.io.ase_adapter import write_extxyz
from autoperi.physics.hull import HullReference, ReferenceEntry
from physics_structures import perturbed, rocksalt

# Made-up elemental energies (eV/atom): with only these on the hull, E_hull = E - mean of the elements' values
# for a 1:1 binary.
ELEMENT_ENERGIES = {"Na": -1.3, "Cl": -1.8, "Li": -1.9, "F": -1.9, "Si": -5.4, "K": -1.1, "Br": -1.5, "Mg": -1.6}
ROCKSALTS = (("NaCl", 5.64, 17, 11), ("LiF", 4.03, 9, 3), ("KCl", 6.29, 17, 19), ("KBr", 6.6, 35, 19))


def hull_reference() -> HullReference:
    entries = [ReferenceEntry(symbol, {symbol: 1.0}, energy) for symbol, energy in ELEMENT_ENERGIES.items()]
    return HullReference(entries, "hand-made")


def write_hull_reference(folder: Path) -> Path:
    path = folder / "hull.json"
    hull_reference().save(path)
    return path


def ideal_rocksalt(index: int) -> Crystal:
    """Candidate ``index``'s unperturbed rock salt (strained by 6 % per round through ROCKSALTS)."""
    name, a, anion, cation = ROCKSALTS[index % len(ROCKSALTS)]
    return rocksalt(a * (1 + 0.06 * (index // len(ROCKSALTS))), anion, cation).copy(id=f"{name}-{index}")


def candidate_crystals(count: int) -> list[Crystal]:
    """``count`` distinct perturbed rock-salt crystals (two perturbations of each of four compounds)."""
    return [perturbed(ideal_rocksalt(index), seed=index) for index in range(count)]


def write_candidates(folder: Path, count: int) -> Path:
    path = folder / "candidates.extxyz"
    write_extxyz(candidate_crystals(count), path)
    return path


@dataclass
class TinyReport:
    path: Path
    rows: list[dict[str, object]]
    raw: dict[str, Crystal]
    relaxed: dict[str, Crystal]


def write_tiny_report(out: Path, count: int = 5, num_structures: int = 20) -> TinyReport:
    """report.html for ``count`` candidates "relaxed" to their ideal rock salts with made-up energies (E_hull
    from -0.02 eV/atom up); the last candidate's relaxation failed. Rows come from pipeline.screen_rows."""
    from autoperi.screening.html_report import write_html_report
    from autoperi.screening.pipeline import ScreenSettings, screen_rows
    from autoperi.screening.report import composition_plot, e_hull_plot
    from autoperi.screening.store import crystal_record

    out.mkdir(parents=True, exist_ok=True)
    candidates = candidate_crystals(count)
    offsets = np.linspace(-0.02, 0.25, count)
    records = {}
    for index, candidate in enumerate(candidates):
        line = np.mean([ELEMENT_ENERGIES[symbol] for symbol in set(candidate.symbols)])  # 1:1 binaries
        failed = index == count - 1
        records[candidate.id] = {
            "id": candidate.id, "energy_raw": line + offsets[index] + 0.1, "energy_relaxed": line + offsets[index],
            "steps": 8, "converged": not failed, "matched_rms": 0.0, "displacement": 0.05,
            "error": "relaxation failed: made up" if failed else "",
            "relaxed": None if failed else crystal_record(ideal_rocksalt(index)),
        }  # fmt: skip
    rows, relaxed = screen_rows(candidates, records, hull_reference(), [rocksalt()], ScreenSettings("tiny"))
    plots = [e_hull_plot(rows, 0.0, 0.1, out / "e_hull.png"), composition_plot(candidates, out / "composition.png")]
    raw = {crystal.id: crystal for crystal in candidates}
    relaxed_by_id = {crystal.id: crystal for crystal in relaxed}
    header = {"candidates from": "tests/screen_fixtures.py"}
    path = write_html_report(rows, raw, relaxed_by_id, 1, header, plots, out, num_structures)
    return TinyReport(path, rows, raw, relaxed_by_id)


def cheap_screen_argv(candidates: Path, out: Path, folder: Path, known: Path, **options: str) -> list[str]:
    """``autoperi screen`` on ``candidates`` with a few FIRE steps; ``options`` override (``relax_steps="3"``)."""
    settings = {
        "input": str(candidates),
        "out": str(out),
        "hull_reference": str(write_hull_reference(folder)),
        "novelty_reference": str(known),
        "relax_steps": "8",
        "fmax": "0.1",
    } | options
    return ["screen", *[item for key, value in settings.items() for item in (f"--{key.replace('_', '-')}", value)]]
