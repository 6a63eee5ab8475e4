"""Tune a model's coordinate anti-annealing (``frac_anneal``) on a validation split, never on test.

python benchmarks/tune_anneal.py --model runs/perov_5-autoencoder --dataset perov_5 --values 0 1 2 3 5 --write

For an autoencoder (or a latent generator's autoencoder) the score is the reconstruction match rate and
RMSE; for a structure-prediction model it is the k=1 CSP match rate and RMSE. The value with the highest
match rate (ties: lowest RMSE) is printed and, with ``--write``, stored in the model file's config, so
that sampling uses it by default.
"""

from __future__ import annotations

import argparse
import json


def anneal_config(config: dict) -> dict:
    """The part of a saved config (dict) that holds the coordinate flow's ``frac_anneal``."""
    model = config["model"]
    if config["model_type"] == "latent_flow":
        return model["autoencoder_config"]["decoder"]
    if config["model_type"] == "autoencoder":
        return model["decoder"]
    return model


def score(model, config, crystals, steps: int, seed: int, method: str = "euler") -> dict:
    from autoperi.generative.model_types import MODEL_TYPES
    from autoperi.generative.sampling import generate, reconstruct_crystals
    from autoperi.metrics.csp import match_rate_and_rmse

    autoencoder = MODEL_TYPES[config.model_type].autoencoder
    if autoencoder is not None:
        predictions = reconstruct_crystals(autoencoder(model), crystals, steps, seed)
    else:
        compositions = [c.atomic_numbers for c in crystals]
        predictions = generate(model, [len(c) for c in compositions], compositions, steps, method, seed=seed)
    result = match_rate_and_rmse([[p] for p in predictions], crystals)
    return {key: result[key] for key in ("match_rate", "rmse")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="model.pt or run folder")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="lowdata_val", help="held out of lowdata_train")
    parser.add_argument("--count", type=int, default=300, help="crystals of the split scored per value")
    parser.add_argument("--values", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0, 5.0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--method", default="euler", help="ODE method (structure-prediction flows only)")
    parser.add_argument("--write", action="store_true", help="store the best value in the model file")
    args = parser.parse_args()

    import torch

    from autoperi.data import load_split
    from autoperi.generative.model_types import MODEL_TYPES
    from autoperi.training.export import load_model, resolve_model_path

    model, config, _ = load_model(args.model, ("autoencoder", "latent_flow", "crystal_flow"))
    autoencoder = MODEL_TYPES[config.model_type].autoencoder
    flow = autoencoder(model).coordinate_flow if autoencoder is not None else model
    limit = config.data.max_atoms
    crystals = [c.niggli_reduced() for c in load_split(args.dataset, args.split) if c.num_atoms <= limit]
    crystals = crystals[: args.count]
    results = {}
    for value in args.values:
        flow.config.frac_anneal = value
        results[value] = score(model, config, crystals, args.steps, args.seed, args.method)
        print(json.dumps({"frac_anneal": value, **results[value]}), flush=True)
    best = max(results, key=lambda v: (results[v]["match_rate"], -(results[v]["rmse"] or 1e9)))
    print(f"best frac_anneal on {args.dataset}/{args.split} ({len(crystals)} crystals): {best}")
    if args.write:
        path = resolve_model_path(args.model)
        payload = torch.load(path, map_location="cpu", weights_only=True)
        anneal_config(payload["config"])["frac_anneal"] = best
        payload["metadata"]["frac_anneal_tuning"] = {"split": f"{args.dataset}/{args.split}", "count": len(crystals)}
        torch.save(payload, path)
        print(f"stored in {path}")


if __name__ == "__main__":
    main()
