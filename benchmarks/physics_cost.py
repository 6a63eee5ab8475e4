"""CPU cost per training step of each physics loss term (forward + backward to coordinates and lattices).

Batches are random MP-20 validation crystals, as a generator would see them. Repulsion and volume run on
the whole batch; the CHGNet terms (energy, force, stress) on ``--potential-structures`` crystals, alone
and together.

    python benchmarks/physics_cost.py --batch 64 --potential-structures 4 8 --repeats 5 --seed 0 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd
import torch

from autoperi.batch import CrystalBatch
from autoperi.data import data_root
from autoperi.io.pymatgen_adapter import parse_cif_text
from autoperi.physics.chgnet_adapter import chgnet_potential
from autoperi.physics.losses import PhysicsLossConfig, physics_losses


def sample_crystals(count: int, seed: int, max_atoms: int):
    rows = pd.read_csv(data_root() / "mp_20" / "val.csv.gz", usecols=["material_id", "cif"])
    order = np.random.default_rng(seed).permutation(len(rows))
    crystals = []
    for index in order:
        crystal = parse_cif_text(rows.cif[index], rows.material_id[index])[0]
        if crystal.num_atoms <= max_atoms:
            crystals.append(crystal)
        if len(crystals) == count:
            return crystals
    raise SystemExit(f"only {len(crystals)} crystals with at most {max_atoms} atoms")


def step_seconds(crystals, config: PhysicsLossConfig, repeats: int, seed: int) -> tuple[float, float]:
    """Median wall and CPU time of physics_losses + backward on a batch that requires grad (after a warm-up).

    CPU time (this process) is the steadier figure when other processes share the cores.
    """
    times, cpu_times = [], []
    generator = torch.Generator().manual_seed(seed)
    for repeat in range(repeats + 1):
        batch = CrystalBatch.from_crystals(crystals)
        batch.frac_coords.requires_grad_(True)
        batch.lattices.requires_grad_(True)
        time_values = torch.rand(batch.num_crystals, generator=generator)
        start, cpu_start = time.perf_counter(), time.process_time()
        physics_losses(batch, config, time=time_values)["total"].backward()
        if repeat:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    return statistics.median(times), statistics.median(cpu_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="crystals per batch (repulsion, volume)")
    parser.add_argument("--max-atoms", type=int, default=20)
    parser.add_argument("--potential-structures", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    crystals = sample_crystals(args.batch, args.seed, args.max_atoms)
    chgnet_potential()  # load outside the timings
    atoms = [c.num_atoms for c in crystals]
    print(
        f"threads={args.threads} seed={args.seed} batch={len(crystals)} mean atoms={np.mean(atoms):.1f} "
        f"load average={os.getloadavg()[0]:.1f}"
    )
    print("term | crystals | wall s per step | CPU s per step (medians)")
    for term in ("repulsion", "volume"):
        config = PhysicsLossConfig(**{f"{term}_weight": 1.0})
        wall, cpu = step_seconds(crystals, config, args.repeats, args.seed)
        print(f"{term} | {len(crystals)} | {wall:.4f} | {cpu:.4f}")
    for count in args.potential_structures:
        for terms in (("energy",), ("force",), ("stress",), ("energy", "force", "stress")):
            weights = {f"{term}_weight": 1.0 for term in terms}
            config = PhysicsLossConfig(**weights, max_potential_structures=count)
            wall, cpu = step_seconds(crystals, config, args.repeats, args.seed)
            print(f"{'+'.join(terms)} | {count} of {len(crystals)} | {wall:.3f} | {cpu:.3f}")


if __name__ == "__main__":
    main()
