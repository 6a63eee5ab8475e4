"""Small hand-built crystals shared by the tests."""

from __future__ import annotations

import numpy as np

from autoperi.crystal import Crystal


def silicon(a: float = 5.43) -> Crystal:
    """Diamond Si in its two-atom primitive cell."""
    lattice = 0.5 * a * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    return Crystal(lattice, [[0.0, 0.0, 0.0], [0.25, 0.25, 0.25]], [14, 14], id="Si")


def rocksalt(a: float = 5.64, anion: int = 17, cation: int = 11) -> Crystal:
    """NaCl-type conventional cubic cell, 8 atoms."""
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    frac = np.concatenate([fcc, fcc + 0.5]) % 1.0
    return Crystal(np.eye(3) * a, frac, [cation] * 4 + [anion] * 4, id="NaCl")


def caesium_chloride_supercell(a: float = 4.12, anion: int = 17, cation: int = 55) -> Crystal:
    """CsCl-type 2x2x1 supercell, 8 atoms: the rock salt's cell content in another structure type."""
    corners = np.array([[i / 2, j / 2, 0.0] for i in range(2) for j in range(2)])
    frac = np.concatenate([corners, corners + np.array([0.25, 0.25, 0.5])])
    return Crystal(np.diag([2 * a, 2 * a, a]), frac, [cation] * 4 + [anion] * 4, id="CsCl")


def zincblende(a: float = 5.41, anion: int = 16, cation: int = 30) -> Crystal:
    """ZnS-type conventional cubic cell, 8 atoms."""
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    return Crystal(np.eye(3) * a, np.concatenate([fcc, fcc + 0.25]), [cation] * 4 + [anion] * 4, id="ZnS")


def perturbed(crystal: Crystal, seed: int, displacement: float = 0.05, strain: float = 0.02) -> Crystal:
    """Random Cartesian displacements (Å) and a random symmetric strain, so forces and stress are non-zero."""
    rng = np.random.default_rng(seed)
    deformation = np.eye(3) + strain * (lambda m: (m + m.T) / 2)(rng.uniform(-1, 1, (3, 3)))
    lattice = crystal.lattice @ deformation
    cartesian = crystal.frac_coords @ lattice + rng.normal(0, displacement, crystal.frac_coords.shape)
    return crystal.copy(lattice=lattice, frac_coords=cartesian @ np.linalg.inv(lattice))
