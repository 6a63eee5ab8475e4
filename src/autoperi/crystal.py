"""The one crystal type that flows through AutoPeri.

A crystal is a lattice (rows are the lattice vectors a, b, c in Å), fractional coordinates, atomic
numbers and which lattice directions are periodic (``pbc``, all three by default). A slab is periodic
along two directions; the third, its vacuum axis, is not, and its fractional coordinate is never wrapped
(see docs/surfaces.md). Conversions to pymatgen and ASE live in :mod:`autoperi.io`; the batched torch form
lives in :mod:`autoperi.batch`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoperi.errors import CrystalError
from autoperi.limits import DEFAULT_MAX_ATOMS as DEFAULT_MAX_ATOMS  # re-exported for older imports
from autoperi.limits import atom_limit

MAX_ATOMIC_NUMBER = 118
MIN_VOLUME = 1e-6
BULK_PBC = (True, True, True)
# A slab must leave at least this much empty space (Å) between its top and its image's bottom along the
# vacuum axis; below it, atoms of one slab would interact with the next.
MIN_VACUUM = 5.0
LAYER_TOLERANCE = 0.5  # Å: atoms of a slab closer than this in height belong to one layer


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


def cell_heights(lattice: np.ndarray) -> np.ndarray:
    """Distance (Å) between neighbouring lattice planes spanned by each pair of the other two vectors."""
    lattice = np.asarray(lattice, dtype=float)
    volume = abs(np.linalg.det(lattice))
    return np.array([volume / np.linalg.norm(np.cross(lattice[(k + 1) % 3], lattice[(k + 2) % 3])) for k in range(3)])


def _as_pbc(pbc: Any) -> tuple[bool, bool, bool]:
    values = np.asarray(pbc).reshape(-1)
    if values.shape != (3,) or not all(isinstance(v, bool | np.bool_) for v in values):
        raise CrystalError("bad_pbc", f"pbc must be three booleans (one per lattice vector), got {pbc!r}")
    return (bool(values[0]), bool(values[1]), bool(values[2]))


def largest_gap(frac_coords: np.ndarray, axis: int) -> tuple[float, float]:
    """The widest empty interval of fractional coordinate along ``axis``, on the circle [0, 1): its width
    and the coordinate where it ends (where the slab starts)."""
    values = np.sort(np.asarray(frac_coords, dtype=float)[:, axis] % 1.0)
    widths = np.diff(np.append(values, values[0] + 1.0))
    widest = int(np.argmax(widths))
    return float(widths[widest]), float(values[(widest + 1) % len(values)])


@dataclass
class Crystal:
    """A crystal: lattice (3x3, rows a, b, c), fractional coordinates (Nx3), atomic numbers (N), and which
    lattice directions are periodic (``pbc``: three booleans, all True for a bulk crystal)."""

    lattice: np.ndarray
    frac_coords: np.ndarray
    atomic_numbers: np.ndarray
    id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    pbc: tuple[bool, bool, bool] = BULK_PBC

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
        self.pbc = _as_pbc(self.pbc)
        if not any(self.pbc):
            raise CrystalError("not_periodic", "the structure is periodic in no direction (a molecule, not a crystal)")

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
    def is_bulk(self) -> bool:
        """Periodic in all three directions."""
        return all(self.pbc)

    @property
    def vacuum_axis(self) -> int | None:
        """The one non-periodic lattice direction of a slab; None for a bulk crystal (or a wire)."""
        open_axes = [axis for axis, periodic in enumerate(self.pbc) if not periodic]
        return open_axes[0] if len(open_axes) == 1 else None

    def vacuum_along(self, axis: int) -> float:
        """Empty space (Å) along lattice direction ``axis`` between the atoms' top and their image's bottom,
        from the unwrapped coordinates (negative where the atoms spill over more than one cell)."""
        coordinate = self.frac_coords[:, axis]
        return float((1.0 - (coordinate.max() - coordinate.min())) * cell_heights(self.lattice)[axis])

    @property
    def vacuum(self) -> float:
        """:meth:`vacuum_along` the vacuum axis of a slab."""
        if self.vacuum_axis is None:
            raise CrystalError("not_a_slab", f"pbc {self.pbc} has no single vacuum axis")
        return self.vacuum_along(self.vacuum_axis)

    def as_slab(self, axis: int | None = None, min_vacuum: float = MIN_VACUUM) -> Crystal:
        """This crystal as a slab: non-periodic along ``axis`` (default: the direction of the widest vacuum
        gap), its atoms moved by whole cells along it to sit together above the gap, the lowest in [0, 1).
        Raises a one-line :class:`CrystalError` where that gap is narrower than ``min_vacuum`` Å."""
        if self.num_atoms == 0:
            raise CrystalError("zero_atoms", "the structure has no atoms")
        heights = cell_heights(self.lattice)
        gaps = [largest_gap(self.frac_coords, k) for k in range(3)]
        if axis is None:
            axis = int(np.argmax([width * height for (width, _), height in zip(gaps, heights, strict=True)]))
        width, start = gaps[axis]
        if width * heights[axis] < min_vacuum:
            raise CrystalError(
                "no_vacuum",
                f"the widest empty gap along {'abc'[axis]} is {width * heights[axis]:.2f} Å, less than the "
                f"{min_vacuum:g} Å of vacuum a slab needs: a bulk crystal, not a slab",
            )
        frac = self.frac_coords.copy()
        frac[:, axis] = (frac[:, axis] - start) % 1.0 + start
        frac[:, axis] -= np.floor(frac[:, axis].min())
        return self.copy(frac_coords=frac, pbc=tuple(k != axis for k in range(3)))

    def surface_normal(self) -> np.ndarray:
        """Unit vector normal to the slab's periodic plane, pointing along its vacuum axis."""
        if self.vacuum_axis is None:
            raise CrystalError("not_a_slab", f"pbc {self.pbc} has no single vacuum axis")
        axis = self.vacuum_axis
        normal = np.cross(self.lattice[(axis + 1) % 3], self.lattice[(axis + 2) % 3])
        normal /= np.linalg.norm(normal)
        return normal if normal @ self.lattice[axis] > 0 else -normal

    def layers(self, tolerance: float = LAYER_TOLERANCE) -> np.ndarray:
        """Layer index of each atom of a slab, 0 at the bottom: atoms sorted by height along the surface normal
        start a new layer wherever the height rises by more than ``tolerance`` Å."""
        heights = self.cart_coords @ self.surface_normal()
        order = np.argsort(heights)
        layer_of_sorted = np.concatenate([[0], np.cumsum(np.diff(heights[order]) > tolerance)])
        layers = np.empty(self.num_atoms, dtype=np.int64)
        layers[order] = layer_of_sorted
        return layers

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
            "pbc": self.pbc,
        }
        values.update(changes)
        return Crystal(**values)

    def wrapped(self) -> Crystal:
        """The same crystal with every fractional coordinate along a periodic direction in [0, 1)."""
        frac = self.frac_coords.copy()
        periodic = np.asarray(self.pbc)
        frac[:, periodic] %= 1.0
        frac[:, periodic] = np.where(frac[:, periodic] >= 1.0, 0.0, frac[:, periodic])  # -1e-17 % 1.0 is 1.0
        return self.copy(frac_coords=frac)

    def change_basis(self, transform: np.ndarray) -> Crystal:
        """The same crystal in the cell ``transform @ lattice`` (``transform``: integer, det ±1)."""
        transform = np.asarray(transform)
        if not np.allclose(transform, np.round(transform)) or round(abs(np.linalg.det(transform))) != 1:
            raise ValueError("a change of basis needs an integer matrix with determinant ±1")
        periodic = np.asarray(self.pbc)
        if np.any(transform[np.ix_(periodic, ~periodic)]) or np.any(transform[np.ix_(~periodic, periodic)]):
            raise CrystalError("bad_pbc", f"this change of basis mixes periodic and non-periodic directions {self.pbc}")
        new_lattice = transform @ self.lattice
        new_frac = self.frac_coords @ np.linalg.inv(transform)
        return self.copy(lattice=new_lattice, frac_coords=new_frac).wrapped()

    def supercell(self, repeats: tuple[int, int, int]) -> Crystal:
        """Diagonal supercell; atoms are ordered atom-major (all images of atom 0 first)."""
        repeats_arr = np.asarray(repeats, dtype=int)
        if np.any(repeats_arr[~np.asarray(self.pbc)] != 1):
            raise CrystalError("bad_pbc", f"cannot repeat {self.pbc} along a non-periodic direction: {repeats}")
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in repeats_arr], indexing="ij"), -1).reshape(-1, 3)
        frac = (self.frac_coords[:, None, :] + grid[None, :, :]) / repeats_arr
        return self.copy(
            lattice=self.lattice * repeats_arr[:, None],
            frac_coords=frac.reshape(-1, 3),
            atomic_numbers=np.repeat(self.atomic_numbers, len(grid)),
        )

    def niggli_reduced(self) -> Crystal:
        """The same crystal in its Niggli-reduced cell (via pymatgen), coordinates wrapped into [0, 1)."""
        if not self.is_bulk:
            raise CrystalError("bad_pbc", f"Niggli reduction is defined for bulk crystals, not for pbc {self.pbc}")
        from pymatgen.core import Lattice

        reduced = Lattice(self.lattice).get_niggli_reduced_lattice().matrix
        transform = np.round(reduced @ np.linalg.inv(self.lattice))
        return self.change_basis(transform)

    def validate(self, max_atoms: int | None = None) -> Crystal:
        """Raise :class:`CrystalError` if the crystal cannot be used; return it unchanged otherwise.
        ``max_atoms``: the atom limit (default: the setting of :mod:`autoperi.limits`)."""
        if self.num_atoms == 0:
            raise CrystalError("zero_atoms", "the structure has no atoms")
        atom_limit(max_atoms).check(self.num_atoms)
        if not np.all(np.isfinite(self.lattice)):
            raise CrystalError("non_finite", "the lattice contains NaN or infinite values")
        if not np.all(np.isfinite(self.frac_coords)):
            raise CrystalError("non_finite", "the coordinates contain NaN or infinite values")
        if self.volume <= MIN_VOLUME:
            raise CrystalError("non_positive_volume", f"cell volume {self.volume:.3g} Å^3 is not positive")
        for axis in np.flatnonzero(~np.asarray(self.pbc)):
            if self.vacuum_along(axis) < MIN_VACUUM:
                raise CrystalError(
                    "no_vacuum",
                    f"non-periodic along {'abc'[axis]} but only {self.vacuum_along(axis):.2f} Å of vacuum there "
                    f"(at least {MIN_VACUUM:g} Å needed): mark it periodic or add vacuum",
                )
        unknown = self.atomic_numbers[(self.atomic_numbers < 1) | (self.atomic_numbers > MAX_ATOMIC_NUMBER)]
        if len(unknown):
            raise CrystalError("unknown_element", f"unknown atomic number {int(unknown[0])}")
        return self

    def __repr__(self) -> str:
        a, b, c, alpha, beta, gamma = self.lattice_parameters
        label = f"{self.id}: " if self.id else ""
        periodicity = "" if self.is_bulk else f" pbc={''.join('TF'[not p] for p in self.pbc)}"
        return (
            f"Crystal({label}{self.num_atoms} atoms, a={a:.3f} b={b:.3f} c={c:.3f} "
            f"alpha={alpha:.1f} beta={beta:.1f} gamma={gamma:.1f}{periodicity})"
        )
