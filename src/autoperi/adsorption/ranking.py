"""Relax K placements of an adsorbate (and the clean slab) with CHGNet, label where each ended up, rank by energy.

The site of a relaxed placement is the kind of the clean slab's site (every site of the cell, not only the
symmetry-distinct ones) nearest in the plane to the adsorbate's relaxed position; ``site_distance`` says how
far it is from it (Å). ``binding_energy`` is E(slab + adsorbate) - E(clean slab), both CHGNet-relaxed the same
way: the adsorption energy up to the adsorbate's own reference energy, which is the same for every placement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autoperi.adsorption.placement import Placement
from autoperi.adsorption.sites import Site, find_sites, nearest_site
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.physics.relax import RelaxResult, RelaxSettings, relax_crystals


@dataclass
class RankedPlacement:
    placement: Placement
    result: RelaxResult
    energy: float  # eV, total, of the relaxed slab with its adsorbate; NaN when the relaxation failed
    site: str  # where the adsorbate ended up ("" when the relaxation failed)
    site_distance: float  # Å, in-plane, from that site
    height: float  # Å, of the adsorbate above the relaxed slab's highest atom
    rank: int = 0  # 1 for the lowest energy; 0 for a failed relaxation


@dataclass
class AdsorptionRanking:
    clean: RelaxResult
    ranked: list[RankedPlacement]  # rank order, failed relaxations last

    @property
    def clean_energy(self) -> float:
        return self.clean.energy_per_atom_final * self.clean.initial.num_atoms

    def rows(self) -> list[dict[str, object]]:
        return [
            {
                "rank": item.rank,
                "energy": item.energy,
                "binding_energy": item.energy - self.clean_energy,
                "site": item.site,
                "initial_site": item.placement.initial_site,
                "site_distance": item.site_distance,
                "height": item.height,
                "steps": item.result.steps,
                "converged": item.result.converged,
                "error": item.result.error or "",
            }
            for item in self.ranked
        ]


def default_fixed_layers(slab: Crystal) -> int:
    """Half the slab's layers, rounded down: the lower half stands for the bulk."""
    return int(slab.layers().max() + 1) // 2


def final_site(sites: list[Site], relaxed: Crystal) -> tuple[str, float, float]:
    """Kind of the nearest site, in-plane distance to it and height above the slab of the last atom."""
    heights = relaxed.cart_coords @ relaxed.surface_normal()
    site, distance = nearest_site(sites, relaxed, relaxed.cart_coords[-1])
    return site.kind, distance, float(heights[-1] - heights[:-1].max())


def _ranked(placement: Placement, result: RelaxResult, sites: list[Site]) -> RankedPlacement:
    if result.relaxed is None:
        return RankedPlacement(placement, result, math.nan, "", math.nan, math.nan)
    energy = result.energy_per_atom_final * result.relaxed.num_atoms
    return RankedPlacement(placement, result, energy, *final_site(sites, result.relaxed))


def rank_placements(
    slab: Crystal,
    placements: list[Placement],
    settings: RelaxSettings | None = None,
    fixed_layers: int | None = None,
    workers: int = 1,
    progress: bool = True,
    clean: RelaxResult | None = None,
) -> AdsorptionRanking:
    """Relax the clean slab (unless its relaxation ``clean`` is given) and every placement (``fixed_layers``
    lowest layers fixed, default half); rank them."""
    fixed = default_fixed_layers(slab) if fixed_layers is None else fixed_layers
    settings = settings or RelaxSettings()
    crystals = [p.crystal for p in placements] + ([] if clean else [slab.copy(id=slab.id or "clean")])
    results = relax_crystals(
        crystals, settings.fmax, settings.steps, workers, settings.optimizer, progress=progress, fixed_layers=fixed
    )
    relaxed, clean = results[: len(placements)], clean or results[-1]
    if clean.relaxed is None:
        raise AutoPeriError(f"the clean slab could not be relaxed: {clean.error}")
    sites = find_sites(slab, symmetry_reduce=False)
    items = [_ranked(p, r, sites) for p, r in zip(placements, relaxed, strict=True)]
    order = sorted(range(len(items)), key=lambda i: (math.isnan(items[i].energy), np.nan_to_num(items[i].energy)))
    for rank, index in enumerate(order, start=1):
        items[index].rank = rank if not math.isnan(items[index].energy) else 0
    return AdsorptionRanking(clean, [items[i] for i in order])
