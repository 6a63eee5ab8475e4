"""Reconstruction errors of paired crystals (prediction i reconstructs target i).

Alignment. ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10, primitive_cell=False)`` and its
``get_s2_like_s1`` put the prediction in a lattice basis with the target's parameters, reorder its atoms
to correspond one-to-one with the target's and apply the translation that removes the mean displacement
(the matcher's least-squares mapping over the lattice bases it tries). When the matcher finds no mapping,
atoms correspond by index (the autoencoder keeps the order) and the mean minimum-image displacement is
removed; pairs with different atom counts cannot be aligned and are counted as failures.

Errors per pair, then averaged over aligned pairs:
- coordinate MSE (Å²): mean squared minimum-image displacement, in the target's lattice;
- bond-length MSE (Å²): for every target neighbour pair closer than ``bond_cutoff``, the same pair (same
  periodic image) measured in the aligned prediction;
- lattice MSE: lengths (Å²) and angles (deg²) of the two cells as given (both Niggli-reduced in practice);
- atom-type accuracy: fraction of atoms, by index, with the right element (0 when the counts differ).
Match rate and RMSE use the structure-prediction matcher (see :mod:`autoperi.metrics.csp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from autoperi.crystal import Crystal
from autoperi.metrics.csp import CSP_MATCHER_SETTINGS, match_rate_and_rmse
from autoperi.parallel import parallel_map

DEFAULT_BOND_CUTOFF = 3.5  # Å


@dataclass
class Alignment:
    frac_displacement: np.ndarray  # (N,) x 3, prediction minus target, in the aligned basis
    aligned_lattice: np.ndarray  # the prediction's lattice in the basis matching the target's
    method: str  # "structure_matcher" or "index"


@lru_cache(maxsize=1)
def _alignment_matcher():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**CSP_MATCHER_SETTINGS, primitive_cell=False)


def _wrapped(frac: np.ndarray) -> np.ndarray:
    return frac - np.round(frac)


def align(prediction: Crystal, target: Crystal) -> Alignment | None:
    """Best alignment of ``prediction`` onto ``target`` (see the module docstring), or None."""
    from autoperi.io.pymatgen_adapter import structure_from_crystal

    try:
        aligned = _alignment_matcher().get_s2_like_s1(
            structure_from_crystal(target), structure_from_crystal(prediction)
        )
    except Exception:
        aligned = None
    if aligned is not None and len(aligned) == target.num_atoms:
        displacement = _wrapped(aligned.frac_coords - target.frac_coords)
        return Alignment(displacement, aligned.lattice.matrix, "structure_matcher")
    if prediction.num_atoms != target.num_atoms:
        return None
    displacement = _wrapped(prediction.frac_coords - target.frac_coords)
    displacement = _wrapped(displacement - displacement.mean(axis=0))
    return Alignment(displacement, prediction.lattice, "index")


def bond_length_pairs(
    target: Crystal, alignment: Alignment, cutoff: float = DEFAULT_BOND_CUTOFF
) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of the target's neighbour pairs within ``cutoff`` and of the same pairs in the prediction."""
    from autoperi.io.pymatgen_adapter import structure_from_crystal

    centres, neighbours, images, target_lengths = structure_from_crystal(target).get_neighbor_list(cutoff)
    predicted_frac = target.frac_coords + alignment.frac_displacement
    vectors = predicted_frac[neighbours] + images - predicted_frac[centres]
    return target_lengths, np.linalg.norm(vectors @ alignment.aligned_lattice, axis=1)


def _pair_errors(pair: tuple[Crystal, Crystal, float]) -> dict[str, float | str | None]:
    prediction, target, cutoff = pair
    lattice_diff = prediction.lattice_parameters - target.lattice_parameters
    same_count = prediction.num_atoms == target.num_atoms
    errors: dict[str, float | str | None] = {
        "lattice_length_mse": float(np.mean(lattice_diff[:3] ** 2)),
        "lattice_angle_mse": float(np.mean(lattice_diff[3:] ** 2)),
        "atom_type_accuracy": float(np.mean(prediction.atomic_numbers == target.atomic_numbers)) if same_count else 0.0,
        "coord_mse": None,
        "bond_length_mse": None,
        "alignment": None,
    }
    alignment = align(prediction, target)
    if alignment is None:
        return errors
    cart = alignment.frac_displacement @ target.lattice
    errors["coord_mse"] = float(np.mean(np.sum(cart**2, axis=1)))
    target_lengths, predicted_lengths = bond_length_pairs(target, alignment, cutoff)
    if len(target_lengths):
        errors["bond_length_mse"] = float(np.mean((predicted_lengths - target_lengths) ** 2))
    errors["alignment"] = alignment.method
    return errors


def pair_errors(
    predictions: list[Crystal],
    targets: list[Crystal],
    bond_cutoff: float = DEFAULT_BOND_CUTOFF,
    workers: int | None = None,
) -> list[dict[str, float | str | None]]:
    """Per-pair reconstruction errors (see the module docstring)."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets: pairs must line up")
    pairs = [(p, t, bond_cutoff) for p, t in zip(predictions, targets, strict=True)]
    return parallel_map(_pair_errors, pairs, workers, "reconstruction errors")


def _mean_of(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return float(np.mean(values)) if values else None


def reconstruction_metrics(
    predictions: list[Crystal],
    targets: list[Crystal],
    bond_cutoff: float = DEFAULT_BOND_CUTOFF,
    workers: int | None = None,
) -> dict[str, float | int | None]:
    """Mean reconstruction errors over pairs, plus match rate and RMSE with the CSP matcher."""
    rows = pair_errors(predictions, targets, bond_cutoff, workers)
    return summarise_pairs(rows, predictions, targets, bond_cutoff, workers)


def summarise_pairs(
    rows: list[dict[str, float | str | None]],
    predictions: list[Crystal],
    targets: list[Crystal],
    bond_cutoff: float = DEFAULT_BOND_CUTOFF,
    workers: int | None = None,
) -> dict[str, float | int | None]:
    """The summary of :func:`reconstruction_metrics` from per-pair rows already computed by :func:`pair_errors`."""
    metrics: dict[str, float | int | None] = {
        key: _mean_of(rows, key)
        for key in (
            "coord_mse",
            "bond_length_mse",
            "lattice_length_mse",
            "lattice_angle_mse",
            "atom_type_accuracy",
        )
    }
    metrics["n_pairs"] = len(rows)
    metrics["n_aligned_by_matcher"] = sum(row["alignment"] == "structure_matcher" for row in rows)
    metrics["n_aligned_by_index"] = sum(row["alignment"] == "index" for row in rows)
    metrics["n_not_aligned"] = sum(row["alignment"] is None for row in rows)
    metrics["bond_cutoff"] = bond_cutoff
    matching = match_rate_and_rmse([[p] for p in predictions], targets, workers)
    metrics.update({key: matching[key] for key in ("match_rate", "rmse", "match_rate_structural", "rmse_structural")})
    return metrics
