"""``autoperi relax``: relax crystals with CHGNet and write the relaxed CIFs and a summary table."""

from __future__ import annotations

import argparse

from autoperi.cli.engine import add_scheduler_option


def add_relax_options(parser: argparse.ArgumentParser, steps_flag: str = "--steps") -> None:
    """--fmax, the step limit (named ``steps_flag``) and --optimizer, with RelaxSettings' defaults."""
    from autoperi.physics.relax import OPTIMIZERS, RelaxSettings  # numpy only: --help stays light

    defaults = RelaxSettings()
    parser.add_argument(
        "--fmax", type=float, default=defaults.fmax, help=f"force threshold in eV/Å (default {defaults.fmax})"
    )
    parser.add_argument(
        steps_flag, type=int, default=defaults.steps, help=f"maximum optimiser steps (default {defaults.steps})"
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=defaults.optimizer,
        help=f"ASE optimiser (default {defaults.optimizer})",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "relax",
        help="relax crystals (positions and cell) with CHGNet; writes OUT/*.cif and OUT/relax.csv",
        description="Relax crystals with CHGNet and an ASE optimiser on a FrechetCellFilter. Writes one CIF "
        "per relaxed crystal and relax.csv: energy_per_atom_initial/final (eV/atom); matched_rms, pymatgen "
        "StructureMatcher's RMS distance between the input and the relaxed crystal normalised by (V/N)^(1/3), "
        "left empty when the matcher (default tolerances) finds no match, as often after a large relaxation; "
        "displacement, the RMS atomic displacement in Å, defined for every relaxed crystal (no matching: atoms "
        "keep their order); steps; converged; error.",
    )
    parser.add_argument("input", help="a .cif, a folder of CIFs, .extxyz, or a CDVAE .csv/.csv.gz")
    parser.add_argument("--out", default="relaxed", help="output folder (default: ./relaxed)")
    add_relax_options(parser)
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    add_scheduler_option(parser, "--workers processes here, a local Dask cluster when more than 1")
    parser.add_argument("--trajectories", action="store_true", help="also write OUT/trajectories/<name>.traj")
    parser.add_argument("--max-atoms", type=int, default=None, help="skip crystals with more atoms than this")
    parser.add_argument(
        "--pressure",
        type=float,
        default=0.0,
        help="external pressure in GPa on bulk cells (default 0); e.g. 10 for Carbon-24, whose crystals were "
        "found by AIRSS at 10 GPa; energies in relax.csv stay CHGNet's energies, without the pV term",
    )
    parser.set_defaults(func=run_relax)


def run_relax(args: argparse.Namespace) -> int:
    import math
    import sys
    from pathlib import Path

    import pandas as pd

    from autoperi.cli.skipped import warn_skipped
    from autoperi.distributed import on_cluster
    from autoperi.errors import AutoPeriError
    from autoperi.io import read_crystals
    from autoperi.io.names import unique_stems
    from autoperi.io.pymatgen_adapter import write_cif
    from autoperi.physics.relax import relax_crystals

    if args.fmax <= 0 or args.steps < 0 or args.workers < 1:
        raise AutoPeriError("--fmax must be positive, --steps non-negative and --workers at least 1")
    if not math.isfinite(args.pressure):
        raise AutoPeriError(f"--pressure must be a finite number of GPa, got {args.pressure}")
    report = read_crystals(args.input, max_atoms=args.max_atoms, workers=1)
    if not report.crystals:
        first = next(iter(report.first_error.values()), "no structures")
        raise AutoPeriError(f"{args.input}: nothing to relax ({first})")
    warn_skipped(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = unique_stems(report.crystals)
    with on_cluster(args.scheduler):  # trajectories are then written where the workers run
        results = relax_crystals(
            report.crystals,
            fmax=args.fmax,
            steps=args.steps,
            workers=args.workers,
            optimizer=args.optimizer,
            trajectory_dir=out / "trajectories" if args.trajectories else None,
            trajectory_names=names,
            pressure_gpa=args.pressure,
        )
    rows = []
    for name, result in zip(names, results, strict=True):
        if result.relaxed is not None:
            write_cif(result.relaxed, out / f"{name}.cif")
        rows.append({"file": f"{name}.cif" if result.relaxed is not None else "", **result.row()})
    pd.DataFrame(rows).to_csv(out / "relax.csv", index=False, float_format="%.6g")
    failed = [r for r in results if r.error]
    converged = sum(r.converged for r in results)
    print(f"relaxed {len(results) - len(failed)} of {len(results)} crystals ({converged} converged) -> {out}")
    if len(failed) == len(results):
        raise AutoPeriError(f"no crystal could be relaxed: {failed[0].error}")
    for result in failed:
        print(f"failed: {result.id or '?'}: {result.error}", file=sys.stderr)
    return 0
