"""The de novo evaluation of the same crystals with matminer's own CrystalNN featurizer and with AutoPeri's
grouped one (autoperi.metrics.site_fingerprint): identical metrics and fingerprints, and the CPU of each.

    nice -n 10 env OMP_NUM_THREADS=1 python benchmarks/fingerprint_identity.py \\
        --input runs/i14/composition_first_hybrid/samples.extxyz --count 300 --reference mp_20 \\
        --out benchmarks/results/issue16/fingerprint_identity.json

One process, one worker; the reference fingerprints come from the shipped file (a reference without one
is fingerprinted in each run), so only the generated crystals' fingerprints are computed, once per
featurizer, matminer's first; no uniqueness or novelty (they use no fingerprints).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def matminer_featurizer():
    """Within: structure fingerprints from ``CrystalNNFingerprint.from_preset("ops").featurize``."""
    from autoperi.metrics import site_fingerprint

    grouped = site_fingerprint.site_fingerprint
    featurizer, _ = site_fingerprint._featurizer_and_layout()
    site_fingerprint.site_fingerprint = featurizer.featurize
    try:
        yield
    finally:
        site_fingerprint.site_fingerprint = grouped


def evaluated(generated: list, reference, source: Path, cache: Path) -> tuple[dict, np.ndarray, float]:
    """Metrics, generated structure fingerprints and CPU-s of one evaluation, its fingerprints cached in
    ``cache`` (a folder per featurizer, so neither reads the other's)."""
    from autoperi.metrics.coverage import cached_fingerprints
    from autoperi.metrics.suite import DngOptions, evaluate_dng

    os.environ["AUTOPERI_CACHE_DIR"] = str(cache)
    start = time.process_time()
    metrics = evaluate_dng(generated, reference, DngOptions(workers=1, generated_sources=[source])).metrics
    cpu = time.process_time() - start
    fingerprints, from_cache = cached_fingerprints(generated, [source], "generated", 1, False, "generated")
    assert from_cache
    return metrics, fingerprints.structure, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--reference", default="mp_20")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from autoperi.io import read_crystals
    from autoperi.metrics.reference import load_reference

    generated = read_crystals(args.input, workers=1).crystals[: args.count]
    reference = load_reference(args.reference)  # parsed in the usual cache; its fingerprints: cache or shipped
    source = Path(args.input)
    with tempfile.TemporaryDirectory() as folder:
        with matminer_featurizer():
            before, before_prints, before_cpu = evaluated(generated, reference, source, Path(folder) / "matminer")
        after, after_prints, after_cpu = evaluated(generated, reference, source, Path(folder) / "grouped")
    result = {
        "input": args.input,
        "count": len(generated),
        "identical_metrics": before == after,
        "identical_structure_fingerprints": bool(np.array_equal(before_prints, after_prints, equal_nan=True)),
        "evaluate_cpu_s_matminer": round(before_cpu, 1),
        "evaluate_cpu_s_grouped": round(after_cpu, 1),
        "metrics": after,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
