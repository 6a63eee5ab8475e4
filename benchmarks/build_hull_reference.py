"""Build (or resume) AutoPeri's cached hull reference: CHGNet energies of a reference set plus elemental
prototypes, cached under $AUTOPERI_CACHE_DIR/hull/<key>/ (see docs/physics.md, "Stability protocol").

The full MP-20 training split (27,136 rows) costs about 0.14 s per structure on one core; an interrupted run
resumes where it stopped. Example (a few hundred rows, one process):

    python benchmarks/build_hull_reference.py \
        --reference ../shared/data/mp_20/train_partial.csv.gz --limit 300
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference",
        help="reference dataset: CDVAE .csv/.csv.gz, .extxyz or a folder of "
        "CIFs (default: mp_20/train_partial.csv.gz under the data root)",
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N structures")
    parser.add_argument("--workers", type=int, default=1, help="processes for reading and prototypes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    parser.add_argument("--cache-dir", help="overrides $AUTOPERI_CACHE_DIR for this run")
    args = parser.parse_args()
    if args.cache_dir:
        os.environ["AUTOPERI_CACHE_DIR"] = args.cache_dir

    import torch

    from autoperi.data import data_root
    from autoperi.physics.hull import load_or_build_reference

    torch.set_num_threads(args.threads)
    args.reference = args.reference or str(data_root() / "mp_20" / "train_partial.csv.gz")
    start = time.perf_counter()
    reference = load_or_build_reference(args.reference, limit=args.limit, workers=args.workers)
    seconds = time.perf_counter() - start
    origins = Counter(entry.origin for entry in reference.entries)
    print(f"reference: {args.reference} (limit {args.limit}), model {reference.model_version}")
    print(
        f"entries: {origins['data']} from data, {origins['prototype']} elemental prototypes, "
        f"{len(reference.skipped)} skipped; {len(reference.elements)} elements"
    )
    print(
        f"wall time {seconds:.1f} s (0 if it was already cached), threads={args.threads}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
