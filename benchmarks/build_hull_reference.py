"""Build (or resume) a hull reference: CHGNet energies of a reference set plus elemental prototypes (see
docs/physics.md, "Stability protocol").

With one ``--reference`` file and no ``--out``, the reference is AutoPeri's cached one for that file, under
$AUTOPERI_CACHE_DIR/hull/<key>/. With ``--out FILE.json``, the crystals of every ``--reference`` file (ids made
unique as ``<id>#<index>``, in the order given) are written there as one saved reference, with the build
command and the files' sha256 as its provenance; ``--work-dir`` keeps the resumable checkpoints. Static CHGNet
energies run batched at about 35 structures per second on one core; an interrupted run resumes.

The reference shipped with AutoPeri (every MP-20 crystal outside the test split, plus prototypes):

    python benchmarks/build_hull_reference.py --reference ../shared/data/mp_20/val.csv.gz \\
        ../shared/data/mp_20/train_partial.csv.gz --out src/autoperi/screening/mp_20_hull.json \\
        --work-dir runs/hull_mp_20
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path


def build_saved_reference(files: list[str], out: Path, work_dir: Path, workers: int):
    from autoperi.caching import path_sha256
    from autoperi.io import read_crystals
    from autoperi.physics.chgnet_adapter import chgnet_potential
    from autoperi.physics.hull import build_reference

    crystals = [c for path in files for c in read_crystals(path, workers=workers).crystals]
    crystals = [c.copy(id=f"{c.id or 'row'}#{index}") for index, c in enumerate(crystals)]
    digests = ", ".join(f"{Path(path).name} sha256 {path_sha256(Path(path))}" for path in files)
    command = "python benchmarks/build_hull_reference.py " + " ".join(sys.argv[1:])
    source = f"{digests}; built {time.strftime('%Y-%m-%d')} by: {command}"
    work_dir.mkdir(parents=True, exist_ok=True)
    model_version = chgnet_potential().version
    reference = build_reference(crystals, model_version, source=source, work_dir=work_dir, workers=workers)
    out.parent.mkdir(parents=True, exist_ok=True)
    reference.save(out)
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reference",
        nargs="+",
        help="reference datasets: CDVAE .csv/.csv.gz, .extxyz or a folder of CIFs (default: mp_20/train_partial.csv.gz "
        "under the data root)",
    )
    parser.add_argument("--limit", type=int, default=None, help="cached build: use only the first N structures")
    parser.add_argument("--out", type=Path, help="write one saved reference (.json) of every --reference file")
    parser.add_argument("--work-dir", type=Path, help="with --out: checkpoint folder (default: OUT's name + .work)")
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
    files = args.reference or [str(data_root() / "mp_20" / "train_partial.csv.gz")]
    start = time.perf_counter()
    if args.out:
        work_dir = args.work_dir or args.out.with_name(args.out.name + ".work")
        reference = build_saved_reference(files, args.out, work_dir, args.workers)
    elif len(files) == 1:
        reference = load_or_build_reference(files[0], limit=args.limit, workers=args.workers)
    else:
        parser.error("several --reference files need --out")
    seconds = time.perf_counter() - start
    origins = Counter(entry.origin for entry in reference.entries)
    print(f"reference: {', '.join(files)} (limit {args.limit}), model {reference.model_version}")
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
