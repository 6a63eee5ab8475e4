"""Initial placements of one adsorbate atom on a slab: every symmetry-distinct site, then seeded random points.

An adsorbate at an in-plane point is lifted along the surface normal until it is at least the sum of the
covalent radii (ASE's table) away from every atom of the slab: on a site of a flat fcc(111) surface this
gives the familiar heights (about 2.0 Å ontop and 1.2 Å in the hollows for O on Pt). K placements are the
first K symmetry-distinct sites in the order ontop, bridge, fcc, hcp, hollow, interleaved so that a small K
still sees every kind; beyond them, points drawn uniformly on the surface cell with ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest

import numpy as np

from autoperi.adsorption.sites import SITE_KINDS, Site, check_slab, find_sites, in_plane_distances
from autoperi.crystal import Crystal
from autoperi.errors import CrystalError

RANDOM_SITE = "random"  # the initial label of a placement at a random in-plane point


@dataclass(frozen=True)
class Placement:
    crystal: Crystal  # the slab with the adsorbate as its last atom
    initial_site: str  # the kind of site it was put on, or RANDOM_SITE


def adsorbate_number(symbol: str) -> int:
    """Atomic number of an adsorbate given as an element symbol; one-line error otherwise."""
    from ase.data import atomic_numbers

    number = atomic_numbers.get(symbol.strip().capitalize())
    if not number:
        raise CrystalError("unknown_element", f"unknown adsorbate {symbol!r}: give an element symbol such as O or H")
    return number


def placement_height(slab: Crystal, point: np.ndarray, number: int) -> float:
    """Height (Å, along the surface normal) at which an atom of ``number`` above ``point`` is at least the sum
    of covalent radii away from every atom of the slab and from their in-plane periodic images."""
    from ase.data import covalent_radii

    normal = slab.surface_normal()
    bond = covalent_radii[slab.atomic_numbers] + covalent_radii[number]
    rise = np.sqrt(np.maximum(bond**2 - in_plane_distances(slab, slab.cart_coords, point) ** 2, 0.0))
    return float(np.max(slab.cart_coords @ normal + rise))


def place(slab: Crystal, point: np.ndarray, number: int, label: str) -> Crystal:
    """The slab with one atom of ``number`` above in-plane ``point`` at :func:`placement_height`."""
    normal = slab.surface_normal()
    position = point - (point @ normal) * normal + placement_height(slab, point, number) * normal
    frac = np.linalg.solve(slab.lattice.T, position)
    crystal = slab.copy(
        frac_coords=np.vstack([slab.frac_coords, frac]),
        atomic_numbers=np.append(slab.atomic_numbers, number),
        id=label,
    )
    return crystal.validate(max_atoms=crystal.num_atoms)


def interleaved(sites: list[Site]) -> list[Site]:
    """Sites reordered one of each kind at a time (ontop, bridge, fcc, hcp, hollow, ontop, ...)."""
    by_kind = [[s for s in sites if s.kind == kind] for kind in SITE_KINDS]
    return [site for group in zip_longest(*by_kind) for site in group if site is not None]


def random_points(slab: Crystal, count: int, seed: int) -> np.ndarray:
    """``count`` Cartesian points drawn uniformly on the slab's surface cell."""
    frac = np.zeros((count, 3))
    frac[:, :2] = np.random.default_rng(seed).random((count, 2))
    return frac @ slab.lattice


def placements(slab: Crystal, adsorbate: str, k: int, seed: int = 0) -> list[Placement]:
    """K placements of one ``adsorbate`` atom on ``slab`` (see the module docstring)."""
    if k < 1:
        raise CrystalError("bad_k", f"-k must be at least 1, got {k}")
    check_slab(slab)
    number = adsorbate_number(adsorbate)
    chosen = interleaved(find_sites(slab))[:k]
    items = [(site.position, site.kind) for site in chosen]
    items += [(point, RANDOM_SITE) for point in random_points(slab, k - len(chosen), seed)]
    return [
        Placement(place(slab, point, number, f"{slab.id or 'slab'}-{adsorbate}-{index}-{kind}"), kind)
        for index, (point, kind) in enumerate(items)
    ]
