"""Periodic neighbour list: exactness against pymatgen and ASE, and throughput against both, in one run.

Exactness: every directed edge (i, j, integer image) of AutoPeri's batched torch neighbour list is compared
with pymatgen's ``Structure.get_neighbor_list`` and ASE's ``neighbor_list("ijS")`` on all of Perov-5 val,
a seeded sample of MP-20 val and all of Carbon-24 val. Throughput: crystals per second on MP-20 test, each
library on prebuilt inputs (torch batches, pymatgen Structures, ASE Atoms), best and median of repeats.

    python benchmarks/neighbor_list.py --cutoffs 5 8 --mp20-count 1000 --batch-sizes 256 512 --seed 0
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from ase.neighborlist import neighbor_list

from autoperi.batch import CrystalBatch
from autoperi.crystal import Crystal
from autoperi.data import load_split
from autoperi.graph import build_graph
from autoperi.io.ase_adapter import atoms_from_crystal
from autoperi.io.pymatgen_adapter import structure_from_crystal


def canonical(rows: np.ndarray) -> np.ndarray:
    """Edges (E, 5) = (i, j, s_a, s_b, s_c), sorted lexicographically."""
    rows = np.asarray(rows, dtype=np.int64).reshape(-1, 5)
    return rows[np.lexsort(rows.T[::-1])]


def autoperi_edges(crystals: Sequence[Crystal], cutoff: float, batch_size: int) -> list[np.ndarray]:
    edges = []
    for start in range(0, len(crystals), batch_size):
        batch = CrystalBatch.from_crystals(crystals[start : start + batch_size], dtype=torch.float64)
        graph = build_graph(batch, cutoff)
        local = (graph.edge_index - batch.ptr[graph.edge_batch]).T
        rows = torch.cat([local, graph.unit_shifts], dim=1).numpy()
        bounds = np.searchsorted(np.sort(graph.edge_batch.numpy()), np.arange(batch.num_crystals + 1))
        order = np.argsort(graph.edge_batch.numpy(), kind="stable")
        edges += [canonical(rows[order[bounds[b] : bounds[b + 1]]]) for b in range(batch.num_crystals)]
    return edges


def pymatgen_edges(crystal: Crystal, cutoff: float) -> np.ndarray:
    centers, neighbors, images, _ = structure_from_crystal(crystal).get_neighbor_list(cutoff)
    return canonical(np.column_stack([centers, neighbors, np.round(images)]))


def ase_edges(crystal: Crystal, cutoff: float) -> np.ndarray:
    centers, neighbors, shifts = neighbor_list("ijS", atoms_from_crystal(crystal), cutoff, self_interaction=False)
    return canonical(np.column_stack([centers, neighbors, shifts]))


def edge_length(crystal: Crystal, edge: np.ndarray) -> float:
    i, j, *shift = edge
    return float(np.linalg.norm((crystal.frac_coords[j] + shift - crystal.frac_coords[i]) @ crystal.lattice))


def check_exactness(name: str, crystals: list[Crystal], cutoff: float, batch_size: int) -> None:
    ours = autoperi_edges(crystals, cutoff, batch_size)
    for library, reference in (("pymatgen", pymatgen_edges), ("ASE", ase_edges)):
        mismatched = []
        for crystal, edges in zip(crystals, ours, strict=True):
            expected = reference(crystal, cutoff)
            if not np.array_equal(edges, expected):
                mismatched.append((crystal, edges, expected))
        total = sum(len(e) for e in ours)
        print(
            f"  {name:<10} cutoff {cutoff:g} Å vs {library:<8}: {len(crystals)} crystals, {total} edges, "
            f"{len(mismatched)} crystals differ"
        )
        for crystal, edges, expected in mismatched[:5]:
            ours_set, theirs_set = set(map(tuple, edges)), set(map(tuple, expected))
            only_ours = sorted(ours_set - theirs_set)[:3]
            only_theirs = sorted(theirs_set - ours_set)[:3]
            lengths = [f"{edge_length(crystal, np.array(e)):.10f}" for e in only_ours + only_theirs]
            print(f"    {crystal.id}: only ours {only_ours}, only {library} {only_theirs}, lengths {lengths}")


def timed(function: Callable[[object], object], inputs: Sequence[object]) -> tuple[float, float]:
    """(wall, process CPU) seconds to call ``function`` on every input; results are dropped at once, as a
    training loop would. CPU time leaves out the time other processes held the core."""
    gc.disable()  # as timeit does: no collector passes over the many pymatgen/ASE objects mid-measurement
    wall, cpu = time.perf_counter(), time.process_time()
    for item in inputs:
        function(item)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.enable()
    return wall, cpu


def throughput(crystals: list[Crystal], cutoff: float, batch_sizes: list[int], repeats: int) -> None:
    batched = {
        f"autoperi, batches of {size}": [
            CrystalBatch.from_crystals(crystals[start : start + size], dtype=torch.float64)
            for start in range(0, len(crystals), size)
        ]
        for size in batch_sizes
    }
    structures = [structure_from_crystal(c) for c in crystals]
    atoms = [atoms_from_crystal(c) for c in crystals]
    pymatgen, ase = "pymatgen get_neighbor_list", "ASE neighbor_list ijS"
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in [*batched, pymatgen, ase]}
    for _ in range(repeats):  # interleaved, so that load from other processes hits every library alike
        for name, batches in batched.items():
            runs[name].append(timed(lambda batch: build_graph(batch, cutoff), batches))
        runs[pymatgen].append(timed(lambda structure: structure.get_neighbor_list(cutoff), structures))
    runs[ase].append(timed(lambda atom: neighbor_list("ijS", atom, cutoff, self_interaction=False), atoms))
    edges = sum(build_graph(b, cutoff).num_edges for b in next(iter(batched.values())))
    print(f"  cutoff {cutoff:g} Å: {len(crystals)} crystals, {edges / len(crystals):.1f} edges per crystal")
    print("    crystals/s: wall best, wall median, CPU-time median; speed-ups over pymatgen in the same order")
    rates = {
        name: (
            len(crystals) / min(wall for wall, _ in times),
            len(crystals) / statistics.median(wall for wall, _ in times),
            len(crystals) / statistics.median(cpu for _, cpu in times),
        )
        for name, times in runs.items()
    }
    for name, rate in rates.items():
        text = f"{rate[0]:>8.0f} {rate[1]:>8.0f} {rate[2]:>8.0f}"
        ratios = " ".join(f"{mine / theirs:.1f}x" for mine, theirs in zip(rate, rates[pymatgen], strict=True))
        print(f"    {name:<28} {text} ({len(runs[name])} runs){'  ' + ratios if name in batched else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cutoffs", type=float, nargs="+", default=[5.0])
    parser.add_argument("--mp20-count", type=int, default=1000, help="MP-20 val crystals checked for exactness")
    parser.add_argument("--throughput-count", type=int, default=0, help="MP-20 test crystals timed (0: all)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256], help="crystals per torch batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (pymatgen and ASE use one core)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-exactness", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); seed {args.seed}")
    if not args.skip_exactness:
        mp20 = list(load_split("mp_20", "val"))
        chosen = np.sort(np.random.default_rng(args.seed).choice(len(mp20), args.mp20_count, replace=False))
        sets = {
            "perov_5": list(load_split("perov_5", "val")),
            "mp_20": [mp20[i] for i in chosen],
            "carbon_24": list(load_split("carbon_24", "val")),
        }
        print("Exactness (val splits; MP-20: a seeded sample):")
        for cutoff in args.cutoffs:
            for name, crystals in sets.items():
                check_exactness(name, crystals, cutoff, args.batch_sizes[0])
    if not args.skip_throughput:
        test = list(load_split("mp_20", "test"))
        test = test[: args.throughput_count] if args.throughput_count else test
        print("Throughput on MP-20 test:")
        for cutoff in args.cutoffs:
            throughput(test, cutoff, args.batch_sizes, args.repeats)


if __name__ == "__main__":
    main()
