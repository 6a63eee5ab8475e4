"""How many of a hybrid's k candidates should be flow draws rather than templates: recombine scored lists.

python benchmarks/csp_benchmark.py --strategy template --dataset mp_20 --split lowdata_val --count 500 --k 20 \
    --rank-pool 5 --save-scores runs/mix/template.npz
python benchmarks/csp_benchmark.py --strategy flow --model MODEL --dataset mp_20 --split lowdata_val --count 500 \
    --k 10 --save-scores runs/mix/flow.npz
python benchmarks/hybrid_mix.py --templates runs/mix/template.npz --flow runs/mix/flow.npz --k 1 5 20

Both score files must come from the same targets in the same order. For every k and every number f of flow
slots, each target's list is its first k - f templates followed by flow draws up to k (a target with fewer
templates gets more draws, as the hybrid fills them), and the reference-rule match rate over all targets
and the mean best RMSE of the matched ones are printed (the rule of :mod:`autoperi.metrics.csp`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from result_io import emit


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--templates", type=Path, required=True, help="scores of a template run (k >= max k)")
    parser.add_argument("--flow", type=Path, required=True, help="scores of a flow run")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--json", type=Path, help="also write the table here")
    return parser.parse_args()


def per_target_rms(path: Path) -> tuple[list[np.ndarray], int]:
    """Each target's candidates' RMSE in rank order (NaN: no reference-rule match), and the number of targets."""
    scores = np.load(path)
    num_targets = len(scores["target_valid"])
    rms = np.where(scores["matched"], scores["rms"], np.nan)
    lists: list[list[float]] = [[] for _ in range(num_targets)]
    for target, _rank, value in sorted(zip(scores["target_index"], scores["rank"], rms, strict=True)):
        lists[int(target)].append(float(value))
    return [np.asarray(values) for values in lists], num_targets


def mixed_lists(templates: list[np.ndarray], flow: list[np.ndarray], k: int, flow_slots: int) -> list[np.ndarray]:
    """Each target's first ``k - flow_slots`` templates, then flow draws up to ``k``."""
    lists = []
    for template, draws in zip(templates, flow, strict=True):
        kept = template[: k - flow_slots]
        lists.append(np.concatenate([kept, draws[: k - len(kept)]]))
    return lists


def summary(lists: list[np.ndarray]) -> dict[str, float | None]:
    best = np.array([np.nanmin(values) if np.isfinite(values).any() else np.inf for values in lists])
    matched = np.isfinite(best)
    return {"match_rate": float(matched.mean()), "rmse": float(best[matched].mean()) if matched.any() else None}


def main() -> None:
    args = parse_args()
    templates, num_targets = per_target_rms(args.templates)
    flow, num_flow_targets = per_target_rms(args.flow)
    if num_targets != num_flow_targets:
        raise SystemExit(f"the score files have {num_targets} and {num_flow_targets} targets")
    shortest_flow = min(len(draws) for draws in flow)
    rows = []
    for k in args.k:
        for flow_slots in range(min(k, shortest_flow) + 1):
            row = {"k": k, "flow_slots": flow_slots, **summary(mixed_lists(templates, flow, k, flow_slots))}
            rows.append(row)
            rmse = "-" if row["rmse"] is None else f"{row['rmse']:.4f}"
            print(f"k={k:3d} flow slots {flow_slots:3d}: {100 * row['match_rate']:6.2f} % / {rmse}")
    emit({"targets": num_targets, "rows": rows}, args.json, echo=False)


if __name__ == "__main__":
    main()
