"""Fit and evaluate the learned template scorer (autoperi.generative.template_scorer, issue 13).

OMP_NUM_THREADS=1 nice -n 10 python benchmarks/template_scorer.py label --split lowdata_train --count 3000
OMP_NUM_THREADS=1 nice -n 10 python benchmarks/template_scorer.py label --split lowdata_val --count 600
python benchmarks/template_scorer.py fit --pool 10 --write src/autoperi/generative/mp_20_template_scorer.json

``label`` retrieves the ``--pool`` nearest templates of targets from the dataset's low-data training pool: for
``lowdata_train`` a seeded subsample of ``--count`` targets with each target left out of its own templates
(leave-one-out by pool index), for any other split its first ``--count`` targets. Every candidate gets its
:data:`RAW_FIELDS` (one CHGNet single point each) and its match with the target (StructureMatcher, the CSP
tolerances of autoperi.metrics.csp); the arrays are cached as npz under the autoperi cache folder.

``fit`` trains a scorer on the training labels with a listwise loss (per target, minus the log of the softmax
probability mass on its matching candidates; targets whose pool matches all or none are left out), prints the
k = 1 match rate (reference rule, a target without templates counts as a miss) of the nearest template, the
lowest CHGNet energy and the scorer in pools 3, 5, 10 and 20 of both label sets, with ``--drop`` feature
ablations, and with ``--write`` saves the scorer with its provenance.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

LABEL_VERSION = 1
POOLS = (3, 5, 10, 20)


def label_path(dataset: str, split: str, count: int, seed: int, pool: int) -> Path:
    from autoperi.caching import cache_dir

    name = f"{dataset}-{split}-n{count}-seed{seed}-pool{pool}-v{LABEL_VERSION}.npz"
    return cache_dir() / "template_scorer" / name


def chosen_targets(dataset: str, split: str, count: int, seed: int) -> tuple[list, list[int | None]]:
    """(targets, pool index to leave out of each target's templates or None)."""
    from autoperi.data import load_split

    crystals = load_split(dataset, split).crystals
    if split != "lowdata_train":
        return crystals[:count], [None] * min(count, len(crystals))
    indices = np.random.default_rng(seed).permutation(len(crystals))[:count].tolist()
    return [crystals[i] for i in indices], indices


def label(args: argparse.Namespace) -> None:
    import torch

    from autoperi.generative.csp import record_static_energies
    from autoperi.generative.template_scorer import RAW_FIELDS, raw_values
    from autoperi.generative.templates import template_library
    from autoperi.metrics.csp import score_candidates

    torch.set_num_threads(1)
    path = label_path(args.dataset, args.split, args.count, args.seed, args.pool)
    start, cpu_start = time.perf_counter(), time.process_time()
    library = template_library(args.dataset)
    targets, left_out = chosen_targets(args.dataset, args.split, args.count, args.seed)
    groups = [library.candidates(t.atomic_numbers, args.pool, i) for t, i in zip(targets, left_out, strict=True)]
    record_static_energies([c for group in groups for c in group], args.batch_size)
    raw = np.concatenate([raw_values(group, library) for group in groups if group])
    owners = [i for i, group in enumerate(groups) for _ in group]
    left_out_rows = np.array([left_out[i] is not None for i in owners], dtype=bool)
    raw[left_out_rows, RAW_FIELDS.index("num_templates")] -= 1  # the left-out target is no template
    scores = score_candidates(groups, targets, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        raw=raw,
        bounds=np.cumsum([0] + [len(group) for group in groups]),
        reference=scores.reference_matches(),
        structural=~np.isnan(scores.rms),
        rms=scores.rms,
    )
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - start
    print(f"{path}: {len(targets)} targets, {len(raw)} candidates, {cpu:.0f} CPU-s, {wall:.0f} s")


class LabelSet:
    """One label file: per target, the raw values of its candidates (nearest first) and their matches."""

    def __init__(self, path: Path, rule: str = "reference") -> None:
        if not path.exists():
            raise SystemExit(f"{path} is missing: run the label command first")
        data = np.load(path)
        bounds = data["bounds"]
        self.raw = [data["raw"][bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]
        matched = data[rule]
        self.matched = [matched[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]

    def features(self, pool: int) -> list[np.ndarray]:
        from autoperi.generative.template_scorer import pool_features

        return [pool_features(raw[:pool]) if len(raw) else np.zeros((0, 0)) for raw in self.raw]

    def subset(self, keep: np.ndarray) -> LabelSet:
        chosen = object.__new__(LabelSet)
        chosen.raw = [self.raw[i] for i in keep]
        chosen.matched = [self.matched[i] for i in keep]
        return chosen


def padded(features: list[np.ndarray], matched: list[np.ndarray], columns: list[int]):
    """(groups, pool, features), (groups, pool) mask and labels of the informative targets (some but not
    every candidate matches)."""
    import torch

    matched = [m[: len(f)] for f, m in zip(features, matched, strict=True)]  # each pool's first candidates
    chosen = [i for i, m in enumerate(matched) if 0 < m.sum() < len(m)]
    pool = max(len(matched[i]) for i in chosen)
    x = np.zeros((len(chosen), pool, len(columns)))
    mask = np.zeros((len(chosen), pool), dtype=bool)
    y = np.zeros((len(chosen), pool), dtype=bool)
    for row, i in enumerate(chosen):
        n = len(matched[i])
        x[row, :n], mask[row, :n], y[row, :n] = features[i][:, columns], True, matched[i]
    return torch.tensor(x, dtype=torch.float64), torch.tensor(mask), torch.tensor(y)


def fit_scorer(features, matched, names: list[str], hidden: int, decay: float, seed: int, pool: int):
    """A TemplateScorer fitted by the listwise loss (Adam, full batch)."""
    import torch

    from autoperi.generative.template_scorer import FEATURES, TemplateScorer

    torch.manual_seed(seed)
    columns = [FEATURES.index(name) for name in names]
    x, mask, y = padded(features, matched, columns)
    mean, scale = x[mask].mean(0), x[mask].std(0).clamp_min(1e-6)
    x = (x - mean) / scale
    sizes = [len(names), *([hidden] if hidden else []), 1]
    layers = [torch.nn.Linear(a, b, dtype=torch.float64) for a, b in itertools.pairwise(sizes)]
    network = torch.nn.Sequential(*[m for layer in layers for m in (layer, torch.nn.Tanh())][:-1])
    optimiser = torch.optim.Adam(network.parameters(), lr=0.01, weight_decay=decay)
    for _ in range(1500):
        optimiser.zero_grad()
        logits = network(x)[..., 0].masked_fill(~mask, -torch.inf)
        loss = (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~y, -torch.inf), 1)).mean()
        loss.backward()
        optimiser.step()
    return TemplateScorer(
        list(names), mean.tolist(), scale.tolist(), [layer.weight.tolist() for layer in layers],
        [layer.bias.tolist() for layer in layers], pool,
    )  # fmt: skip


def pick_rate(labels: LabelSet, pool: int, score) -> float:
    """k = 1 match rate when each target takes its candidate of highest ``score(features)`` in the pool."""
    hits = 0
    for features, matched in zip(labels.features(pool), labels.matched, strict=True):
        if len(features):
            hits += bool(matched[int(np.argmax(score(features)))])
    return hits / len(labels.matched)


def baselines(labels: LabelSet) -> dict[str, list[float]]:
    from autoperi.generative.template_scorer import FEATURES

    energy = FEATURES.index("energy_rank")
    oracle = [np.mean([m[:pool].any() for m in labels.matched]) for pool in POOLS]
    return {
        "nearest template": [pick_rate(labels, pool, lambda f: -f[:, 0]) for pool in POOLS],
        "lowest CHGNet energy": [pick_rate(labels, pool, lambda f: -f[:, energy]) for pool in POOLS],
        "oracle (best in pool)": oracle,
    }


def fit(args: argparse.Namespace) -> None:
    import torch

    from autoperi.generative.template_scorer import FEATURES

    torch.set_num_threads(1)
    train = LabelSet(label_path(args.dataset, "lowdata_train", args.train_count, args.seed, 20), args.rule)
    val = LabelSet(label_path(args.dataset, "lowdata_val", args.val_count, 0, 20))
    held = np.random.default_rng(args.seed).permutation(len(train.matched))
    cut = len(held) // 5
    fitting, held_out = train.subset(held[cut:]), train.subset(held[:cut])
    rows = {f"{name} (val)": values for name, values in baselines(val).items()}
    rows |= {f"{name} (train held-out)": values for name, values in baselines(held_out).items()}
    start = time.process_time()
    names = [name for name in FEATURES if name not in args.drop]
    variants = {"all": names} | {f"without {d}": [n for n in names if n not in d.split(",")] for d in args.ablate}
    for variant, chosen in variants.items():
        scorer = fit_scorer(fitting.features(args.pool), fitting.matched, chosen, args.hidden, args.decay,
                            args.seed, args.pool)  # fmt: skip
        label_name = f"scorer {variant} (pool {args.pool}, hidden {args.hidden})"
        rows[f"{label_name} (val)"] = [pick_rate(val, pool, scorer.score) for pool in POOLS]
        rows[f"{label_name} (train held-out)"] = [pick_rate(held_out, pool, scorer.score) for pool in POOLS]
    print(f"| k = 1 match rate | {' | '.join(f'pool {pool}' for pool in POOLS)} |")
    print(f"| --- |{' --- |' * len(POOLS)}")
    for name, values in rows.items():
        print(f"| {name} | {' | '.join(f'{100 * v:.1f}' for v in values)} |")
    print(f"fit and evaluation: {time.process_time() - start:.0f} CPU-s")
    if args.write:
        scorer = fit_scorer(train.features(args.pool), train.matched, names, args.hidden, args.decay, args.seed,
                            args.pool)  # fmt: skip
        scorer.provenance = {
            "command": "python benchmarks/template_scorer.py " + " ".join(args.argv),
            "labels": f"{args.dataset} lowdata_train, {args.train_count} targets (seed {args.seed}), leave-one-out, "
            f"{args.rule} rule",
            "val_match_rate_k1": round(pick_rate(val, args.pool, scorer.score), 4),
        }
        scorer.save(args.write)
        print(f"wrote {args.write}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    labels = commands.add_parser("label", help="candidates, features and matches of a split's targets")
    labels.add_argument("--split", default="lowdata_train")
    labels.add_argument("--count", type=int, default=3000)
    labels.add_argument("--batch-size", type=int, default=64)
    fits = commands.add_parser("fit", help="fit the scorer on the training labels, evaluate on both")
    fits.add_argument("--train-count", type=int, default=3000)
    fits.add_argument("--val-count", type=int, default=600)
    fits.add_argument("--rule", default="reference", choices=("reference", "structural"), help="training labels")
    fits.add_argument("--hidden", type=int, default=0, help="hidden tanh units (0: linear)")
    fits.add_argument("--decay", type=float, default=1e-4, help="Adam weight decay")
    fits.add_argument("--drop", nargs="*", default=[], help="features left out of every variant")
    fits.add_argument("--ablate", nargs="*", default=[], help="also fit without each of these (a,b: both)")
    fits.add_argument("--write", type=Path, help="save the scorer fitted on all training labels here")
    for command in (labels, fits):
        command.add_argument("--dataset", default="mp_20")
        command.add_argument("--seed", type=int, default=0, help="the lowdata_train subsample and the fit")
        command.add_argument("--pool", type=int, default=20, help="templates per target (fit: the scorer's pool)")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    label(args) if args.command == "label" else fit(args)


if __name__ == "__main__":
    main()
