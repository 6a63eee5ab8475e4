"""The three evaluation tasks end to end: de novo generation, structure prediction, reconstruction."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoperi.crystal import Crystal
from autoperi.metrics.coverage import (
    COVERAGE_CUTOFFS,
    Fingerprints,
    cached_fingerprints,
    compute_fingerprints,
    coverage,
)
from autoperi.metrics.distribution import (
    WASSERSTEIN_SAMPLES,
    property_table,
    sample_valid,
    wasserstein_distances,
)
from autoperi.metrics.porous import (
    ZEOLITE_DATASETS,
    PoreComparison,
    cached_pore_table,
    is_porous_reference,
    pore_counts,
    pore_table,
    pore_wasserstein_distances,
    zeolite_validity,
)
from autoperi.metrics.reference import ReferenceSet
from autoperi.metrics.stability import DEFAULT_STABILITY_THRESHOLD, HullFunction, e_above_hull
from autoperi.metrics.uniqueness import novel_mask, unique_mask
from autoperi.metrics.validity import is_compositionally_valid, is_structurally_valid
from autoperi.metrics.zeopp_adapter import PoreSettings
from autoperi.parallel import parallel_map


@dataclass
class DngOptions:
    workers: int | None = None
    seed: int = 0
    n_samples: int = WASSERSTEIN_SAMPLES
    cutoffs: tuple[float, float] | None = None  # (structure, composition); default from the dataset
    use_symmetry: bool = False
    generated_sources: list[Path] | None = None  # input files: cache the generated fingerprints too
    novelty: ReferenceSet | None = None  # None: skip uniqueness and novelty
    sun: bool = False
    hull_function: HullFunction | None = None
    stability_threshold: float = DEFAULT_STABILITY_THRESHOLD
    pore_settings: PoreSettings = field(default_factory=PoreSettings)  # used when the reference is porous


@dataclass
class Evaluation:
    """Metrics (JSON-ready), settings, and the per-crystal values the plots need."""

    task: str
    metrics: dict[str, Any]
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    generated_properties: dict[str, np.ndarray] = field(default_factory=dict)
    reference_properties: dict[str, np.ndarray] = field(default_factory=dict)
    e_hull: np.ndarray | None = None
    pores: PoreComparison | None = None  # a porous reference's pore tables (autoperi.metrics.porous)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def run(self, name: str, function, *args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        self.timings[name] = round(time.perf_counter() - start, 2)
        return result


def _validity_flags(crystal: Crystal) -> tuple[bool, bool]:
    return is_structurally_valid(crystal), is_compositionally_valid(crystal)


def validity_arrays(crystals: list[Crystal], workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    flags = parallel_map(_validity_flags, crystals, workers, "validity")
    return np.array([f[0] for f in flags], dtype=bool), np.array([f[1] for f in flags], dtype=bool)


def _generated_fingerprints(generated: list[Crystal], options: DngOptions) -> tuple[Fingerprints, bool]:
    if options.generated_sources is None:
        return compute_fingerprints(generated, options.workers, options.use_symmetry), False
    sources = options.generated_sources
    return cached_fingerprints(generated, sources, "generated", options.workers, options.use_symmetry, "generated")


def coverage_cutoffs(reference: ReferenceSet, cutoffs: tuple[float, float] | None) -> tuple[tuple[float, float], str]:
    if cutoffs is not None:
        return cutoffs, "given"
    if reference.dataset in COVERAGE_CUTOFFS:
        return COVERAGE_CUTOFFS[reference.dataset], reference.dataset
    if reference.dataset is not None:
        return COVERAGE_CUTOFFS["mp_20"], f"mp_20 (default: none published for {reference.dataset})"
    return COVERAGE_CUTOFFS["mp_20"], "mp_20 (default: reference dataset unknown)"


def evaluate_dng(
    generated: list[Crystal], reference: ReferenceSet, options: DngOptions, n_unreadable: int = 0
) -> Evaluation:
    """Validity, COV, Wasserstein distances, uniqueness/novelty and (optionally) S.U.N. of a generated set."""
    timer = _Timer()
    n_total = len(generated) + n_unreadable
    struct_valid, comp_valid = timer.run("validity", validity_arrays, generated, options.workers)
    gen_fp, gen_cache_hit = timer.run("fingerprints_generated", _generated_fingerprints, generated, options)
    ref_fp, cache_hit = timer.run(
        "fingerprints_reference",
        cached_fingerprints,
        reference.crystals,
        reference.sources,
        reference.read_options,
        options.workers,
        options.use_symmetry,
    )
    valid = struct_valid & comp_valid & gen_fp.structure_ok  # the reference also drops failed fingerprints
    (struct_cutoff, comp_cutoff), cutoff_source = coverage_cutoffs(reference, options.cutoffs)
    metrics: dict[str, Any] = {
        "n_generated": n_total,
        "n_unreadable": n_unreadable,
        "struct_valid": float(struct_valid.sum() / n_total),
        "comp_valid": float(comp_valid.sum() / n_total),
        "valid": float(valid.sum() / n_total),
    }
    cov = timer.run("coverage", coverage, gen_fp, ref_fp, struct_cutoff, comp_cutoff)
    cov["cov_precision"] *= len(generated) / n_total  # unreadable entries count in COV-P's denominator
    metrics.update(cov)
    gen_props, ref_props = property_table(generated), property_table(reference.crystals)
    sample = sample_valid(valid, options.n_samples, options.seed)
    metrics.update(wasserstein_distances(gen_props, ref_props, sample))
    metrics["n_wasserstein_samples"] = len(sample)
    evaluation = Evaluation(
        "dng",
        metrics,
        _dng_settings(reference, options, cutoff_source, cache_hit) | {"generated_fingerprints_cached": gen_cache_hit},
        timer.timings,
        {name: values[sample] for name, values in gen_props.items()},
        ref_props,
    )
    if options.novelty is not None:
        _add_uniqueness_novelty(evaluation, generated, valid, options, timer)
    if is_porous_reference(reference.dataset):
        _add_porous(evaluation, generated, sample, reference, options, timer)
    return evaluation


def _dng_settings(reference: ReferenceSet, options: DngOptions, cutoff_source: str, cache_hit: bool) -> dict:
    return {
        "reference": reference.label,
        "n_reference": len(reference.crystals),
        "coverage_cutoffs_from": cutoff_source,
        "reference_fingerprints_cached": cache_hit,
        "seed": options.seed,
        "wasserstein_samples_requested": options.n_samples,
        "symmetry_reduced_fingerprints": options.use_symmetry,
        "novelty_reference": None if options.novelty is None else options.novelty.label,
        "stability_threshold_ev_per_atom": options.stability_threshold if options.sun else None,
    }


def _add_uniqueness_novelty(
    evaluation: Evaluation, generated: list[Crystal], valid: np.ndarray, options: DngOptions, timer: _Timer
) -> None:
    assert options.novelty is not None
    unique = timer.run("uniqueness", unique_mask, generated, options.workers)
    novel = timer.run("novelty", novel_mask, generated, options.novelty.crystals, options.workers)
    n_total = evaluation.metrics["n_generated"]
    evaluation.metrics.update(
        {
            "unique": float(unique.sum() / n_total),
            "novel": float(novel.sum() / n_total),
            "unique_novel": float((unique & novel).sum() / n_total),
            "valid_unique_novel": float((valid & unique & novel).sum() / n_total),
        }
    )
    if not options.sun:
        return
    candidates = np.flatnonzero(valid & unique & novel)  # only these can be S.U.N., so only these are relaxed
    e_hull, source = timer.run("e_hull", e_above_hull, [generated[i] for i in candidates], options.hull_function)
    stable = np.nan_to_num(e_hull, nan=np.inf) <= options.stability_threshold
    evaluation.metrics.update(
        {
            "sun": float(stable.sum() / n_total),
            "n_e_hull_computed": len(candidates),
            "n_e_hull_failed": int(np.isnan(e_hull).sum()),
        }
    )
    evaluation.settings["e_hull_source"] = source
    evaluation.e_hull = e_hull


def _add_porous(
    evaluation: Evaluation,
    generated: list[Crystal],
    sample: np.ndarray,
    reference: ReferenceSet,
    options: DngOptions,
    timer: _Timer,
) -> None:
    """Zeolite validity, then pore descriptors of the Wasserstein sample and of the reference (cached) and their
    Wasserstein distances (:mod:`autoperi.metrics.porous`); without pyzeo the descriptors are skipped, noted."""
    from autoperi.errors import AutoPeriError
    from autoperi.metrics.zeopp_adapter import require_pyzeo

    metrics = evaluation.metrics
    if reference.dataset in ZEOLITE_DATASETS:
        valid = timer.run("zeolite_validity", zeolite_validity, generated, options.workers)
        reference_valid = timer.run("zeolite_validity_reference", zeolite_validity, reference.crystals, options.workers)
        metrics["zeolite_valid"] = float(valid.sum() / metrics["n_generated"])
        metrics["reference_zeolite_valid"] = float(reference_valid.mean())
    try:
        require_pyzeo()
    except AutoPeriError as error:
        evaluation.settings["pore_descriptors"] = f"skipped: {error}"
        return
    settings = options.pore_settings
    crystals, sources, read_options = reference.crystals, reference.sources, reference.read_options
    reference_pores, cached = timer.run(
        "pores_reference", cached_pore_table, crystals, sources, read_options, settings, options.workers
    )
    sampled = [generated[i] for i in sample]
    generated_pores = timer.run("pores_generated", pore_table, sampled, settings, options.workers)
    evaluation.pores = PoreComparison(generated_pores, reference_pores)
    metrics.update(pore_wasserstein_distances(generated_pores, reference_pores))
    metrics.update(pore_counts(evaluation.pores))
    evaluation.settings.update(
        {
            "pore_descriptors": "Zeo++ (pyzeo) on the Wasserstein sample and on every reference crystal",
            "pore_settings": asdict(settings),
            "reference_pores_cached": cached,
        }
    )


def evaluate_csp(
    candidates: list[list[Crystal]],
    targets: list[Crystal],
    reference: ReferenceSet,
    unpaired: int,
    workers: int | None = None,
) -> Evaluation:
    from autoperi.metrics.csp import CSP_MATCHER_SETTINGS, match_rate_and_rmse

    timer = _Timer()
    metrics = timer.run("matching", match_rate_and_rmse, candidates, targets, workers)
    metrics["n_unpaired_predictions"] = unpaired
    settings = {"reference": reference.label, "matcher": CSP_MATCHER_SETTINGS}
    return Evaluation("csp", metrics, settings, timer.timings)


def evaluate_reconstruction(
    predictions: list[Crystal],
    targets: list[Crystal],
    reference: ReferenceSet,
    unpaired: int,
    bond_cutoff: float,
    workers: int | None = None,
) -> Evaluation:
    from autoperi.metrics.csp import CSP_MATCHER_SETTINGS
    from autoperi.metrics.reconstruction import reconstruction_metrics

    timer = _Timer()
    metrics = timer.run("reconstruction", reconstruction_metrics, predictions, targets, bond_cutoff, workers)
    metrics["n_unpaired_predictions"] = unpaired
    settings = {
        "reference": reference.label,
        "matcher": CSP_MATCHER_SETTINGS,
        "bond_cutoff_angstrom": bond_cutoff,
    }
    return Evaluation("recon", metrics, settings, timer.timings)
