"""``autoperi csp``: k candidate structures per composition (templates, the CSP flow or both), optionally
relaxed and ranked by CHGNet energy."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from autoperi.crystal import Crystal
    from autoperi.generative.templates import TemplateLibrary

from autoperi.cli.sample import add_sampling_options

# The Fourier-network flow: 13.6 % of the first 1,000 MP-20 test targets from noise at k = 1 (20,000 steps,
# 1.41 CPU-h) against 7.6 % for the PaiNN flow (3,500 steps, 1.36 CPU-h); docs/BENCHMARKS.md, session 15.
DEFAULT_CSP_MODEL = "mp_20-crystal_flow_csp-fourier"
# 100 Euler steps against 50: lowdata_val match 30.0 against 28.6 %, RMSE 0.204 against 0.274 (500 targets,
# session 19); 200 and 400 steps lower the RMSE further (0.154, 0.147) but not the match rate.
DEFAULT_CSP_STEPS = 100
DEFAULT_TEMPLATES = "mp_20"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from autoperi.choices import CSP_RANKINGS, CSP_STRATEGIES

    csp = subparsers.add_parser(
        "csp",
        help="predict k candidate structures for a composition (or a CSV of them)",
        description="Structure prediction. Writes OUT/candidates.csv (id, rank, file, ...; one row per candidate, "
        "file relative to OUT), the raw candidates' CIFs, samples.extxyz and summary.csv; with --rank also the "
        "CHGNet-relaxed candidates in OUT/relaxed/, ranked by energy per atom.",
    )
    targets = csp.add_mutually_exclusive_group(required=True)
    targets.add_argument("--formula", help="the cell's composition, e.g. SrTiO3 or Sr2Ti2O6")
    targets.add_argument("--formulas", help="a CSV with columns material_id (or id) and formula (full cell)")
    csp.add_argument("-k", type=int, default=20, help="candidates per composition")
    csp.add_argument(
        "--strategy",
        default="hybrid",
        choices=CSP_STRATEGIES,
        help="template: relabelled training crystals; flow: the CSP model from noise; hybrid (default): templates "
        "first (the nearest few ordered as --rank-by says, see --rank-pool), then the flow up to k (and for "
        "compositions without a template)",
    )
    csp.add_argument("--templates", help="dataset whose training pool gives templates (default: the model's)")
    csp.add_argument(
        "--refine-t0",
        type=float,
        help="hybrid: refine templates with the flow from this time, e.g. 0.95 (default: templates as retrieved)",
    )
    csp.add_argument("--refine-noise", action="store_true", help="mix base noise into the refinement's start")
    csp.add_argument(
        "--rank-pool",
        type=int,
        help="template and hybrid: score the N nearest templates (CHGNet energy per atom, one single point each, "
        "unrelaxed; column static_energy_per_atom) and put them first, ordered as --rank-by says; default for "
        "hybrid: that ranking's measured best pool (5; popularity: every template), off for template; "
        "0 turns any ranking off (nearest templates first)",
    )
    csp.add_argument(
        "--rank-by",
        choices=CSP_RANKINGS,
        help="how --rank-pool orders templates: energy (lowest CHGNet energy first), learned (the shipped "
        "template scorer, highest score first; column template_score) or popularity (the structure type most "
        "common among the training crystals of the formula first, then a new type each; column "
        "template_popularity; no energies) or distinct (the nearest template first, then the nearest of each "
        "structure type not yet listed); default: popularity for Carbon-24 templates, else energy",
    )
    csp.add_argument(
        "--rank",
        action="store_true",
        help="relax every candidate with CHGNet and rank by energy per atom (file names keep the generation order); "
        "a candidate that duplicates an earlier one of its formula is not relaxed and is listed last, its "
        "duplicate_of column naming the raw file it matches",
    )
    csp.add_argument("--fmax", type=float, default=0.05, help="--rank: force threshold in eV/Å")
    csp.add_argument("--relax-steps", type=int, default=500, help="--rank: maximum optimiser steps")
    csp.add_argument("--workers", type=int, default=1, help="--rank: parallel relaxation processes")
    add_sampling_options(csp, "csp", DEFAULT_CSP_STEPS)
    csp.set_defaults(func=run_csp)


def warn(message: str) -> None:
    print(f"autoperi: warning: {message}", file=sys.stderr)


def read_formula_table(path: str) -> list[tuple[str, str]]:
    """(id, formula) rows of a CSV with columns ``material_id`` (or ``id``) and ``formula``."""
    import csv
    from pathlib import Path

    from autoperi.errors import AutoPeriError

    with Path(path).open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        key = next((c for c in ("material_id", "id") if c in columns), None)
        if key is None or "formula" not in columns:
            raise AutoPeriError(f"{path}: needs the columns material_id (or id) and formula, found {columns}")
        rows = [(str(row[key]).strip(), str(row["formula"]).strip()) for row in reader]
    if not rows:
        raise AutoPeriError(f"{path}: no rows")
    ids = [row[0] for row in rows]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None or "" in ids:
        raise AutoPeriError(f"{path}: every row needs its own, non-empty id (repeated or empty: {duplicate!r})")
    return rows


def read_targets(args: argparse.Namespace) -> list[tuple[str, np.ndarray]]:
    """(id, atomic numbers) of every composition asked for."""
    from autoperi.errors import CrystalError
    from autoperi.generative.sampling import formula_atomic_numbers

    rows = [(args.formula, args.formula)] if args.formula is not None else read_formula_table(args.formulas)
    targets = []
    for target_id, formula in rows:
        try:
            targets.append((target_id, formula_atomic_numbers(formula)))
        except CrystalError as error:
            raise CrystalError(error.reason, f"{target_id}: {error}") from None
    return targets


def load_library(dataset: str, split: str, strategy: str) -> TemplateLibrary | None:
    """The template library, or None (with a warning) for the hybrid when the dataset is not installed."""
    from autoperi.errors import DatasetError
    from autoperi.generative.templates import template_library

    try:
        return template_library(dataset, split)
    except DatasetError as error:
        if strategy == "template":
            raise
        warn(f"no templates ({error}); using the flow alone")
        return None


def check_domain(targets, model, model_name: str, library: TemplateLibrary | None, dataset: str) -> None:
    """Too many atoms for the model is an error; an atom count or elements its training data never had, or
    no template for the composition, is a warning."""
    from autoperi.errors import AutoPeriError

    too_large = [(i, len(c)) for i, c in targets if model is not None and len(c) > model.config.max_atoms]
    if too_large:
        listed = ", ".join(f"{i} ({n} atoms)" for i, n in too_large[:5])
        raise AutoPeriError(f"{listed}: {model_name} was trained on cells of at most {model.config.max_atoms} atoms")
    for target_id, composition in targets:
        if model is not None and float(model.atom_count_weights[len(composition)]) == 0:
            warn(f"{target_id}: {model_name} never saw a {len(composition)}-atom cell in training ({dataset})")
        if library is None:
            continue
        unseen = sorted(set(composition.tolist()) - library.elements)
        if unseen:
            from ase.data import chemical_symbols

            symbols = ", ".join(chemical_symbols[z] for z in unseen)
            warn(f"{target_id}: {symbols} never occur in the {dataset} training crystals")
        if not library.num_templates(composition):
            warn(f"{target_id}: no {dataset} training crystal has its anonymous formula (no template)")


def resolve_parts(args: argparse.Namespace):
    """(model or None, model name, template library or None, template dataset)."""
    from autoperi.training.export import load_model

    model, name, dataset, split = None, None, args.templates or DEFAULT_TEMPLATES, "lowdata_train"
    if args.strategy != "template" or args.model:
        model, config, metadata = load_model(args.model or DEFAULT_CSP_MODEL, "crystal_flow")
        if model.de_novo:
            from autoperi.errors import AutoPeriError

            raise AutoPeriError(f"{config.name} is a de novo model: `autoperi csp` needs a structure-prediction model")
        name = config.name
        dataset = args.templates or metadata.get("dataset") or config.data.dataset
        split = metadata.get("train_split") or config.data.train_split
    library = load_library(dataset, split, args.strategy) if args.strategy != "flow" else None
    return model, name, library, dataset


def run_csp(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoperi.errors import AutoPeriError
    from autoperi.generative.csp import (
        DATASET_RANK_BY,
        HYBRID_RANK_BY,
        HYBRID_RANK_POOLS,
        CSPSettings,
        predict_structures,
    )

    if args.k < 1 or args.steps < 1 or args.batch_size < 1 or args.workers < 1:
        raise AutoPeriError("-k, --steps, --batch-size and --workers must be positive")
    if args.rank_pool and args.strategy == "flow":
        raise AutoPeriError("--rank-pool ranks templates: use it with --strategy template or hybrid")
    if args.rank_pool is not None and args.rank_pool < 0:
        raise AutoPeriError("--rank-pool must be 0 (off) or positive")
    targets = read_targets(args)
    model, name, library, dataset = resolve_parts(args)
    check_domain(targets, model if args.strategy != "template" else None, name, library, dataset)
    strategy = "flow" if args.strategy == "hybrid" and library is None else args.strategy
    rank_by = args.rank_by or DATASET_RANK_BY.get(dataset, HYBRID_RANK_BY)
    rank_pool = HYBRID_RANK_POOLS[rank_by] if args.rank_pool is None and strategy == "hybrid" else args.rank_pool
    if args.rank_pool == 0:
        rank_by, rank_pool = HYBRID_RANK_BY, None  # nearest templates first, unranked
    settings = CSPSettings(
        strategy, args.k, args.steps, args.method, args.seed, args.batch_size, args.refine_t0, args.refine_noise,
        rank_pool or None, rank_by,
    )  # fmt: skip
    groups = predict_structures([c for _, c in targets], settings, model, library)
    for (target_id, _), group in zip(targets, groups, strict=True):
        for rank, candidate in enumerate(group, start=1):
            candidate.id = f"{target_id}-{rank}"
            candidate.properties["target_id"] = target_id
    return write_outputs(groups, Path(args.out), args)


def relaxed_order(
    groups: list[list[Crystal]], args: argparse.Namespace
) -> tuple[list[list[Crystal]], dict, dict[str, str]]:
    """Each target's distinct candidates ordered by CHGNet energy per atom after relaxation (failures last),
    then its duplicates; the relaxation result of every distinct candidate by id, and each duplicate's
    representative (autoperi.screening.csp_ranking)."""
    from autoperi.physics.relax import relax_crystals
    from autoperi.screening.csp_ranking import duplicate_candidates, energy_ranked

    duplicates = duplicate_candidates(groups, args.workers)
    duplicate_of = {key: value for group in duplicates for key, value in group.items()}
    distinct = [c for group in groups for c in group if c.id not in duplicate_of]
    results = {r.id: r for r in relax_crystals(distinct, args.fmax, args.relax_steps, args.workers)}
    energies = {key: result.energy_per_atom_final for key, result in results.items()}
    ordered = [energy_ranked(g, d, energies) for g, d in zip(groups, duplicates, strict=True)]
    return ordered, results, duplicate_of


def write_outputs(groups: list[list[Crystal]], out, args: argparse.Namespace) -> int:
    from autoperi.io.tables import write_rows
    from autoperi.metrics.samples import write_sample_folder

    flat = [c for group in groups for c in group]
    if not flat:
        from autoperi.errors import AutoPeriError

        raise AutoPeriError("no candidate for any composition (no template; try --strategy hybrid or flow)")
    write_sample_folder(flat, out)
    results, duplicate_of = {}, {}
    if args.rank:
        groups, results, duplicate_of = relaxed_order(groups, args)
        (out / "relaxed").mkdir(exist_ok=True)
    rows = []
    for group in groups:
        for rank, crystal in enumerate(group, start=1):
            row = candidate_row(crystal, rank)
            if crystal.id in results:
                row.update(relaxed_columns(results[crystal.id], out))
            if args.rank:
                row["duplicate_of"] = f"{duplicate_of[crystal.id]}.cif" if crystal.id in duplicate_of else ""
            rows.append(row)
    write_rows(rows, out / "candidates.csv")
    ranked = f", ranked by CHGNet energy per atom ({len(duplicate_of)} duplicates not relaxed)" if args.rank else ""
    print(f"wrote {len(rows)} candidates for {len(groups)} composition(s) to {out}/candidates.csv{ranked}")
    return 0


def relaxed_columns(result, out) -> dict[str, object]:
    """The relaxed CIF (written under OUT/relaxed/; a failed relaxation keeps the raw file) and energies."""
    from autoperi.io.pymatgen_adapter import write_cif

    columns: dict[str, object] = {}
    if result.relaxed is not None:
        columns["file"] = f"relaxed/{result.id}.cif"
        write_cif(result.relaxed, out / columns["file"])
    return {
        **columns,
        "energy_per_atom": result.energy_per_atom_final,
        "energy_per_atom_initial": result.energy_per_atom_initial,
        "converged": result.converged,
        "relax_error": result.error or "",
    }


def candidate_row(crystal: Crystal, rank: int) -> dict[str, object]:
    distance = crystal.properties.get("template_distance")
    energy = crystal.properties.get("static_energy_per_atom")
    score = crystal.properties.get("template_score")
    popularity = crystal.properties.get("template_popularity")
    return {
        "id": crystal.properties["target_id"],
        "rank": rank,
        "file": f"{crystal.id}.cif",
        "raw_file": f"{crystal.id}.cif",
        "formula": crystal.formula,
        "source": crystal.properties.get("source", ""),
        "template_id": crystal.properties.get("template_id", ""),
        "template_distance": "" if distance is None else distance,
        "static_energy_per_atom": "" if energy is None else energy,
        "template_score": "" if score is None else score,
        "template_popularity": "" if popularity is None else popularity,
    }
