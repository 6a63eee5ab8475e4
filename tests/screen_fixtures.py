"""Small inputs for the screen tests: candidates, a hand-made elemental hull, cheap relaxation options."""

from __future__ import annotations

from pathlib import Path

from autoperi.io.ase_adapter import write_extxyz
from autoperi.physics.hull import HullReference, ReferenceEntry
from physics_structures import perturbed, rocksalt

# Made-up elemental energies (eV/atom): with only these on the hull, E_hull = E - mean of the elements' values
# for a 1:1 binary.
ELEMENT_ENERGIES = {"Na": -1.3, "Cl": -1.8, "Li": -1.9, "F": -1.9, "Si": -5.4, "K": -1.1, "Br": -1.5, "Mg": -1.6}
ROCKSALTS = (("NaCl", 5.64, 17, 11), ("LiF", 4.03, 9, 3), ("KCl", 6.29, 17, 19), ("KBr", 6.6, 35, 19))


def write_hull_reference(folder: Path) -> Path:
    entries = [ReferenceEntry(symbol, {symbol: 1.0}, energy) for symbol, energy in ELEMENT_ENERGIES.items()]
    path = folder / "hull.json"
    HullReference(entries, "hand-made").save(path)
    return path


def write_candidates(folder: Path, count: int) -> Path:
    """``count`` distinct perturbed rock-salt crystals (two perturbations of each of four compounds)."""
    crystals = []
    for index in range(count):
        name, a, anion, cation = ROCKSALTS[index % len(ROCKSALTS)]
        strained = rocksalt(a * (1 + 0.06 * (index // len(ROCKSALTS))), anion, cation)
        crystals.append(perturbed(strained, seed=index).copy(id=f"{name}-{index}"))
    path = folder / "candidates.extxyz"
    write_extxyz(crystals, path)
    return path


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
