"""Space-group-targeted generation (issue 19): the share of samples spglib puts in the requested group.

python benchmarks/targeted_generation.py --model runs/mp_20-composition-space_group -n 100 --seed 0 \\
    --groups 225 62 194 139 221 --rare 2 --out benchmarks/results/issue19/space_group.json

For every requested group, ``-n`` samples of the conditioned composition-first generator (compositions drawn
for the group, structures from the training templates of that group, else the CSP flow), and the same
number from the unconditional ``--baseline`` once: its share in each group is the base rate. Cell sizes: the
baseline's from the training data, the targeted ones' from the group's templates. Each row gives
the share in the group at spglib symprec 0.1 and 0.01 among all samples and among the valid ones
(structurally and compositionally valid, the evaluation suite's rules), validity, the share whose
composition had a template in the group, and the group's frequency in the training pool. ``--rare`` adds
that many groups with 20 to 40 training crystals (the rarest with enough templates to be asked for).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import numpy as np
import torch


def _judged(crystals: Sequence, group: int, library) -> dict[str, float]:
    from autoperi.metrics.symmetry import STRICT_SYMPREC, space_group_numbers
    from autoperi.metrics.validity import is_compositionally_valid, is_structurally_valid

    valid = np.array([is_structurally_valid(c) and is_compositionally_valid(c) for c in crystals])
    loose, strict = space_group_numbers(crystals) == group, space_group_numbers(crystals, STRICT_SYMPREC) == group
    templated = [library.num_templates(c.atomic_numbers) > 0 for c in crystals] if library is not None else [0]
    return {
        "in_group": float(loose.mean()),
        "in_group_strict": float(strict.mean()),
        "valid": float(valid.mean()),
        "in_group_of_valid": float(loose[valid].mean()) if valid.any() else float("nan"),
        "with_template": float(np.mean(templated)),
    }


def _rare_groups(groups: np.ndarray, count: int, seed: int) -> list[int]:
    numbers, frequency = np.unique(groups[groups > 0], return_counts=True)
    candidates = numbers[(frequency >= 20) & (frequency <= 40)]
    return sorted(np.random.default_rng(seed).choice(candidates, count, replace=False).tolist()) if count else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a space-group-conditioned composition model")
    parser.add_argument("--baseline", default="mp_20-composition", help="the unconditional generator")
    parser.add_argument("--groups", type=int, nargs="+", default=[225, 62, 194, 139, 221])
    parser.add_argument("--rare", type=int, default=2, help="rare groups added (20-40 training crystals)")
    parser.add_argument("--guidance", type=float, default=1.0)
    parser.add_argument("--redraws", type=int, default=10, help="redraws of a composition without a template")
    parser.add_argument("-n", "--num", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="a JSON file of the rows")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from autoperi.cli.sample import targeted_generator
    from autoperi.generative.conditions import Targets
    from autoperi.generative.sampling import generate
    from autoperi.generative.space_group_templates import space_group_library, template_space_groups
    from autoperi.generative.templates import template_library
    from autoperi.training.export import load_generator

    model, config, _ = load_generator(args.model)
    pool = template_library(config.data.dataset, config.data.train_split)
    pool_groups = template_space_groups(pool.crystals)
    groups = args.groups + _rare_groups(pool_groups, args.rare, args.seed)
    counts = model.sample_num_atoms(args.num, torch.Generator().manual_seed(args.seed)).tolist()
    start = time.process_time()
    baseline, _, _ = load_generator(args.baseline)
    unconditional = generate(baseline, counts, seed=args.seed)
    rows = []
    for group in groups:
        library = space_group_library(config.data.dataset, config.data.train_split, group)
        row = {"group": group, "training_share": float(np.mean(pool_groups == group)), "templates": len(library)}
        row["unconditional"] = _judged(unconditional, group, library)
        begin = time.process_time()
        targets = Targets(space_group=group, guidance=args.guidance)
        targeted = targeted_generator(model, config, targets, args.redraws)
        sizes = targeted.sample_num_atoms(args.num, torch.Generator().manual_seed(args.seed)).tolist()
        row["conditioned"] = _judged(generate(targeted, sizes, seed=args.seed), group, library)
        row["conditioned"]["cpu_s"] = time.process_time() - begin
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {"args": vars(args), "cpu_s": time.process_time() - start, "rows": rows}
    with open(args.out, "w") as handle:
        json.dump(summary, handle, indent=1)


if __name__ == "__main__":
    main()
