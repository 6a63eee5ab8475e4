"""Regenerate src/autoperi/examples/textbook.csv: textbook prototypes with experimental lattice constants.

Built from space groups with pymatgen, so the bundled example holds no third-party data.
Run: python scripts/make_example_data.py
"""

from __future__ import annotations

from pathlib import Path

from pymatgen.core import Lattice, Structure

from autoperi.io.cdvae_csv import write_cdvae_csv
from autoperi.io.pymatgen_adapter import crystal_from_structure

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "autoperi" / "examples" / "textbook.csv"

# (id, space group, lattice, species, Wyckoff representatives)
PROTOTYPES = [
    ("NaCl-rocksalt", "Fm-3m", Lattice.cubic(5.640), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ("MgO-rocksalt", "Fm-3m", Lattice.cubic(4.212), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ("CsCl-B2", "Pm-3m", Lattice.cubic(4.123), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
    ("Si-diamond", "Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]]),
    ("C-diamond", "Fd-3m", Lattice.cubic(3.567), ["C"], [[0, 0, 0]]),
    ("GaAs-zincblende", "F-43m", Lattice.cubic(5.653), ["Ga", "As"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    ("Cu-fcc", "Fm-3m", Lattice.cubic(3.615), ["Cu"], [[0, 0, 0]]),
    ("Fe-bcc", "Im-3m", Lattice.cubic(2.867), ["Fe"], [[0, 0, 0]]),
    ("Mg-hcp", "P6_3/mmc", Lattice.hexagonal(3.209, 5.211), ["Mg"], [[1 / 3, 2 / 3, 0.25]]),
    ("CaF2-fluorite", "Fm-3m", Lattice.cubic(5.463), ["Ca", "F"], [[0, 0, 0], [0.25, 0.25, 0.25]]),
    (
        "SrTiO3-perovskite",
        "Pm-3m",
        Lattice.cubic(3.905),
        ["Sr", "Ti", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0]],
    ),
    (
        "TiO2-rutile",
        "P4_2/mnm",
        Lattice.tetragonal(4.594, 2.959),
        ["Ti", "O"],
        [[0, 0, 0], [0.3053, 0.3053, 0]],
    ),
    (
        "ZnO-wurtzite",
        "P6_3mc",
        Lattice.hexagonal(3.250, 5.207),
        ["Zn", "O"],
        [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]],
    ),
    (
        "Al2O3-corundum",
        "R-3c",
        Lattice.hexagonal(4.759, 12.991),
        ["Al", "O"],
        [[0, 0, 0.3522], [0.3064, 0, 0.25]],
    ),
    (
        "LiCoO2-layered",
        "R-3m",
        Lattice.hexagonal(2.816, 14.052),
        ["Li", "Co", "O"],
        [[0, 0, 0.5], [0, 0, 0], [0, 0, 0.2396]],
    ),
    (
        "BN-hexagonal",
        "P6_3/mmc",
        Lattice.hexagonal(2.504, 6.661),
        ["B", "N"],
        [[1 / 3, 2 / 3, 0.25], [1 / 3, 2 / 3, 0.75]],
    ),
]


def main() -> None:
    crystals = []
    for name, group, lattice, species, coords in PROTOTYPES:
        structure = Structure.from_spacegroup(group, lattice, species, coords).get_primitive_structure()
        crystal = crystal_from_structure(structure, name)
        crystal.properties = {"spacegroup": group}
        crystals.append(crystal)
    write_cdvae_csv(crystals, OUTPUT)
    print(f"wrote {len(crystals)} crystals to {OUTPUT}")


if __name__ == "__main__":
    main()
