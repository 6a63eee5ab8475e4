"""The property judge's accuracy (issue 19): MAE per property on a split, beside trivial baselines.

python benchmarks/property_judge.py --model mp_20-property_regressor --split test \\
    --out benchmarks/results/issue19/property_judge.json

The regressor (``autoperi train --config configs/mp_20-property_regressor.yaml``) predicts every crystal of
``--split``; the baselines predict the training split's mean and median of each property for every crystal.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mp_20-property_regressor")
    parser.add_argument("--split", default="test", help="the split whose MAE is reported (tune on lowdata_val)")
    parser.add_argument("--out", required=True, help="a JSON file of the table")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from autoperi.data import load_split
    from autoperi.metrics.properties import predict_properties
    from autoperi.training.export import load_model

    model, config, metadata = load_model(args.model, "property_regressor")
    limit = config.data.max_atoms
    train = [c for c in load_split(config.data.dataset, config.data.train_split) if c.num_atoms <= limit]
    judged = [c for c in load_split(config.data.dataset, args.split) if c.num_atoms <= limit]
    start = time.process_time()
    predicted = predict_properties(model, judged)
    rows = {}
    for name in config.model.properties:
        truth = np.array([c.properties[name] for c in judged])
        training = np.array([c.properties[name] for c in train])
        rows[name] = {
            "judge_mae": float(np.abs(predicted[name] - truth).mean()),
            "mean_baseline_mae": float(np.abs(training.mean() - truth).mean()),
            "median_baseline_mae": float(np.abs(np.median(training) - truth).mean()),
        }
        print(name, json.dumps(rows[name]), flush=True)
    summary = {
        "args": vars(args),
        "crystals": len(judged),
        "predict_cpu_s": time.process_time() - start,
        "training": {key: metadata.get(key) for key in ("train_crystals", "total_steps", "total_cpu_seconds")},
        "rows": rows,
    }
    with open(args.out, "w") as handle:
        json.dump(summary, handle, indent=1)


if __name__ == "__main__":
    main()
