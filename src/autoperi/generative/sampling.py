"""Batched, seeded generation with a trained model, and autoencoder reconstruction.

The sample folder that commands write from the crystals is :mod:`autoperi.metrics.samples`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from autoperi.crystal import Crystal
from autoperi.errors import CrystalError
from autoperi.generative.autoencoder import PeriodicAutoencoder
from autoperi.generative.crystal_flow import NUM_ELEMENTS
from autoperi.generative.generator import CrystalGenerator
from autoperi.progress import progress_bar


def formula_atomic_numbers(formula: str) -> np.ndarray:
    """Atomic numbers of a formula as written (``Sr2Ti2O6`` gives 10 atoms), sorted."""
    from pymatgen.core import Composition

    try:
        composition = Composition(formula)
        counts = {element.Z: amount for element, amount in composition.items()}
    except Exception:
        raise CrystalError("unknown_element", f"cannot read the formula {formula!r}") from None
    if not counts or any(abs(n - round(n)) > 1e-6 or n < 1 for n in counts.values()):
        raise CrystalError("bad_formula", f"{formula!r} needs whole, positive atom counts")
    if any(not 1 <= z <= NUM_ELEMENTS for z in counts):
        raise CrystalError("unknown_element", f"{formula!r} has an unknown element or one beyond Z={NUM_ELEMENTS}")
    return np.repeat(sorted(counts), [round(counts[z]) for z in sorted(counts)])


def element_numbers(symbols: str) -> list[int]:
    """``"Li,Fe,O"`` or ``"Li-Fe-O"`` to atomic numbers."""
    from pymatgen.core import Element

    numbers = []
    for symbol in symbols.replace("-", ",").split(","):
        try:
            numbers.append(Element(symbol.strip()).Z)
        except ValueError:
            raise CrystalError("unknown_element", f"unknown element {symbol.strip()!r}") from None
    return numbers


def generate(
    model: CrystalGenerator,
    num_atoms: Sequence[int],
    compositions: Sequence[np.ndarray] | None = None,
    steps: int = 50,
    method: str = "euler",
    seed: int = 0,
    batch_size: int = 64,
    allowed_elements: list[int] | None = None,
    id_prefix: str = "sample",
) -> list[Crystal]:
    """Crystals with the given atom counts (and compositions), in batches; deterministic for a seed."""
    crystals: list[Crystal] = []
    with progress_bar(len(num_atoms), "sampling", "crystal") as progress:
        for start in range(0, len(num_atoms), batch_size):
            counts = torch.as_tensor(list(num_atoms[start : start + batch_size]), dtype=torch.long)
            numbers = None
            if compositions is not None:
                numbers = torch.as_tensor(np.concatenate(compositions[start : start + batch_size]), dtype=torch.long)
            generator = torch.Generator().manual_seed(seed * 1_000_003 + start)
            batch = model.sample(counts, numbers, steps, method, generator, allowed_elements)
            for offset, crystal in enumerate(batch.to_crystals()):
                crystal.id = f"{id_prefix}-{start + offset:05d}"
                crystals.append(crystal.wrapped())
            progress.update(len(counts))
    return crystals


def reconstruct_crystals(
    autoencoder: PeriodicAutoencoder,
    crystals: Sequence[Crystal],
    steps: int | None = None,
    seed: int = 0,
    batch_size: int = 64,
) -> list[Crystal]:
    """Encode (posterior means) and decode Niggli-reduced crystals in batches; deterministic for a seed."""
    from autoperi.batch import CrystalBatch

    predictions = []
    with progress_bar(len(crystals), "reconstructing", "crystal") as bar:
        for start in range(0, len(crystals), batch_size):
            chunk = crystals[start : start + batch_size]
            latent = autoencoder.encode(CrystalBatch.from_crystals(chunk))
            decoded = autoencoder.decode(latent, steps, generator=torch.Generator().manual_seed(seed + start))
            for target, crystal in zip(chunk, decoded.to_crystals(), strict=True):
                predictions.append(crystal.copy(id=target.id).wrapped())
            bar.update(len(chunk))
    return predictions
