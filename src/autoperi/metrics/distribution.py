"""Per-crystal properties (density, number of elements, atoms per cell) and their Wasserstein distances.

As in the CDVAE/DiffCSP code, the generated side is 1,000 crystals drawn without replacement from the
valid ones, and the reference side is the whole reference set.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from autoperi.crystal import Crystal

AMU_PER_CUBIC_ANGSTROM_IN_G_PER_CM3 = 1.66053906660
WASSERSTEIN_SAMPLES = 1000


@lru_cache(maxsize=128)
def _atomic_mass(atomic_number: int) -> float:
    from pymatgen.core import Element

    return float(Element.from_Z(atomic_number).atomic_mass)


def density(crystal: Crystal) -> float:
    """Mass density in g/cm³ with pymatgen's atomic masses (what ``Structure.density`` returns)."""
    mass = sum(_atomic_mass(int(z)) for z in crystal.atomic_numbers)
    return mass / abs(crystal.volume) * AMU_PER_CUBIC_ANGSTROM_IN_G_PER_CM3


def num_elements(crystal: Crystal) -> int:
    return len(set(crystal.atomic_numbers.tolist()))


def property_table(crystals: list[Crystal]) -> dict[str, np.ndarray]:
    return {
        "density": np.array([density(c) for c in crystals]),
        "num_elements": np.array([num_elements(c) for c in crystals], dtype=float),
        "num_atoms": np.array([c.num_atoms for c in crystals], dtype=float),
    }


def sample_valid(valid: np.ndarray, n_samples: int = WASSERSTEIN_SAMPLES, seed: int = 0) -> np.ndarray:
    """Indices of ``n_samples`` valid crystals drawn without replacement (all of them if fewer)."""
    valid_indices = np.flatnonzero(valid)
    if len(valid_indices) <= n_samples:
        return valid_indices
    return np.sort(np.random.default_rng(seed).choice(valid_indices, n_samples, replace=False))


def wasserstein_distances(
    generated: dict[str, np.ndarray], reference: dict[str, np.ndarray], sample: np.ndarray
) -> dict[str, float | None]:
    """1-D Wasserstein distance of every property between the sampled generated crystals and the reference."""
    from scipy.stats import wasserstein_distance

    if len(sample) == 0:
        return {f"wdist_{name}": None for name in generated}
    return {
        f"wdist_{name}": float(wasserstein_distance(values[sample], reference[name]))
        for name, values in generated.items()
    }
