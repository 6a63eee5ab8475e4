"""Structure prediction on a split: k candidates per target composition, match rate and RMSE.

python benchmarks/csp_benchmark.py --strategy template --dataset mp_20 --count 0 --k 1 --json out.json
python benchmarks/csp_benchmark.py --strategy flow --model runs/perov_5-crystal_flow_csp --dataset perov_5 --k 1
python benchmarks/csp_benchmark.py --strategy hybrid --model MODEL --split lowdata_val --count 200 --refine-t0 0.95
python benchmarks/csp_benchmark.py --strategy template --dataset mp_20 --count 0 --k 1 --rank-pool 5
python benchmarks/csp_benchmark.py --strategy hybrid --model MODEL --dataset mp_20 --count 0 --rank-pool 10 \
    --rank-by learned
python benchmarks/csp_benchmark.py --strategy template --dataset carbon_24 --split lowdata_val --count 0 --k 1 \
    --rank-by popularity

Targets are the first ``--count`` crystals of the split (or all with ``--count 0``). Strategies are those of
:mod:`autoperi.generative.csp`; templates come from ``--template-split`` of the same dataset (the low-data
training pool by default, never the split scored). Candidates are written to ``--out`` (one CIF each, ids
``<target id>-<j>``), so ``autoperi evaluate OUT --reference DATASET --task csp`` rescores them. Match rate
and RMSE use StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10) as in DiffCSP (see docs/evaluation.md);
both the reference rule (invalid prediction or target never matches) and the structural-only rule are
printed; with ``--k`` above 1, ``top1`` also scores the first candidate of each list alone. ``match_rate``
counts targets with at least one candidate; ``match_rate_all_targets`` counts a
target without candidates (no template) as a miss. ``match_rate_by_rank`` is the fraction of candidates at
each position of the ranked lists that match (structural rule).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import torch
from result_io import emit, machine_facts


def parse_args() -> argparse.Namespace:
    from autoperi.choices import CSP_RANKINGS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="flow", choices=("template", "flow", "hybrid"))
    parser.add_argument("--model", help="a CSP model: model.pt or its run folder (flow and hybrid)")
    parser.add_argument("--dataset", default="perov_5")
    parser.add_argument("--split", default="test")
    parser.add_argument("--template-split", default="lowdata_train", help="the split templates come from")
    parser.add_argument("--no-volume-scaling", action="store_true", help="keep each template's cell volume")
    parser.add_argument("--no-count-weighting", action="store_true", help="unweighted Mendeleev distance")
    parser.add_argument("--no-stability-ties", action="store_true", help="break distance ties by pool order only")
    parser.add_argument("--stability-property", help="break distance ties by this property (default: the dataset's)")
    parser.add_argument("--count", type=int, default=500, help="targets (0: the whole split)")
    parser.add_argument("--k", type=int, default=1, help="candidates per target")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--method", default="euler")
    parser.add_argument("--refine-t0", type=float, help="hybrid: refine templates with the flow from this time")
    parser.add_argument("--refine-noise", action="store_true", help="mix base noise into the refinement's start")
    parser.add_argument(
        "--rank-pool", type=int, help="order the N nearest templates (as --rank-by says; popularity, distinct: all)"
    )
    parser.add_argument(
        "--rank-by", default="energy", choices=CSP_RANKINGS, help="CHGNet energy, the scorer, or by structure type"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, help="matching processes (default: all cores)")
    parser.add_argument("--threads", type=int, help="torch threads")
    parser.add_argument("--out", default=None, help="folder for the candidate CIFs (default: none written)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--save-scores", type=Path, help="per-candidate scores as .npz (benchmarks/hybrid_mix.py)")
    return parser.parse_args()


def with_all_targets(summary: dict, num_targets: int) -> dict:
    """The summary with ``match_rate_all_targets``: a target without candidates counts as a miss."""
    matched = summary["match_rate"] * summary["n_targets"]
    return {**summary, "match_rate_all_targets": matched / num_targets if num_targets else 0.0}


def save_scores(path: Path, scores, groups: list[list]) -> None:
    """Each candidate's target, rank, source and reference-rule match, for recombining candidate lists offline."""
    import numpy as np

    from autoperi.metrics.csp import candidate_ranks

    path.parent.mkdir(parents=True, exist_ok=True)
    sources = [str(c.properties.get("source")) for group in groups for c in group]
    np.savez_compressed(
        path, target_index=scores.target_index, rank=candidate_ranks(scores), source=np.array(sources),
        matched=scores.reference_matches(), rms=scores.rms, target_valid=scores.target_valid,
    )  # fmt: skip


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from autoperi.data import load_split
    from autoperi.generative.csp import STRUCTURE_TYPE_RANKINGS, CSPSettings, predict_structures
    from autoperi.generative.templates import STABILITY_PROPERTIES, TemplateLibrary
    from autoperi.metrics.csp import first_candidates, match_rate_by_rank, score_candidates, summarise_scores
    from autoperi.metrics.samples import write_sample_folder
    from autoperi.training.export import load_model

    settings = CSPSettings(
        args.strategy, args.k, args.steps, args.method, args.seed, args.batch_size, args.refine_t0,
        args.refine_noise, args.rank_pool, args.rank_by,
    )  # fmt: skip
    model, config, metadata = load_model(args.model) if args.strategy != "template" else (None, None, {})
    library = None
    if args.strategy != "flow":
        stability = args.stability_property or STABILITY_PROPERTIES.get(args.dataset)
        stability = None if args.no_stability_ties else stability
        pool = load_split(args.dataset, args.template_split).crystals
        library = TemplateLibrary(pool, not args.no_volume_scaling, stability, not args.no_count_weighting)
    targets = list(load_split(args.dataset, args.split))
    targets = targets[: args.count] if args.count else targets
    start, cpu_start = time.perf_counter(), time.process_time()
    groups = predict_structures([t.atomic_numbers for t in targets], settings, model, library)
    predict_seconds, predict_cpu = time.perf_counter() - start, time.process_time() - cpu_start
    for target, group in zip(targets, groups, strict=True):
        for j, candidate in enumerate(group):
            candidate.id = f"{target.id}-{j}"
    if args.out:
        write_sample_folder([c for group in groups for c in group], args.out)
    start = time.perf_counter()
    scores = score_candidates(groups, targets, args.workers)
    if args.save_scores:
        save_scores(args.save_scores, scores, groups)
    result = with_all_targets(summarise_scores(scores, [len(group) for group in groups]), len(targets))
    if args.k > 1:
        first = summarise_scores(first_candidates(scores, 1), [min(len(group), 1) for group in groups])
        result["top1"] = with_all_targets(first, len(targets))
    result.update(
        match_rate_by_rank=[round(rate, 4) for rate in match_rate_by_rank(scores)],
        sources=dict(Counter(c.properties.get("source") for group in groups for c in group)),
        strategy=args.strategy,
        model=config.name if config else None,
        model_path=args.model,
        training_steps=metadata.get("steps"),
        dataset=f"{args.dataset}/{args.split}",
        templates=f"{args.dataset}/{args.template_split}" if library else None,
        volume_scaling=not args.no_volume_scaling if library else None,
        count_weighted=not args.no_count_weighting if library else None,
        stability_ties=library is not None and not args.no_stability_ties,
        stability_property=stability if library else None,
        refine_t0=args.refine_t0,
        refine_noise=args.refine_noise if args.refine_t0 is not None else None,
        rank_pool=args.rank_pool,
        rank_by=args.rank_by if args.rank_pool or args.rank_by in STRUCTURE_TYPE_RANKINGS else None,
        steps=args.steps,
        method=args.method,
        seed=args.seed,
        predict_seconds=round(predict_seconds, 1),
        predict_cpu_seconds=round(predict_cpu, 1),
        match_seconds=round(time.perf_counter() - start, 1),
        **machine_facts(),
    )
    emit(result, args.json)


if __name__ == "__main__":
    main()
