"""The parallel engine's cost: Dask's overhead per task, and evaluation throughput with 1 and 2 workers on the
fork pool against a local Dask cluster (the engine of ``--scheduler``), with CPU-seconds.

1. Overhead: ``--tasks`` tasks that do nothing, one item each (as relaxations run), on a local cluster of
   one one-thread worker process; wall and CPU per task (this process, which is client and scheduler, plus
   the worker, counted when the cluster has stopped).
2. Throughput: the structure and composition fingerprints of the first ``--crystals`` crystals of
   ``--input`` (the cost of ``autoperi evaluate``), for each engine and worker count: crystals per second
   of wall time, and CPU-seconds per crystal over this process and its workers. Every engine must give
   the same fingerprints (checked).

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/engine_overhead.py \\
        --input runs/i14/composition_first_hybrid/samples.extxyz --crystals 200 --tasks 2000 \\
        --out benchmarks/results/issue16/engine_overhead.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _cpu_s() -> float:
    """CPU time of this process and of its finished children (the workers of a stopped cluster)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _nothing(item: int) -> int:
    return item


def _local_cluster(workers: int):
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)


def _measured(run: Callable[[], object]) -> tuple[object, float, float]:
    cpu, wall = _cpu_s(), time.perf_counter()
    result = run()
    return result, time.perf_counter() - wall, _cpu_s() - cpu


def dask_overhead(tasks: int) -> dict[str, float]:
    """Empty tasks, one per item as relaxations run, through the engine's ``stream_results``."""
    from autoperi.distributed import dask_client, stream_results

    def run() -> float:
        with dask_client(workers=1) as client:
            list(stream_results(client, _nothing, {"warm-up": (0,)}, progress=False))  # the worker's imports
            start = time.perf_counter()
            jobs = {f"nothing-{index}": (index,) for index in range(tasks)}
            assert sorted(result for _, result in stream_results(client, _nothing, jobs, progress=False)) == list(
                range(tasks)
            )
            return time.perf_counter() - start

    task_wall, wall, cpu = _measured(run)
    return {
        "tasks": tasks,
        "wall_ms_per_task": round(task_wall / tasks * 1000, 3),
        "cpu_ms_per_task_upper_bound": round(cpu / tasks * 1000, 3),  # includes starting the cluster
        "cluster_start_stop_and_tasks_wall_s": round(wall, 2),
        "cpu_s_total": round(cpu, 2),
    }


def throughput(crystals: list, engine: str, workers: int) -> tuple[dict[str, object], np.ndarray]:
    from autoperi.distributed import on_cluster
    from autoperi.metrics.coverage import compute_fingerprints

    def run():
        if engine == "pool":
            return compute_fingerprints(crystals, workers)
        with _local_cluster(workers) as cluster, on_cluster(cluster.scheduler_address):
            return compute_fingerprints(crystals)

    fingerprints, wall, cpu = _measured(run)
    row = {
        "engine": engine,
        "workers": workers,
        "crystals": len(crystals),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "crystals_per_s": round(len(crystals) / wall, 2),
        "cpu_s_per_crystal": round(cpu / len(crystals), 4),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }
    return row, np.hstack([fingerprints.structure, fingerprints.composition])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="crystals: .extxyz, a folder of CIFs or a CSV")
    parser.add_argument("--crystals", type=int, default=200, help="crystals fingerprinted per measurement")
    parser.add_argument("--tasks", type=int, default=2000, help="empty tasks for the overhead measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the results")
    args = parser.parse_args()

    from autoperi.io import read_crystals
    from autoperi.metrics.coverage import compute_fingerprints

    crystals = read_crystals(args.input, workers=1).crystals[: args.crystals]
    compute_fingerprints(crystals[:1], 1)  # imports and presets, in this process and so in forked workers
    overhead = dask_overhead(args.tasks)
    print(json.dumps(overhead), flush=True)
    rows, reference = [], None
    for workers in args.workers:
        for engine in ("pool", "dask"):
            row, values = throughput(crystals, engine, workers)
            reference = values if reference is None else reference
            row["same_fingerprints"] = bool(np.array_equal(values, reference, equal_nan=True))
            print(json.dumps(row), flush=True)
            rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"input": args.input, "cores": len(os.sched_getaffinity(0)), "overhead": overhead, "throughput": rows}
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
