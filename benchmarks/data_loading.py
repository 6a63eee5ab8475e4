"""Time the first (parsing) and later (cached) loads of a dataset split.

python benchmarks/data_loading.py --dataset mp_20 --split val --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="mp_20")
    parser.add_argument("--split", default="val")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["AUTOPERI_CACHE_DIR"] = cache  # a cold cache, whatever the user's holds
        from autoperi.data import load_split

        start = time.perf_counter()
        first = load_split(args.dataset, args.split)
        cold = time.perf_counter() - start
        warm = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            again = load_split(args.dataset, args.split)
            warm.append(time.perf_counter() - start)
            assert again.from_cache and len(again) == len(first)
    print(f"{args.dataset}/{args.split}: {len(first)} crystals, {first.num_skipped} skipped")
    print(f"first load (parse {os.cpu_count()} processes + write cache): {cold:.1f} s")
    print(f"cached load: median {statistics.median(warm):.2f} s over {args.repeats} (min {min(warm):.2f} s)")


if __name__ == "__main__":
    main()
