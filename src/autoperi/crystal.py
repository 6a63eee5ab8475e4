"""The one crystal type that flows through AutoPeri.

A crystal is a lattice (rows are the lattice vectors a, b, c in Å), fractional coordinates and
atomic numbers. Conversions to pymatgen and ASE live in :mod:`autoperi.io`; the batched torch form
lives in :mod:`autoperi.batch`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoperi.errors import CrystalError

MAX_ATOMIC_NUMBER = 118
DEFAULT_MAX_ATOMS = 512
MIN_VOLUME = 1e-6


def lattice_to_parameters(lattice: np.ndarray) -> np.ndarray:
    """Lengths (a, b, c) in Å and angles (alpha, beta, gamma) in degrees of a 3x3 row-vector lattice."""
    lattice = np.asarray(lattice, dtype=float)
    lengths = np.linalg.norm(lattice, axis=-1)
    angles = []
    for i, j in ((1, 2), (0, 2), (0, 1)):
        cosine = np.dot(lattice[i], lattice[j]) / (lengths[i] * lengths[j])
        angles.append(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
    return np.concatenate([lengths, np.asarray(angles)])


def parameters_to_lattice(a: float, b: float, c: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """Lower-triangular lattice (a along x, b in the xy plane) with the given lengths and angles (degrees)."""
    cos_alpha, cos_beta, cos_gamma = np.cos(np.radians([alpha, beta, gamma]))
    sin_gamma = np.sin(np.radians(gamma))
    cx = c * cos_beta
    cy = c * (cos_alpha - cos_beta * cos_gamma) / sin_gamma
    cz_squared = c * c - cx * cx - cy * cy
    if cz_squared <= 0:
        raise CrystalError("invalid_lattice", f"lattice angles ({alpha}, {beta}, {gamma}) do not form a cell")
    return np.array([[a, 0.0, 0.0], [b * cos_gamma, b * sin_gamma, 0.0], [cx, cy, np.sqrt(cz_squared)]], dtype=float)


@dataclass
class Crystal:
    """A periodic crystal: lattice (3x3, rows a, b, c), fractional coordinates (Nx3), atomic numbers (N)."""

    lattice: np.ndarray
    frac_coords: np.ndarray
    atomic_numbers: np.ndarray
    id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lattice = np.asarray(self.lattice, dtype=np.float64)
        self.frac_coords = np.asarray(self.frac_coords, dtype=np.float64).reshape(-1, 3)
        self.atomic_numbers = np.asarray(self.atomic_numbers, dtype=np.int64).reshape(-1)
        if self.lattice.shape != (3, 3):
            raise CrystalError("bad_shape", f"lattice must be 3x3, got shape {self.lattice.shape}")
        if len(self.frac_coords) != len(self.atomic_numbers):
            raise CrystalError(
                "bad_shape",
                f"{len(self.frac_coords)} coordinates but {len(self.atomic_numbers)} atomic numbers",
            )

    @classmethod
    def from_parameters(
        cls,
        lengths: tuple[float, float, float],
        angles: tuple[float, float, float],
        frac_coords: np.ndarray,
        atomic_numbers: np.ndarray,
        **kwargs: Any,
    ) -> Crystal:
        return cls(parameters_to_lattice(*lengths, *angles), frac_coords, atomic_numbers, **kwargs)

    @property
    def num_atoms(self) -> int:
        return len(self.atomic_numbers)

    @property
    def cart_coords(self) -> np.ndarray:
        return self.frac_coords @ self.lattice

    @property
    def volume(self) -> float:
        return float(np.linalg.det(self.lattice))

    @property
    def lattice_parameters(self) -> np.ndarray:
        """(a, b, c, alpha, beta, gamma) with lengths in Å and angles in degrees."""
        return lattice_to_parameters(self.lattice)

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.atomic_numbers]

    @property
    def formula(self) -> str:
        """Reduced formula as pymatgen writes it (e.g. ``SrTiO3``)."""
        from pymatgen.core import Composition

        with warnings.catch_warnings():  # pymatgen orders by electronegativity and warns where there is none
            warnings.filterwarnings("ignore", message="No Pauling electronegativity")
            return Composition(Counter(self.symbols)).reduced_formula

    def copy(self, **changes: Any) -> Crystal:
        values = {
            "lattice": self.lattice.copy(),
            "frac_coords": self.frac_coords.copy(),
            "atomic_numbers": self.atomic_numbers.copy(),
            "id": self.id,
            "properties": dict(self.properties),
        }
        values.update(changes)
        return Crystal(**values)

    def wrapped(self) -> Crystal:
        """The same crystal with every fractional coordinate in [0, 1)."""
        frac = self.frac_coords % 1.0
        frac[frac >= 1.0] = 0.0  # -1e-17 % 1.0 rounds to exactly 1.0
        return self.copy(frac_coords=frac)

    def change_basis(self, transform: np.ndarray) -> Crystal:
        """The same crystal in the cell ``transform @ lattice`` (``transform``: integer, det ±1)."""
        transform = np.asarray(transform)
        if not np.allclose(transform, np.round(transform)) or round(abs(np.linalg.det(transform))) != 1:
            raise ValueError("a change of basis needs an integer matrix with determinant ±1")
        new_lattice = transform @ self.lattice
        new_frac = self.frac_coords @ np.linalg.inv(transform)
        return self.copy(lattice=new_lattice, frac_coords=new_frac).wrapped()

    def supercell(self, repeats: tuple[int, int, int]) -> Crystal:
        """Diagonal supercell; atoms are ordered atom-major (all images of atom 0 first)."""
        repeats_arr = np.asarray(repeats, dtype=int)
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in repeats_arr], indexing="ij"), -1).reshape(-1, 3)
        frac = (self.frac_coords[:, None, :] + grid[None, :, :]) / repeats_arr
        return self.copy(
            lattice=self.lattice * repeats_arr[:, None],
            frac_coords=frac.reshape(-1, 3),
            atomic_numbers=np.repeat(self.atomic_numbers, len(grid)),
        )

    def niggli_reduced(self) -> Crystal:
        """The same crystal in its Niggli-reduced cell (via pymatgen), coordinates wrapped into [0, 1)."""
        from pymatgen.core import Lattice

        reduced = Lattice(self.lattice).get_niggli_reduced_lattice().matrix
        transform = np.round(reduced @ np.linalg.inv(self.lattice))
        return self.change_basis(transform)

    def validate(self, max_atoms: int = DEFAULT_MAX_ATOMS) -> Crystal:
        """Raise :class:`CrystalError` if the crystal cannot be used; return it unchanged otherwise."""
        if self.num_atoms == 0:
            raise CrystalError("zero_atoms", "the structure has no atoms")
        if self.num_atoms > max_atoms:
            raise CrystalError("too_many_atoms", f"{self.num_atoms} atoms exceeds the limit of {max_atoms}")
        if not np.all(np.isfinite(self.lattice)):
            raise CrystalError("non_finite", "the lattice contains NaN or infinite values")
        if not np.all(np.isfinite(self.frac_coords)):
            raise CrystalError("non_finite", "the coordinates contain NaN or infinite values")
        if self.volume <= MIN_VOLUME:
            raise CrystalError("non_positive_volume", f"cell volume {self.volume:.3g} Å^3 is not positive")
        unknown = self.atomic_numbers[(self.atomic_numbers < 1) | (self.atomic_numbers > MAX_ATOMIC_NUMBER)]
        if len(unknown):
            raise CrystalError("unknown_element", f"unknown atomic number {int(unknown[0])}")
        return self

    def __repr__(self) -> str:
        a, b, c, alpha, beta, gamma = self.lattice_parameters
        label = f"{self.id}: " if self.id else ""
        return (
            f"Crystal({label}{self.num_atoms} atoms, a={a:.3f} b={b:.3f} c={c:.3f} "
            f"alpha={alpha:.1f} beta={beta:.1f} gamma={gamma:.1f})"
        )
