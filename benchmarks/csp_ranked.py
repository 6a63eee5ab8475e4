"""Energy-ranked structure prediction: k candidates per target, the distinct ones relaxed with CHGNet, the
lowest relaxed energy per atom first (what ``autoperi csp --rank`` does), scored at k = 1 (issue 13).

python benchmarks/csp_ranked.py --model src/autoperi/checkpoints/mp_20-crystal_flow_csp-fourier.pt \\
    --dataset mp_20 --split test --count 200 --k 20 --fmax 0.1 --relax-steps 200 --out runs/csp_ranked \\
    --json benchmarks/results/issue13/ranked.json

Candidates are those of ``autoperi csp`` with its defaults (hybrid: templates, the 5 nearest ordered by
CHGNet static energy, the flow where no template exists; seed ``--seed``) for targets ``--offset`` to
``--offset + --count`` of the split. Duplicates within a target's list (StructureMatcher defaults) are relaxed
once (autoperi.screening.csp_ranking). Relaxations run as Dask tasks and are recorded in
``OUT/relaxations.jsonl`` as they finish (the screen's store), so a killed run resumes where it stopped, and
a later run with a larger ``--count`` relaxes only the new targets. Rows printed (reference rule, CSP matcher
as in csp_benchmark.py): the unranked first candidate (what ``autoperi csp -k 1`` writes), the raw candidate
with the lowest relaxed energy, its relaxed structure (the ranked top-1 of the issue), and the best of the
distinct candidates, raw and relaxed (oracles).
"""

from __future__ import annotations

import argparse
import math
import resource
import time
from pathlib import Path

import numpy as np
import torch
from result_io import emit


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the CSP flow (model.pt) for targets without a template")
    parser.add_argument("--dataset", default="mp_20")
    parser.add_argument("--split", default="test")
    parser.add_argument("--template-split", default="lowdata_train")
    parser.add_argument("--offset", type=int, default=0, help="first target")
    parser.add_argument("--count", type=int, default=200, help="targets")
    parser.add_argument("--k", type=int, default=20, help="candidates per target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmax", type=float, default=0.1, help="relaxation force threshold, eV/Å")
    parser.add_argument("--relax-steps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1, help="relaxation and matching processes")
    parser.add_argument("--out", type=Path, required=True, help="relaxation records (resumable)")
    parser.add_argument("--json", type=Path)
    return parser.parse_args()


def candidates(args: argparse.Namespace, targets: list) -> list[list]:
    from autoperi.data import load_split
    from autoperi.generative.csp import HYBRID_RANK_BY, HYBRID_RANK_POOLS, CSPSettings, predict_structures
    from autoperi.generative.templates import STABILITY_PROPERTIES, TemplateLibrary
    from autoperi.training.export import load_model

    model, _, _ = load_model(args.model)
    pool = load_split(args.dataset, args.template_split).crystals
    library = TemplateLibrary(pool, True, STABILITY_PROPERTIES.get(args.dataset), True)
    settings = CSPSettings("hybrid", args.k, seed=args.seed, rank_pool=HYBRID_RANK_POOLS[HYBRID_RANK_BY])
    groups = predict_structures([t.atomic_numbers for t in targets], settings, model, library)
    for target, group in zip(targets, groups, strict=True):
        for j, candidate in enumerate(group):
            candidate.id = f"{target.id}-{j}"
    return groups


def relaxed_records(args: argparse.Namespace, distinct: list) -> dict[str, dict]:
    from autoperi.distributed import dask_client
    from autoperi.physics.relax import RelaxSettings
    from autoperi.screening.pipeline import RECORDS_FILE, ScreenSettings, check_settings, relax_candidates
    from autoperi.screening.store import read_records

    source = f"csp_ranked {args.dataset}/{args.split} model={Path(args.model).name} k={args.k} seed={args.seed}"
    settings = ScreenSettings(source, RelaxSettings(args.fmax, args.relax_steps))
    check_settings(args.out, settings)
    with dask_client(workers=args.workers) as client:
        relax_candidates(distinct, settings, args.out, client)
    return read_records(args.out / RECORDS_FILE)


def children_cpu_seconds() -> float:
    """CPU time of finished child processes (the Dask workers, once their cluster has closed)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def per_target_rms(lists: list[list], targets: list, workers: int) -> list[np.ndarray]:
    """Per target, the normalised RMS of each candidate of its list (NaN: no match under the reference rule)."""
    from autoperi.metrics.csp import score_candidates

    scores = score_candidates(lists, targets, workers)
    rms = np.where(scores.reference_matches(), scores.rms, np.nan)
    return [rms[scores.target_index == t] for t in range(len(targets))]


def row(rms_of_choice: list[float]) -> dict[str, float | None]:
    values = np.array(rms_of_choice, dtype=float)
    matched = np.isfinite(values)
    return {
        "match_rate": float(matched.mean()),
        "rmse": float(values[matched].mean()) if matched.any() else None,
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    from autoperi.data import load_split
    from autoperi.screening.csp_ranking import duplicate_candidates, energy_ranked
    from autoperi.screening.store import crystal_from_record

    targets = list(load_split(args.dataset, args.split))[args.offset : args.offset + args.count]
    cpu_start = time.process_time()
    groups = candidates(args, targets)
    duplicates = duplicate_candidates(groups, args.workers)
    distinct = [[c for c in g if c.id not in d] for g, d in zip(groups, duplicates, strict=True)]
    generation_cpu = time.process_time() - cpu_start
    start, children_start = time.perf_counter(), children_cpu_seconds()
    records = relaxed_records(args, [c for group in distinct for c in group])
    relax_wall, relax_cpu = time.perf_counter() - start, children_cpu_seconds() - children_start
    energies = {key: r["energy_relaxed"] for key, r in records.items() if r["energy_relaxed"] is not None}
    ranked = [energy_ranked(g, {}, energies) for g in distinct]
    relaxed = [
        [crystal_from_record(records[c.id]["relaxed"]) if records[c.id]["relaxed"] else c for c in group]
        for group in ranked
    ]
    raw_rms = per_target_rms(distinct, targets, args.workers)
    relaxed_rms = per_target_rms(relaxed, targets, args.workers)
    position = [{c.id: i for i, c in enumerate(group)} for group in distinct]
    lowest = [position[t][group[0].id] if group else None for t, group in enumerate(ranked)]

    def first(values: np.ndarray) -> float:
        return float(values[0]) if len(values) else math.nan

    def best(values: np.ndarray) -> float:
        return float(np.nanmin(values)) if np.isfinite(values).any() else math.nan

    result = {
        "unranked_first_raw": row([first(v) for v in raw_rms]),
        "lowest_energy_raw": row([v[i] if i is not None else math.nan for v, i in zip(raw_rms, lowest, strict=True)]),
        "ranked_top1_relaxed": row([first(v) for v in relaxed_rms]),
        "best_of_distinct_raw": row([best(v) for v in raw_rms]),
        "best_of_distinct_relaxed": row([best(v) for v in relaxed_rms]),
        "targets": len(targets),
        "offset": args.offset,
        "candidates": sum(len(g) for g in groups),
        "distinct_candidates": sum(len(g) for g in distinct),
        "relaxations_converged": sum(bool(records[c.id]["converged"]) for g in distinct for c in g),
        "relax_wall_seconds_this_run": round(relax_wall, 1),
        "relax_cpu_seconds_this_run": round(relax_cpu, 1),
        "generation_cpu_seconds": round(generation_cpu, 1),
        "dataset": f"{args.dataset}/{args.split}",
        "templates": f"{args.dataset}/{args.template_split}",
        "model": args.model,
        "k": args.k,
        "seed": args.seed,
        "fmax": args.fmax,
        "relax_steps": args.relax_steps,
        "mean_relax_steps": float(np.mean([records[c.id]["steps"] for g in distinct for c in g])),
    }
    emit(result, args.json, indent=1)


if __name__ == "__main__":
    main()
