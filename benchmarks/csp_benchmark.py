"""Structure prediction on a test split: k candidates per target composition, match rate and RMSE.

python benchmarks/csp_benchmark.py --model runs/perov_5-crystal_flow_csp --dataset perov_5 --count 500 --k 1

Targets are the first ``--count`` crystals of the split (or all with ``--count 0``). Candidates are written
to ``--out`` (one CIF each, ids ``<target id>-<j>``), so ``autoperi evaluate OUT --reference DATASET
--task csp`` rescores them. Match rate and RMSE use StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10) as
in DiffCSP (see docs/evaluation.md); both the reference rule (invalid prediction or target never matches)
and the structural-only rule are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="a CSP model: model.pt or its run folder")
    parser.add_argument("--dataset", default="perov_5")
    parser.add_argument("--split", default="test")
    parser.add_argument("--count", type=int, default=500, help="targets (0: the whole split)")
    parser.add_argument("--k", type=int, default=1, help="candidates per target")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--method", default="euler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", default=None, help="folder for the candidate CIFs (default: none written)")
    args = parser.parse_args()

    from autoperi.data import load_split
    from autoperi.generative.sampling import generate, write_sample_folder
    from autoperi.metrics.csp import match_rate_and_rmse
    from autoperi.training.export import load_model

    model, config, metadata = load_model(args.model)
    targets = list(load_split(args.dataset, args.split))
    targets = targets[: args.count] if args.count else targets
    compositions = [t.atomic_numbers for t in targets for _ in range(args.k)]
    start = time.perf_counter()
    candidates = generate(
        model, [len(c) for c in compositions], compositions, args.steps, args.method, args.seed, args.batch_size
    )
    sampling_seconds = time.perf_counter() - start
    for index, candidate in enumerate(candidates):
        candidate.id = f"{targets[index // args.k].id}-{index % args.k}"
    if args.out:
        write_sample_folder(candidates, args.out)
    groups = [candidates[i * args.k : (i + 1) * args.k] for i in range(len(targets))]
    result = match_rate_and_rmse(groups, targets)
    result.update(
        model=config.name,
        training_steps=metadata.get("steps"),
        dataset=f"{args.dataset}/{args.split}",
        steps=args.steps,
        method=args.method,
        seed=args.seed,
        sampling_seconds=round(sampling_seconds, 1),
        crystals_per_second=round(len(candidates) / sampling_seconds, 2),
        torch_threads=torch.get_num_threads(),
        cpus=os.cpu_count(),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
