"""Candidates relaxed per hour by `autoperi screen` on a local Dask cluster of 1, 2, ... workers.

The first ``--limit`` crystals of ``--input`` are screened from scratch once per worker count (a new output
folder each time, so nothing is resumed). Each screen is a child process; its wall time and the CPU time of
it and its workers are recorded. Example (the candidates of an earlier screen):

    nice -n 10 python benchmarks/screen_throughput.py --input runs/i16/screen100/samples/samples.extxyz \\
        --limit 12 --workers 1 2 --out runs/i16/throughput
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _subset(source: str, limit: int, path: Path) -> Path:
    from autoperi.io import read_crystals
    from autoperi.io.ase_adapter import write_extxyz

    write_extxyz(read_crystals(source, workers=1).crystals[:limit], path)
    return path


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(candidates: Path, out: Path, workers: int, extra: list[str]) -> dict[str, object]:
    command = [sys.executable, "-m", "autoperi.cli.main", "screen", "--input", str(candidates)]
    command += ["--out", str(out), "--workers", str(workers), *extra]
    cpu_before, start = _children_cpu_s(), time.perf_counter()
    subprocess.run(command, check=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - start
    relaxed = len((out / "relaxations.jsonl").read_text().splitlines())
    return {
        "workers": workers,
        "candidates_relaxed": relaxed,
        "wall_s": round(wall, 1),
        "cpu_s": round(_children_cpu_s() - cpu_before, 1),
        "relaxed_per_hour": round(relaxed / wall * 3600, 1),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="candidates: .extxyz, a folder of CIFs or a CSV")
    parser.add_argument("--limit", type=int, default=12, help="candidates per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to measure")
    parser.add_argument("--out", type=Path, required=True, help="folder for the screens and throughput.json")
    parser.add_argument("screen_options", nargs="*", help="after --: further `autoperi screen` options")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    candidates = _subset(args.input, args.limit, args.out / "candidates.extxyz")
    results = []
    for workers in args.workers:
        result = measure(candidates, args.out / f"workers-{workers}", workers, args.screen_options)
        print(json.dumps(result), flush=True)
        results.append(result)
    (args.out / "throughput.json").write_text(json.dumps({"input": args.input, "results": results}, indent=1))


if __name__ == "__main__":
    main()
