"""Gradient norms of the flow loss and of each physics term, on a trained generator's trainable parameters.

How strongly a physics weight pulls against the flow loss: for ``--seeds`` draws of noise and times on the
first ``--batch`` crystals of the model's training split, the norm of the gradient of the flow loss and of
each weighted physics term (one term at a time, on the model's clean estimate) with respect to the
parameters that training updates (a latent flow's frozen autoencoder excluded). Used to choose the
ablation's weights (docs/BENCHMARKS.md).

    python benchmarks/physics_gradients.py --model mp_20-latent_flow --energy 1.0 --repulsion 10 --volume 1
"""

from __future__ import annotations

import argparse

import torch

from autoperi.batch import CrystalBatch
from autoperi.data import load_split
from autoperi.physics.losses import PhysicsLossConfig, physics_losses
from autoperi.training.export import load_model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a generator's model.pt or shipped name")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--energy", type=float, default=1.0)
    parser.add_argument("--repulsion", type=float, default=10.0)
    parser.add_argument("--volume", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def gradient_norm(loss: torch.Tensor, parameters: list[torch.nn.Parameter]) -> float:
    if not loss.requires_grad:
        return 0.0
    gradients = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g**2).sum() for g in gradients if g is not None)))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    model, config, _ = load_model(args.model)
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    batch = CrystalBatch.from_crystals(list(load_split(config.data.dataset, config.data.train_split))[: args.batch])
    terms = {
        "energy": PhysicsLossConfig(energy_weight=args.energy),
        "repulsion + volume": PhysicsLossConfig(repulsion_weight=args.repulsion, volume_weight=args.volume),
    }
    print("| seed | flow loss | flow gradient norm | term | weighted term | term gradient norm |")
    print("| ---: | ---: | ---: | --- | ---: | ---: |")
    for seed in range(args.seeds):
        losses, estimate, times = model.loss_and_estimate(batch, torch.Generator().manual_seed(seed))
        flow = losses["total"]
        for name, physics in terms.items():
            term = physics_losses(estimate, physics, times)["total"]
            print(
                f"| {seed} | {float(flow):.2f} | {gradient_norm(flow, parameters):.2f} | {name} | "
                f"{float(term):.4f} | {gradient_norm(term, parameters):.3f} |"
            )


if __name__ == "__main__":
    main()
