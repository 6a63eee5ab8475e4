"""Autoencoder reconstruction on a training and a held-out split: match rate, RMSE and the seed's errors.

python benchmarks/reconstruction_benchmark.py --model runs/perov_5-autoencoder --dataset perov_5 --count 0

Crystals are encoded to posterior means and decoded with ``--steps`` Euler steps of the coordinate flow.
Both splits are scored with the same code as ``autoperi reconstruct`` (StructureMatcher(stol=0.5,
ltol=0.3, angle_tol=10) match rate and RMSE, coordinate / bond-length / lattice MSE, type accuracy), so
the gap between them is the autoencoder's generalisation gap. ``--count 0`` takes a whole split; the
training split is capped at the size of the held-out one.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="an autoencoder or latent generator (model.pt or run folder)")
    parser.add_argument("--dataset", default="perov_5")
    parser.add_argument("--train-split", default="lowdata_train")
    parser.add_argument("--test-split", default="test")
    parser.add_argument("--count", type=int, default=1000, help="crystals per split (0: the whole test split)")
    parser.add_argument("--steps", type=int, default=None, help="decoder steps (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frac-anneal", type=float, default=None, help="override the decoder's tuned value")
    parser.add_argument("--out", default=None, help="write the JSON result here")
    args = parser.parse_args()

    from autoperi.data import load_split
    from autoperi.generative.sampling import reconstruct_crystals
    from autoperi.metrics.reconstruction import pair_errors, summarise_pairs
    from autoperi.training.export import load_autoencoder

    autoencoder, config, metadata = load_autoencoder(args.model)
    if args.frac_anneal is not None:
        autoencoder.coordinate_flow.config.frac_anneal = args.frac_anneal
    max_atoms = config.data.max_atoms
    test = [c for c in load_split(args.dataset, args.test_split) if c.num_atoms <= max_atoms]
    test = test[: args.count] if args.count else test
    train = [c for c in load_split(args.dataset, args.train_split) if c.num_atoms <= max_atoms][: len(test)]
    result = {
        "model": config.name,
        "training_steps": metadata.get("steps"),
        "decoder_steps": args.steps,
        "frac_anneal": autoencoder.coordinate_flow.config.frac_anneal,
    }
    for label, split, crystals in (("train", args.train_split, train), ("test", args.test_split, test)):
        targets = [c.niggli_reduced() for c in crystals]
        start = time.perf_counter()
        predictions = reconstruct_crystals(autoencoder, targets, args.steps, args.seed)
        seconds = time.perf_counter() - start
        summary = summarise_pairs(pair_errors(predictions, targets), predictions, targets)
        result[label] = {"split": split, "crystals": len(targets), "decode_seconds": round(seconds, 1), **summary}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
