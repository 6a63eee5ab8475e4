"""Wall time of the de novo evaluation suite per stage, and its extrapolation to 10,000 crystals.

Stand-in "generated" crystals: a seeded sample of a dataset split with Gaussian coordinate noise and a
random lattice strain, so validity, fingerprints, uniqueness and novelty all do real work. Example:

    python benchmarks/evaluate_speed.py --count 200 --reference mp_20 --source mp_20:val --seed 0
    python benchmarks/evaluate_speed.py --count 1200 --seed 1 --write-extxyz standin1200.extxyz
    autoperi evaluate standin1200.extxyz --reference mp_20 --out evaluation

Per-crystal stages (validity, fingerprints, uniqueness, novelty) are timed on ``--count`` crystals and
scaled linearly. The coverage step (nearest neighbours) is timed at full size: ``--extrapolate-to`` rows
against the whole reference, using the cached reference fingerprints when present (else random arrays of
the same shape: its cost does not depend on the values). The one-time reference featurisation is timed
on ``--reference-sample`` reference crystals and scaled to the whole reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from autoperi.crystal import Crystal
from autoperi.io.ase_adapter import write_extxyz
from autoperi.metrics.coverage import (
    COMPOSITION_FP_SIZE,
    STRUCTURE_FP_SIZE,
    Fingerprints,
    compute_fingerprints,
    coverage,
)
from autoperi.metrics.reference import load_reference, novelty_reference
from autoperi.metrics.suite import validity_arrays
from autoperi.metrics.uniqueness import novel_mask, unique_mask


def stand_in_generated(source: list[Crystal], count: int, seed: int, noise: float, strain: float) -> list[Crystal]:
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(source), count, replace=count > len(source))
    generated = []
    for index, source_index in enumerate(chosen):
        crystal = source[source_index]
        lattice = crystal.lattice @ (np.eye(3) + rng.normal(0, strain, (3, 3)))
        cart = crystal.cart_coords + rng.normal(0, noise, (crystal.num_atoms, 3))
        frac = (cart @ np.linalg.inv(crystal.lattice)) % 1.0
        generated.append(crystal.copy(lattice=lattice, frac_coords=frac, id=f"gen-{index}", properties={}))
    return generated


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def random_fingerprints(rows: int, rng: np.random.Generator) -> Fingerprints:
    return Fingerprints(rng.random((rows, STRUCTURE_FP_SIZE)), rng.random((rows, COMPOSITION_FP_SIZE)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="generated crystals to evaluate")
    parser.add_argument("--reference", default="mp_20", help="reference set (default: MP-20 test)")
    parser.add_argument("--source", default="mp_20:val", help="split the stand-in crystals are drawn from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.1, help="coordinate noise (Å)")
    parser.add_argument("--strain", type=float, default=0.02, help="lattice strain (standard deviation)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--extrapolate-to", type=int, default=10_000)
    parser.add_argument("--reference-sample", type=int, default=100, help="reference crystals featurised")
    parser.add_argument(
        "--write-extxyz", metavar="PATH", help="only write the stand-ins (for timing `autoperi evaluate` on them)"
    )
    args = parser.parse_args()
    if args.write_extxyz:
        source = load_reference(args.source).crystals
        write_extxyz(stand_in_generated(source, args.count, args.seed, args.noise, args.strain), args.write_extxyz)
        return

    rng = np.random.default_rng(args.seed)
    reference = load_reference(args.reference)
    novelty = novelty_reference(None, reference)
    generated = stand_in_generated(load_reference(args.source).crystals, args.count, args.seed, args.noise, args.strain)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(
        f"workers: {args.workers or 'all'}; seed {args.seed}; reference {reference.label} ({len(reference.crystals)})"
    )
    print(f"generated: {args.count} stand-ins from {args.source} (noise {args.noise} Å, strain {args.strain}),")
    print(f"  mean {np.mean([c.num_atoms for c in generated]):.2f} atoms; novelty vs {novelty.label}")

    warm_up = timed(compute_fingerprints, generated[:1], 1)[1]  # imports matminer, loads CrystalNN presets
    print(f"first-call overhead (imports, presets): {warm_up:.1f} s, not scaled")
    per_crystal = {
        "validity": timed(validity_arrays, generated, args.workers)[1],
        "fingerprints": timed(compute_fingerprints, generated, args.workers)[1],
        "uniqueness": timed(unique_mask, generated, args.workers)[1],
        "novelty": timed(novel_mask, generated, novelty.crystals, args.workers)[1],
    }
    sample = [reference.crystals[i] for i in rng.choice(len(reference.crystals), args.reference_sample, False)]
    reference_seconds = timed(compute_fingerprints, sample, args.workers)[1]
    reference_full = reference_seconds * len(reference.crystals) / args.reference_sample
    ref_prints = random_fingerprints(len(reference.crystals), rng)
    _, coverage_seconds = timed(coverage, random_fingerprints(args.extrapolate_to, rng), ref_prints, 0.4, 10.0)

    scale = args.extrapolate_to / args.count
    print(f"measured on {args.count} generated crystals (s):")
    for stage, seconds in per_crystal.items():
        print(f"  {stage}: {seconds:.1f}  -> x{scale:.0f} = {seconds * scale:.0f} s (extrapolated)")
    print(
        f"measured: coverage, {args.extrapolate_to} x {len(reference.crystals)} fingerprints: {coverage_seconds:.1f} s"
    )
    total = sum(per_crystal.values()) * scale + coverage_seconds
    print(f"EXTRAPOLATED total for {args.extrapolate_to} generated, reference cached: {total / 60:.1f} min")
    print(
        f"reference featurisation, {args.reference_sample} crystals: {reference_seconds:.1f} s -> "
        f"{len(reference.crystals)} crystals: {reference_full / 60:.1f} min (extrapolated, once, then cached)"
    )


if __name__ == "__main__":
    main()
