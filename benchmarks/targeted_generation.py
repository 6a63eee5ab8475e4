"""Targeted generation (issue 19): samples in the requested space group (spglib) or property range (the judge).

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

Property ranges (``--ranges``, each CONDITION=VALUE as ``autoperi sample`` reads it):

python benchmarks/targeted_generation.py --model runs/mp_20-composition-properties -n 200 --seed 0 \
    --ranges band_gap=3 formation_energy=-2 e_above_hull=0.1 e_above_hull=0.01 \
    --out benchmarks/results/issue19/properties.json --plot benchmarks/results/issue19/properties.png

For every range, ``-n`` samples of the property-conditioned composition-first generator (structures from the
hybrid strategy over all training templates), and ``-n`` of the unconditional ``--baseline`` and of the same
model without a condition, all with the same cell sizes. The judge (``autoperi.metrics.properties``) predicts
each sample's properties; a row gives the share of valid samples whose judged property is in the range,
validity, uniqueness and novelty (against the training pool). The plot shows each property's judged
distribution, unconditional against conditioned.
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


def _property_judged(crystals: Sequence, judge, pool: Sequence) -> dict:
    """Validity, uniqueness and novelty (against ``pool``) of every sample, and its judged properties."""
    from autoperi.metrics.properties import predict_properties
    from autoperi.metrics.uniqueness import novel_mask, unique_mask
    from autoperi.metrics.validity import is_compositionally_valid, is_structurally_valid

    valid = [is_structurally_valid(c) and is_compositionally_valid(c) for c in crystals]
    judged = {name: values.tolist() for name, values in predict_properties(judge, crystals).items()}
    return {
        "valid": valid,
        "unique": unique_mask(list(crystals), workers=1).tolist(),
        "novel": novel_mask(list(crystals), list(pool), workers=1).tolist(),
        "judged": judged,
    }


def _in_range_share(samples: dict, condition: str, wanted) -> dict[str, float]:
    """Shares among all samples, and the share of valid samples whose judged property lies in ``wanted``."""
    from autoperi.generative.conditions import CONDITION_PROPERTIES

    valid = np.array(samples["valid"])
    values = np.array(samples["judged"][CONDITION_PROPERTIES[condition]])
    inside = np.array([wanted.contains(v) for v in values], dtype=bool)
    share = {name: float(np.mean(samples[name])) for name in ("valid", "unique", "novel")}
    return share | {"in_range_of_valid": float(inside[valid].mean()) if valid.any() else float("nan")}


def _plot(rows: list[dict], unconditional: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from autoperi.generative.conditions import CONDITION_PROPERTIES, UNITS

    conditions = list(dict.fromkeys(row["condition"] for row in rows))
    figure, axes = plt.subplots(1, len(conditions), figsize=(4.5 * len(conditions), 3.4), squeeze=False)
    for axis, condition in zip(axes[0], conditions, strict=True):
        name = CONDITION_PROPERTIES[condition]
        shown = [("unconditional", unconditional)] + [
            (f"{condition} {row['range']}", row["samples"]) for row in rows if row["condition"] == condition
        ]
        values = [np.array(s["judged"][name])[np.array(s["valid"], dtype=bool)] for _, s in shown]
        bins = np.linspace(min(v.min() for v in values), max(v.max() for v in values), 40)
        for (label, _), judged in zip(shown, values, strict=True):
            axis.hist(judged, bins=bins, histtype="step", density=True, label=label)
        axis.set_xlabel(f"judged {name} ({UNITS[condition]})")
        axis.legend(fontsize=7)
    axes[0][0].set_ylabel("density (valid samples)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def property_benchmark(args: argparse.Namespace) -> dict:
    from autoperi.cli.sample import targeted_generator
    from autoperi.data import load_split
    from autoperi.generative.conditions import Targets, property_range
    from autoperi.generative.sampling import generate
    from autoperi.metrics.properties import JUDGE_MODEL
    from autoperi.training.export import load_generator, load_model

    model, config, _ = load_generator(args.model)
    judge, _, _ = load_model(args.judge or JUDGE_MODEL, "property_regressor")
    pool = load_split(config.data.dataset, config.data.train_split).crystals
    counts = model.sample_num_atoms(args.num, torch.Generator().manual_seed(args.seed)).tolist()
    start = time.process_time()
    baseline, _, _ = load_generator(args.baseline)
    unconditional = _property_judged(generate(baseline, counts, seed=args.seed), judge, pool)
    same_model = _property_judged(generate(model, counts, seed=args.seed), judge, pool)
    rows = []
    for text in args.ranges:
        condition, value = text.split("=", 1)
        wanted = property_range(condition, value)
        begin = time.process_time()
        targeted = targeted_generator(model, config, Targets(guidance=args.guidance, **{condition: wanted}))
        samples = _property_judged(generate(targeted, counts, seed=args.seed), judge, pool)
        row = {"condition": condition, "range": str(wanted), "cpu_s": time.process_time() - begin}
        row |= {
            "unconditional": _in_range_share(unconditional, condition, wanted),
            "same_model_unconditional": _in_range_share(same_model, condition, wanted),
            "conditioned": _in_range_share(samples, condition, wanted),
        }
        print(json.dumps(row), flush=True)
        rows.append(row | {"samples": samples})
    if args.plot:
        _plot(rows, unconditional, args.plot)
    samples = {"unconditional": unconditional, "same_model_unconditional": same_model}
    return {"args": vars(args), "cpu_s": time.process_time() - start, "rows": rows, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a composition model conditioned on the targets")
    parser.add_argument("--baseline", default="mp_20-composition", help="the unconditional generator")
    parser.add_argument("--groups", type=int, nargs="+", default=[225, 62, 194, 139, 221])
    parser.add_argument("--rare", type=int, default=2, help="rare groups added (20-40 training crystals)")
    parser.add_argument("--guidance", type=float, default=1.0)
    parser.add_argument("--redraws", type=int, default=10, help="redraws of a composition without a template")
    parser.add_argument("-n", "--num", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ranges", nargs="+", help="property ranges, e.g. band_gap=3 (instead of groups)")
    parser.add_argument("--judge", help="the property judge (default: the shipped one)")
    parser.add_argument("--plot", help="with --ranges: a PNG of the judged distributions")
    parser.add_argument("--out", required=True, help="a JSON file of the rows")
    args = parser.parse_args()
    torch.set_num_threads(1)
    summary = property_benchmark(args) if args.ranges else space_group_benchmark(args)
    with open(args.out, "w") as handle:
        json.dump(summary, handle, indent=1)


def space_group_benchmark(args: argparse.Namespace) -> dict:

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
    return {"args": vars(args), "cpu_s": time.process_time() - start, "rows": rows}


if __name__ == "__main__":
    main()
