"""The small interface S.U.N. needs from the physics module: energy above hull per crystal.

A hull function takes crystals and returns, per crystal, the energy above the convex hull in eV/atom
after relaxation (None where it could not be computed). The default one, when ``autoperi.physics`` is
importable, relaxes with ``autoperi.physics.relax.relax_crystals`` (CHGNet) and places the relaxed
energies on the cached phase diagram of ``autoperi.physics.hull.load_or_build_reference(path)``.
Crystals may instead carry precomputed values in ``properties["e_above_hull"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError

HullFunction = Callable[[list[Crystal]], Sequence[float | None]]
E_HULL_PROPERTY = "e_above_hull"
DEFAULT_STABILITY_THRESHOLD = 0.0  # eV/atom: "stable" means on or below the hull (MatterGen's S.U.N.)


def physics_hull_function(hull_reference: Path, workers: int = 1) -> HullFunction | None:
    """Relax-then-hull through the physics module, or None when it is not importable."""
    try:
        from autoperi.physics.hull import energy_above_hull, load_or_build_reference
        from autoperi.physics.relax import relax_crystals
    except ImportError:
        return None

    def relaxed_e_above_hull(crystals: list[Crystal]) -> list[float | None]:
        relaxations = relax_crystals(crystals, workers=workers, progress=False)
        done = [r for r in relaxations if r.relaxed is not None]
        results = energy_above_hull(
            [r.relaxed for r in done],
            load_or_build_reference(hull_reference, workers=workers, progress=False),
            energies_per_atom=[r.energy_per_atom_final for r in done],
        )
        by_position = {id(r): result.e_above_hull for r, result in zip(done, results, strict=True)}
        return [by_position.get(id(r)) for r in relaxations]

    relaxed_e_above_hull.__name__ = f"relax+hull({hull_reference})"
    return relaxed_e_above_hull


def precomputed_e_hull(crystals: list[Crystal]) -> np.ndarray | None:
    """The ``e_above_hull`` property of every crystal, or None unless all of them carry one."""
    values = [c.properties.get(E_HULL_PROPERTY) for c in crystals]
    if not values or any(v is None for v in values):
        return None
    return np.asarray(values, dtype=float)


def e_above_hull(crystals: list[Crystal], hull_function: HullFunction | None) -> tuple[np.ndarray, str]:
    """E_hull (eV/atom, NaN where unknown) of each crystal and where the values came from.

    Values the inputs carry in ``properties["e_above_hull"]`` take precedence over ``hull_function``.
    """
    if not crystals:
        return np.empty(0), "none"
    precomputed = precomputed_e_hull(crystals)
    if precomputed is not None:
        return precomputed, f"the inputs' '{E_HULL_PROPERTY}' property"
    if hull_function is None:
        raise AutoPeriError(
            "S.U.N. needs energies above hull: autoperi.physics is not available and the inputs "
            f"carry no '{E_HULL_PROPERTY}' property"
        )
    values = hull_function(crystals)
    if len(values) != len(crystals):
        raise AutoPeriError(f"the hull function returned {len(values)} values for {len(crystals)} crystals")
    name = getattr(hull_function, "__module__", "") + "." + getattr(hull_function, "__name__", "hull function")
    return np.array([np.nan if v is None else float(v) for v in values]), name
