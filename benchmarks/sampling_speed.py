"""Sampling throughput (crystals/s) of a crystal-flow model against the number of ODE steps.

python benchmarks/sampling_speed.py --model runs/mp_20-crystal_flow --num 64 --steps 10 20 50 100 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="shipped model name or model.pt / run folder")
    parser.add_argument("--num", type=int, default=64, help="crystals per measurement (one batch)")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument("--method", default="euler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from autoperi.flow.samplers import network_calls_per_step
    from autoperi.generative.sampling import generate
    from autoperi.metrics.validity import is_structurally_valid
    from autoperi.training.export import load_model

    model, config, metadata = load_model(args.model)
    counts = model.sample_num_atoms(args.num, torch.Generator().manual_seed(args.seed)).tolist()
    print(
        f"model {config.name} ({metadata.get('steps')} training steps), {args.num} crystals, "
        f"mean {sum(counts) / len(counts):.1f} atoms, method {args.method}, {args.threads} threads"
    )
    calls = network_calls_per_step(args.method)
    print("steps  network calls  seconds  crystals/s  structurally valid")
    for steps in args.steps:
        start = time.perf_counter()
        crystals = generate(model, counts, None, steps, args.method, args.seed, batch_size=args.num)
        elapsed = time.perf_counter() - start
        valid = sum(is_structurally_valid(c) for c in crystals) / len(crystals)
        print(f"{steps:5d}  {steps * calls:13d}  {elapsed:7.1f}  {len(crystals) / elapsed:10.2f}  {valid:.1%}")


if __name__ == "__main__":
    main()
