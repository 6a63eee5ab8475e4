"""How large a pore-descriptor Wasserstein distance is between frameworks of one distribution (issue 18).

    python benchmarks/porous_split_distances.py --pores benchmarks/results/issue18/iza_relaxed_pores.csv \
        --evaluation runs/issue18-evaluate/out1/metrics.json

From one ``pores.csv`` of ``autoperi pores`` (every relaxed IZA framework, default settings): the distance of
each descriptor between the val and the test frameworks and between train and test, and a null: two disjoint
random subsets of the sizes of val and test drawn from all frameworks (``--draws`` times, seeded), its median
and 95th percentile. With ``--evaluation``, the distances ``autoperi evaluate`` reported, beside them.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from scipy.stats import wasserstein_distance

from autoperi.data.porous import held_out_split
from autoperi.metrics.porous import PORE_PROPERTIES, PORE_PROPERTY_UNITS


def split_values(rows: list[dict[str, str]], column: str, split: str | None) -> np.ndarray:
    return np.array([float(r[column]) for r in rows if split is None or held_out_split(r["id"]) == split])


def null_distances(values: np.ndarray, sizes: tuple[int, int], draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    distances = []
    for _ in range(draws):
        order = rng.permutation(len(values))
        first, second = order[: sizes[0]], order[sizes[0] : sizes[0] + sizes[1]]
        distances.append(wasserstein_distance(values[first], values[second]))
    return np.array(distances)


def table(rows: list[dict[str, str]], evaluation: dict | None, draws: int, seed: int) -> list[str]:
    header = "| descriptor | val vs test (pores.csv) | train vs test | null median | null 95 % |"
    if evaluation:
        header += " autoperi evaluate, val vs test |"
    lines = [header, "| --- |" + " ---: |" * (header.count("|") - 2)]
    for column in PORE_PROPERTIES:
        val, test, train = (split_values(rows, column, split) for split in ("val", "test", "train"))
        null = null_distances(split_values(rows, column, None), (len(val), len(test)), draws, seed)
        cells = [wasserstein_distance(val, test), wasserstein_distance(train, test), *np.quantile(null, [0.5, 0.95])]
        if evaluation:
            cells.append(evaluation["metrics"][f"wdist_{column}"])
        lines.append(f"| {column} ({PORE_PROPERTY_UNITS[column]}) | " + " | ".join(f"{c:.4g}" for c in cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pores", type=Path, default=Path("benchmarks/results/issue18/iza_relaxed_pores.csv"))
    parser.add_argument("--evaluation", type=Path, help="metrics.json of autoperi evaluate --reference zeolites_iza")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with args.pores.open() as handle:
        rows = list(csv.DictReader(handle))
    evaluation = json.loads(args.evaluation.read_text()) if args.evaluation else None
    print("\n".join(table(rows, evaluation, args.draws, args.seed)))


if __name__ == "__main__":
    main()
