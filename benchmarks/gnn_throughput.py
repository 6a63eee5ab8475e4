"""Forward+backward throughput of the equivariant periodic network (and the fully connected baseline) on
batches of MP-20 crystals: graph construction, forward and backward timed separately, float32.

    python benchmarks/gnn_throughput.py --batch-size 64 --batches 10 --threads 2 --seed 0

With ``--flow-configs``, whole training steps of the crystal flow each config builds (flow loss, backward,
Adam step; statistics fitted on the batches) instead, in steps/s (wall) and CPU-s/step (process time):

    python benchmarks/gnn_throughput.py --threads 1 --split train --flow-configs \
        configs/mp_20-crystal_flow_csp.yaml configs/mp_20-crystal_flow_csp-fourier.yaml
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from autoperi.batch import CrystalBatch
from autoperi.data import load_split
from autoperi.nn import FourierBaselineConfig, FullyConnectedBaseline, PaiNNConfig, PeriodicPaiNN
from autoperi.training.config import load_config
from autoperi.training.export import build_model


def seconds(function: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def painn_step(model: PeriodicPaiNN, batch: CrystalBatch, time_values: torch.Tensor) -> dict[str, float]:
    graph_s, graph = seconds(lambda: model.build_graph(batch))
    forward_s, output = seconds(lambda: model(batch, time=time_values, graph=graph))
    loss = output.scalars.square().mean() + output.vectors.square().mean() + output.lattice.square().mean()
    backward_s, _ = seconds(loss.backward)
    return {"graph": graph_s, "forward": forward_s, "backward": backward_s, "edges": graph.num_edges}


def baseline_step(model: FullyConnectedBaseline, batch: CrystalBatch, time_values: torch.Tensor) -> dict[str, float]:
    forward_s, output = seconds(lambda: model(batch, time=time_values))
    backward_s, _ = seconds(output.square().mean().backward)
    pairs = int((batch.num_atoms * batch.num_atoms).sum())
    return {"graph": 0.0, "forward": forward_s, "backward": backward_s, "edges": pairs}


def report(name: str, model: torch.nn.Module, step: Callable, batches: list[CrystalBatch], warmup: int) -> None:
    generator = torch.Generator().manual_seed(0)
    results = []
    for index, batch in enumerate(batches):
        model.zero_grad(set_to_none=True)
        result = step(model, batch, torch.rand(batch.num_crystals, generator=generator))
        if index >= warmup:
            results.append(result)
    parameters = sum(p.numel() for p in model.parameters())
    median = {key: statistics.median(r[key] for r in results) for key in ("graph", "forward", "backward", "edges")}
    total = median["graph"] + median["forward"] + median["backward"]
    size = batches[0].num_crystals
    timings = ", ".join(f"{key} {median[key] * 1e3:.0f} ms" for key in ("graph", "forward", "backward"))
    rates = f"{1 / total:.2f} steps/s, {size / total:.0f} crystals/s"
    print(f"{name}: {parameters:,} parameters, median of {len(results)} batches of {size}:")
    print(f"  {median['edges']:.0f} edges, {timings} -> {rates}")


def report_flow_training(config_path: str, batches: list[CrystalBatch], warmup: int) -> None:
    """Median wall and CPU seconds of a full training step of the model a config builds."""
    config = load_config(config_path)
    model = build_model(config)
    model.fit_statistics(CrystalBatch.from_crystals([c for b in batches for c in b.to_crystals()]))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.lr)
    generator = torch.Generator().manual_seed(0)
    wall, cpu = [], []
    for index, batch in enumerate(batches):
        started, started_cpu = time.perf_counter(), time.process_time()
        loss = model.loss(batch, generator)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= warmup:
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    parameters = sum(p.numel() for p in model.parameters())
    step_s, cpu_s = statistics.median(wall), statistics.median(cpu)
    print(f"{config.name} ({parameters:,} parameters), median of {len(wall)} training steps:")
    print(f"  {1 / step_s:.2f} steps/s, {cpu_s:.3f} CPU-s/step, {batches[0].num_crystals / cpu_s:.0f} crystals/CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="val")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10, help="timed batches (after --warmup more)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--max-neighbors", type=int, nargs="*", default=[0], help="0: no cap (each runs)")
    parser.add_argument("--baseline", action="store_true", help="also time the fully connected baseline")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flow-configs", nargs="*", default=[], help="time crystal-flow training steps instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    crystals = list(load_split("mp_20", args.split))
    count = (args.batches + args.warmup) * args.batch_size
    chosen = np.random.default_rng(args.seed).choice(len(crystals), count, replace=False)
    batches = [
        CrystalBatch.from_crystals([crystals[i] for i in chosen[start : start + args.batch_size]])
        for start in range(0, count, args.batch_size)
    ]
    atoms = statistics.mean(int(b.num_atoms.sum()) for b in batches)
    setup = f"{len(batches)} batches of {args.batch_size} ({atoms:.0f} atoms per batch on average), float32"
    threads = f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {threads}; MP-20 {args.split}, seed {args.seed}, {setup}")
    for config_path in args.flow_configs:
        report_flow_training(config_path, batches, args.warmup)
    if args.flow_configs:
        return
    for cap in args.max_neighbors:
        config = PaiNNConfig(
            hidden_dim=args.hidden, num_layers=args.layers, cutoff=args.cutoff, max_neighbors=cap or None
        )
        label = f"PeriodicPaiNN {args.layers}x{args.hidden}, cutoff {args.cutoff:g} Å, cap {cap or 'none'}"
        report(label, PeriodicPaiNN(config), painn_step, batches, args.warmup)
    if args.baseline:
        config = FourierBaselineConfig(hidden_dim=args.hidden, num_layers=args.layers)
        label = f"FullyConnectedBaseline {args.layers}x{args.hidden}"
        report(label, FullyConnectedBaseline(config), baseline_step, batches, args.warmup)


if __name__ == "__main__":
    main()
