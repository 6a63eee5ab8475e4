"""Adsorption sites on the top surface of a slab, each labelled ontop, bridge, fcc, hcp (or hollow).

Site positions come from pymatgen's ``AdsorbateSiteFinder`` (a Delaunay triangulation of the top-surface
atoms); their kind from the geometry, since the triangulation calls the centre of a square a bridge: ontop
right above a top-layer atom, bridge with two nearest top-layer atoms, a three-fold hollow with three (``hcp``
when an atom of the second layer lies right below it, ``fcc`` otherwise), ``hollow`` with more (four-fold on
a (100) facet, say). Positions are in-plane points, Cartesian in Å; heights are measured along the
slab's surface normal. The slab's vacuum must lie along c (as every AutoPeri slab has it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import CrystalError

SITE_KINDS = ("ontop", "bridge", "fcc", "hcp", "hollow")
# Å: in-plane distance within which an atom is under a site (ontop, hcp), or counts among its nearest
SITE_TOLERANCE = 0.5
SYMMETRY_TOLERANCE = 1e-2  # pymatgen's symm_reduce


@dataclass(frozen=True)
class Site:
    kind: str
    position: np.ndarray  # Cartesian (Å); its height is the top layer's, only the in-plane part matters


def check_slab(slab: Crystal) -> Crystal:
    """The slab itself when sites can be found on it, else a one-line :class:`CrystalError`."""
    if slab.is_bulk:
        raise CrystalError("not_a_slab", "a bulk crystal (periodic in 3 directions), not a slab with vacuum")
    if slab.vacuum_axis != 2:
        raise CrystalError("bad_pbc", f"the slab's vacuum must lie along c (pbc {slab.pbc})")
    return slab


def in_plane_offsets(slab: Crystal, positions: np.ndarray, point: np.ndarray) -> np.ndarray:
    """In-plane Cartesian vectors from ``point`` to each of ``positions`` (Cartesian, Å) and to their eight
    nearest periodic images in the slab's plane, shape (9, N, 3); the part along the surface normal removed."""
    normal = slab.surface_normal()
    in_plane = np.array([1.0, 1.0, 0.0])
    frac = np.linalg.solve(slab.lattice.T, (np.asarray(positions) - point).T).T
    frac -= np.round(frac) * in_plane
    images = np.array([(i, j, 0) for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=float) @ slab.lattice
    vectors = (frac @ slab.lattice)[None, :, :] + images[:, None, :]
    return vectors - (vectors @ normal)[..., None] * normal


def in_plane_distances(slab: Crystal, positions: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Minimum-image in-plane distance (Å) from ``point`` to each of ``positions``."""
    return np.linalg.norm(in_plane_offsets(slab, positions, point), axis=-1).min(axis=0)


def site_kind(slab: Crystal, layers: np.ndarray, point: np.ndarray) -> str:
    """ontop, bridge, fcc/hcp or hollow from how many top-layer atoms are nearest in the plane (1, 2, 3, more);
    a three-fold hollow is hcp when a second-layer atom lies right below it."""
    top, second = layers == layers.max(), layers == layers.max() - 1
    image_distances = np.linalg.norm(in_plane_offsets(slab, slab.cart_coords[top], point), axis=-1)
    nearest = image_distances.min()
    if nearest < SITE_TOLERANCE:
        return "ontop"
    count = int(np.sum(image_distances < nearest + SITE_TOLERANCE))  # periodic images count: a 1x1 cell
    if count != 3:
        return "bridge" if count == 2 else "hollow"
    below = in_plane_distances(slab, slab.cart_coords[second], point)
    return "hcp" if np.any(below < SITE_TOLERANCE) else "fcc"


def find_sites(slab: Crystal, symmetry_reduce: bool = True) -> list[Site]:
    """The adsorption sites of the slab's top surface: one per symmetry-distinct site with
    ``symmetry_reduce``, else every site of the cell; ordered ontop, bridge, then hollows."""
    from pymatgen.analysis.adsorption import AdsorbateSiteFinder

    from autoperi.io.pymatgen_adapter import structure_from_crystal

    check_slab(slab)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spglib and pymatgen warn on slabs' low symmetry
        finder = AdsorbateSiteFinder(structure_from_crystal(slab))
        found = finder.find_adsorption_sites(
            distance=0.0, symm_reduce=SYMMETRY_TOLERANCE if symmetry_reduce else 0.0, near_reduce=1e-2
        )
    layers = slab.layers()
    points = [np.asarray(p, dtype=float) for kind in ("ontop", "bridge", "hollow") for p in found[kind]]
    return sorted((Site(site_kind(slab, layers, p), p) for p in points), key=lambda s: SITE_KINDS.index(s.kind))


def nearest_site(sites: list[Site], slab: Crystal, point: np.ndarray) -> tuple[Site, float]:
    """The site closest in the plane to ``point`` (minimum image) and that in-plane distance (Å)."""
    if not sites:
        raise CrystalError("no_sites", "the slab has no adsorption sites")
    distances = in_plane_distances(slab, np.array([site.position for site in sites]), point)
    index = int(np.argmin(distances))
    return sites[index], float(distances[index])
