"""The sample folder that generating commands write, and its per-crystal summary.

A sample folder holds one CIF per crystal, ``samples.extxyz`` with all of them, and ``summary.csv``
(formula, atom count, lattice, density, smallest interatomic distance, structural and compositional
validity as the evaluation suite defines them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal
from autoperi.io.tables import write_rows
from autoperi.metrics.distribution import density
from autoperi.metrics.validity import is_compositionally_valid, is_structurally_valid, min_interatomic_distance


def summary_row(crystal: Crystal) -> dict[str, object]:
    finite = bool(np.isfinite(crystal.lattice).all() and np.isfinite(crystal.frac_coords).all())
    a, b, c, alpha, beta, gamma = crystal.lattice_parameters if finite else [float("nan")] * 6
    return {
        "id": crystal.id,
        "formula": crystal.formula,
        "num_atoms": crystal.num_atoms,
        "a": round(a, 4),
        "b": round(b, 4),
        "c": round(c, 4),
        "alpha": round(alpha, 3),
        "beta": round(beta, 3),
        "gamma": round(gamma, 3),
        "volume": round(crystal.volume, 4),
        "density": round(density(crystal), 4) if finite else float("nan"),
        "min_distance": round(min_interatomic_distance(crystal), 4) if finite else float("nan"),
        "structurally_valid": is_structurally_valid(crystal),
        "compositionally_valid": is_compositionally_valid(crystal),
    }


def write_sample_folder(crystals: Sequence[Crystal], out_dir: str | Path) -> list[dict[str, object]]:
    """The crystals' sample folder under ``out_dir`` (made if missing); returns the summary rows."""
    from autoperi.io.ase_adapter import write_extxyz
    from autoperi.io.pymatgen_adapter import write_cif

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for crystal in crystals:
        write_cif(crystal, out / f"{crystal.id}.cif")
        rows.append(summary_row(crystal))
    write_extxyz(crystals, out / "samples.extxyz")
    write_rows(rows, out / "summary.csv")
    return rows
