"""Cheap scores to choose among template candidates, ranking levers for the hybrid strategy (issue 13).

python benchmarks/template_ranking.py --model runs/mp_20-csp-s13/snapshots/step_002500.pt --count 200 --k 10
python benchmarks/template_ranking.py --chgnet --count 200 --k 5
python benchmarks/template_ranking.py --chgnet --count 600 --k 20 --distance-weights 0 0.01 0.03 0.1 --save val.npz

For each of the first ``--count`` targets of ``--split`` of ``--dataset`` (MP-20 ``lowdata_val`` by default)
the ``--k`` nearest templates are scored, and the lowest-scoring template is picked among the first 3, 5, 10
or all k. Scores: with ``--model``, the
squared norm of a CSP flow's predicted velocity at time t with the template as the state (fractional part:
mean over atoms; lattice part: the 6-vector), since a flow that has learnt the data should move
real-looking crystals least; with ``--chgnet``, CHGNet's energy per atom of the unrelaxed, volume-scaled
template. Printed: the match rate (reference rule) of the nearest template, of the best of k (oracle) and
of each picking rule. ``--distance-weights`` also ranks by energy per atom + w * template distance per
atom (Mendeleev units; CHGNet scores only). ``--save`` keeps the per-candidate energies, distances and
matches (npz) for other picking rules without rescoring.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def velocity_scores(model, crystals: list, time: float, batch_size: int = 64) -> dict[str, np.ndarray]:
    from autoperi.batch import CrystalBatch
    from autoperi.nn.embeddings import segment_mean

    scores: dict[str, list[float]] = {"frac": [], "lattice": []}
    with torch.no_grad():
        for start in range(0, len(crystals), batch_size):
            batch = CrystalBatch.from_crystals(crystals[start : start + batch_size])
            times = torch.full((batch.num_crystals,), time)
            velocity, _ = model.predict(model.clean_state(batch), times, batch.num_atoms, batch.atomic_numbers)
            frac = segment_mean(velocity["frac"].pow(2).sum(-1, keepdim=True), batch.batch, batch.num_crystals)
            scores["frac"] += frac[:, 0].tolist()
            scores["lattice"] += velocity["lattice"].pow(2).sum(-1).tolist()
    arrays = {key: np.asarray(values) for key, values in scores.items()}
    return arrays | {"sum": arrays["frac"] + arrays["lattice"]}


def chgnet_energies(crystals: list, batch_size: int = 64) -> np.ndarray:
    from autoperi.physics.hull import static_energies

    values = [value for _, value in static_energies(crystals, batch_size)]
    return np.array([value if isinstance(value, float) else np.inf for value in values])


def pick_rate(matched: np.ndarray, bounds: np.ndarray, pick) -> float:
    hits = [matched[bounds[i] + pick(i)] for i in range(len(bounds) - 1) if bounds[i + 1] > bounds[i]]
    return float(np.sum(hits)) / (len(bounds) - 1)


def lowest_of(values: np.ndarray, bounds: np.ndarray, among: int):
    """For target i: the index of the lowest score among its first ``among`` candidates."""
    return lambda i: int(np.argmin(values[bounds[i] : min(bounds[i + 1], bounds[i] + among)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="score with this MP-20 CSP flow (model.pt)")
    parser.add_argument("--chgnet", action="store_true", help="score with CHGNet's energy per atom")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--times", type=float, nargs="+", default=[0.5, 0.8, 0.95])
    parser.add_argument("--distance-weights", type=float, nargs="*", default=[], help="energy + w * distance/atom")
    parser.add_argument("--dataset", default="mp_20")
    parser.add_argument("--split", default="lowdata_val", help="tune on validation targets only")
    parser.add_argument("--save", help="write the per-candidate scores here (npz)")
    args = parser.parse_args()

    from autoperi.data import load_split
    from autoperi.generative.templates import template_library
    from autoperi.metrics.csp import score_candidates
    from autoperi.training.export import load_model

    torch.set_num_threads(1)
    library = template_library(args.dataset)
    targets = list(load_split(args.dataset, args.split))[: args.count]
    groups = [library.candidates(t.atomic_numbers, args.k) for t in targets]
    flat = [c for group in groups for c in group]
    scores = score_candidates(groups, targets, 1)
    matched = scores.reference_matches()
    bounds = np.cumsum([0] + [len(group) for group in groups])
    oracle = np.mean([matched[bounds[i] : bounds[i + 1]].any() for i in range(len(groups))])
    print(f"nearest template {pick_rate(matched, bounds, lambda i: 0):.3f}, best of {args.k} {oracle:.3f}")
    rankings: dict[str, np.ndarray] = {}
    if args.chgnet:
        energies = chgnet_energies(flat)
        rankings["chgnet energy per atom"] = energies
        distances = np.array([c.properties["template_distance"] / c.num_atoms for c in flat])
        for weight in args.distance_weights:
            rankings[f"chgnet energy + {weight} * distance"] = energies + weight * distances
        if args.save:
            np.savez(args.save, energies=energies, distances=distances, matched=matched, bounds=bounds)
    if args.model:
        model = load_model(args.model, "crystal_flow")[0]
        for time in args.times:
            for key, values in velocity_scores(model, flat, time).items():
                rankings[f"flow t={time} {key}"] = values
    for name, values in rankings.items():
        for among in sorted({n for n in (3, 5, 10) if n < args.k} | {args.k}):
            rate = pick_rate(matched, bounds, lowest_of(values, bounds, among))
            print(f"{name}, lowest of the first {among}: {rate:.3f}")


if __name__ == "__main__":
    main()
