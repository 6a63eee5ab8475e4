"""Pore descriptors from Zeo++ (Willems et al., Micropor. Mesopor. Mater. 149, 134 (2012)) through ``pyzeo``, the
optional extra ``autoperi[porous]``.

Zeo++ reads each atom as a hard sphere of its built-in (CCDC) radius, e.g. O 1.52 Å, Si 2.1 Å, Ar 1.88 Å, and
decomposes the void space with a radical Voronoi tessellation (voro++ with radii). Per crystal:

- ``largest_included_sphere`` (Å): diameter of the largest sphere that fits anywhere in the void (Zeo++ Di);
- ``largest_free_sphere`` (Å): diameter of the largest sphere that can travel through the cell along a channel,
  the pore-limiting diameter (Zeo++ Df);
- ``accessible_surface_area`` (m²/g): area of the surface traced by the centre of a probe sphere of radius
  ``probe_radius`` rolling on the atoms, counting only the part reachable along channels (Monte Carlo);
- ``accessible_volume`` (cm³/g): volume reachable by the probe's centre along channels (Monte Carlo);
- ``void_fraction``: fraction of the cell outside every atom's sphere (a point probe, pockets included).

Zeo++'s high-accuracy mode (each large sphere replaced by many small ones) is off by default: it takes minutes
per framework of a few hundred atoms here instead of about a second; ``high_accuracy=True`` turns it on.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError, CrystalError

# Zeo++'s radius table stops at darmstadtium; it exits the whole process on any other element.
ZEOPP_MAX_ATOMIC_NUMBER = 110
PORE_COLUMNS = (
    "largest_included_sphere",
    "largest_free_sphere",
    "accessible_surface_area",
    "accessible_volume",
    "void_fraction",
)
PORE_UNITS = {
    "largest_included_sphere": "Å",
    "largest_free_sphere": "Å",
    "accessible_surface_area": "m²/g",
    "accessible_volume": "cm³/g",
    "void_fraction": "fraction of the cell",
}


@dataclass(frozen=True)
class PoreSettings:
    """How pores are probed: the probe's radius (Å, also the radius a channel must admit to count as
    accessible), Monte Carlo samples (per atom for the surface, per cell for the volumes) and Zeo++'s
    high-accuracy mode."""

    probe_radius: float = 1.2
    surface_samples_per_atom: int = 2000
    volume_samples: int = 50000
    high_accuracy: bool = False

    def __post_init__(self) -> None:
        if not self.probe_radius >= 0:
            raise AutoPeriError(f"the probe radius must be at least 0 Å, got {self.probe_radius}")
        if self.surface_samples_per_atom < 1 or self.volume_samples < 1:
            raise AutoPeriError("the Monte Carlo sample counts must be at least 1")


@dataclass(frozen=True)
class PoreDescriptors:
    """The descriptors of one crystal, in the units of :data:`PORE_UNITS`."""

    largest_included_sphere: float
    largest_free_sphere: float
    accessible_surface_area: float
    accessible_volume: float
    void_fraction: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def require_pyzeo() -> ModuleType:
    """The ``pyzeo`` package, or a one-line error saying how to install it."""
    try:
        import pyzeo
        import pyzeo.extension
    except ImportError:
        raise AutoPeriError(
            "pore descriptors need Zeo++ through pyzeo, which is not installed: pip install 'autoperi[porous]'"
        ) from None
    return pyzeo


def cssr_text(crystal: Crystal) -> str:
    """The crystal in Zeo++'s CSSR format: cell parameters, then one line per atom (fractional coordinates,
    eight connectivity fields and a charge, all zero), element symbols as labels."""
    a, b, c, alpha, beta, gamma = crystal.lattice_parameters
    lines = [
        f"{a:.8f} {b:.8f} {c:.8f}",
        f"{alpha:.8f} {beta:.8f} {gamma:.8f} SPGR =  1 P 1    OPT = 1",
        f"{crystal.num_atoms} 0",
        str(crystal.id or "crystal"),
    ]
    for index, (symbol, (x, y, z)) in enumerate(zip(crystal.symbols, crystal.frac_coords, strict=True), start=1):
        lines.append(f"{index} {symbol} {x:.10f} {y:.10f} {z:.10f} 0 0 0 0 0 0 0 0 0.000")
    return "\n".join(lines) + "\n"


@contextmanager
def _silenced_output() -> Iterator[None]:
    """Zeo++ prints its progress from C++ to the process's stdout and stderr: point both at /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            ctypes.CDLL(None).fflush(None)
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def zeopp_values(text: bytes | str) -> dict[str, float]:
    """The ``KEY: number`` pairs of a Zeo++ result line (``ASA_m^2/g: 807.8 ...``)."""
    tokens = (text.decode() if isinstance(text, bytes) else text).split()
    values = {}
    for key, value in itertools.pairwise(tokens):
        if key.endswith(":"):
            try:
                values[key[:-1]] = float(value)
            except ValueError:
                continue
    return values


def _checked(crystal: Crystal) -> Crystal:
    if not crystal.is_bulk:
        raise CrystalError(
            "bad_pbc", f"{crystal.id}: pore descriptors need a crystal periodic in 3D, not {crystal.pbc}"
        )
    unknown = crystal.atomic_numbers[crystal.atomic_numbers > ZEOPP_MAX_ATOMIC_NUMBER]
    if len(unknown):
        raise CrystalError("unknown_element", f"{crystal.id}: Zeo++ has no radius for atomic number {unknown[0]}")
    return crystal.validate(max_atoms=max(crystal.num_atoms, 1))


def pore_descriptors(crystal: Crystal, settings: PoreSettings | None = None) -> PoreDescriptors:
    """Zeo++'s pore descriptors of one bulk crystal (see the module docstring)."""
    require_pyzeo()
    from pyzeo.extension import AtomNetwork, high_accuracy_atomnet, surface_area, volume

    settings = settings or PoreSettings()
    crystal = _checked(crystal)
    probe = settings.probe_radius
    with tempfile.TemporaryDirectory(prefix="autoperi-zeopp-") as folder, _silenced_output():
        structure_file, spheres_file = Path(folder) / "crystal.cssr", Path(folder) / "crystal.res"
        structure_file.write_text(cssr_text(crystal))
        network = AtomNetwork.read_from_CSSR(str(structure_file))
        accurate = None
        if settings.high_accuracy:
            accurate = network.copy()
            high_accuracy_atomnet(accurate, "DEF")
        (accurate or network).calculate_free_sphere_parameters(str(spheres_file))
        diameters = spheres_file.read_text().split()[1:4]
        area = zeopp_values(
            surface_area(network, probe, probe, settings.surface_samples_per_atom, accurate is not None, accurate)
        )
        accessible = zeopp_values(
            volume(network, probe, probe, settings.volume_samples, accurate is not None, accurate)
        )
        void = zeopp_values(volume(network, 0.0, 0.0, settings.volume_samples, accurate is not None, accurate))
    return PoreDescriptors(
        largest_included_sphere=float(diameters[0]),
        largest_free_sphere=float(diameters[1]),
        accessible_surface_area=area["ASA_m^2/g"],
        accessible_volume=accessible["AV_cm^3/g"],
        void_fraction=void["AV_Volume_fraction"] + void["NAV_Volume_fraction"],
    )
