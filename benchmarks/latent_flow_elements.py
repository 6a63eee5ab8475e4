"""Why the latent flow mixes elements: distinct elements per crystal, from the types decoded out of latents.

python benchmarks/latent_flow_elements.py --model mp_20-latent_flow --dataset mp_20 --count 1000 --seed 0

Three sets of per-atom latents go through the autoencoder's type decoder (no coordinate decoding, so it is
cheap): posterior means of real test crystals (does decoding types from a real crystal's latents add
elements?), and latents sampled by the latent flow (does the flow put atom latents where the decoder
mixes?). For each: mean distinct elements, the fraction with >= 6 elements, per atom-count bucket, and
the decoder's mean top-class probability (low: latents between element clusters). The test split's own
element counts are the reference. Writes a JSON report to --out (default: stdout).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 20))


def _element_counts(types: torch.Tensor, num_atoms: torch.Tensor) -> np.ndarray:
    return np.array([len(set(chunk.tolist())) for chunk in torch.split(types, num_atoms.tolist())])


def _summary(elements: np.ndarray, num_atoms: np.ndarray, confidence: float | None = None) -> dict:
    row = {"crystals": len(elements), "mean_elements": round(float(elements.mean()), 3)}
    row["frac_6plus"] = round(float((elements >= 6).mean()), 4)
    for low, high in BUCKETS:
        chosen = (num_atoms >= low) & (num_atoms <= high)
        row[f"mean_elements_{low}-{high}_atoms"] = round(float(elements[chosen].mean()), 3) if chosen.any() else None
    if confidence is not None:
        row["mean_top_type_probability"] = round(confidence, 4)
    return row


def _decoded(autoencoder, latent) -> tuple[np.ndarray, float]:
    logits = autoencoder.type_decoder(latent.per_atom())
    types = logits.argmax(-1) + 1
    confidence = float(logits.softmax(-1).max(-1).values.mean())
    return _element_counts(types, latent.num_atoms), confidence


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mp_20-latent_flow")
    parser.add_argument("--dataset", default="mp_20")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from autoperi.batch import CrystalBatch
    from autoperi.data import load_split
    from autoperi.training.export import load_model

    model, _, _ = load_model(args.model, "latent_flow")
    autoencoder = model.autoencoder
    rng = np.random.default_rng(args.seed)
    test = [c for c in load_split(args.dataset, "test") if c.num_atoms <= model.config.max_atoms]
    chosen = [test[i] for i in rng.choice(len(test), min(args.count, len(test)), replace=False)]
    batch = CrystalBatch.from_crystals(chosen, dtype=next(autoencoder.parameters()).dtype)
    true_elements = _element_counts(batch.atomic_numbers, batch.num_atoms)
    encoded = autoencoder.encode(batch)
    encoded_elements, encoded_confidence = _decoded(autoencoder, encoded)
    type_accuracy = float((autoencoder.decode_types(encoded) == batch.atomic_numbers).double().mean())

    generator = torch.Generator().manual_seed(args.seed)
    counts = model.sample_num_atoms(args.count, generator)
    sampled = model.sample_latents(counts, args.steps, "euler", generator)
    sampled_elements, sampled_confidence = _decoded(autoencoder, sampled)
    same_counts = model.sample_latents(batch.num_atoms, args.steps, "euler", generator)
    same_elements, same_confidence = _decoded(autoencoder, same_counts)

    true_counts = batch.num_atoms.numpy()
    report = {
        "command": vars(args),
        "test_split_true": _summary(true_elements, true_counts),
        "test_posterior_means_decoded": _summary(encoded_elements, true_counts, encoded_confidence)
        | {
            "type_accuracy": round(type_accuracy, 4),
            "same_element_count_as_input": float((encoded_elements == true_elements).mean()),
        },
        "latent_flow_samples": _summary(sampled_elements, counts.numpy(), sampled_confidence),
        "latent_flow_samples_test_atom_counts": _summary(same_elements, true_counts, same_confidence),
    }
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
