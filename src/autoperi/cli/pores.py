"""``autoperi pores``: Zeo++ pore descriptors of crystals, written to OUT/pores.csv."""

from __future__ import annotations

import argparse

POROUS_EXTRA_HINT = "needs the optional extra: pip install 'autoperi[porous]'"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from autoperi.metrics.zeopp_adapter import PoreSettings  # numpy only: --help stays light

    defaults = PoreSettings()
    parser = subparsers.add_parser(
        "pores",
        help=f"pore descriptors (Zeo++) of crystals; writes OUT/pores.csv ({POROUS_EXTRA_HINT})",
        description="Pore descriptors from Zeo++ (through pyzeo; " + POROUS_EXTRA_HINT + "), atoms as hard "
        "spheres of Zeo++'s built-in radii. OUT/pores.csv has one row per crystal: id; num_atoms; density "
        "(g/cm³); largest_included_sphere (Å, diameter of the largest sphere that fits in the void, Zeo++ Di); "
        "largest_free_sphere (Å, diameter of the largest sphere that can cross the cell, the pore-limiting "
        "diameter, Zeo++ Df); accessible_surface_area (m²/g) and accessible_volume (cm³/g), reachable by the "
        "probe's centre along channels (Monte Carlo); void_fraction (fraction of the cell outside every atom, "
        "point probe, pockets included).",
    )
    parser.add_argument("inputs", nargs="+", help="CIF files, folders of CIFs, .extxyz or CDVAE .csv/.csv.gz files")
    parser.add_argument("--out", required=True, help="output folder (pores.csv is written there)")
    parser.add_argument(
        "--probe-radius",
        type=float,
        default=defaults.probe_radius,
        help=f"probe radius in Å for the accessible surface and volume (default {defaults.probe_radius})",
    )
    parser.add_argument(
        "--surface-samples",
        type=int,
        default=defaults.surface_samples_per_atom,
        help=f"Monte Carlo samples per atom for the surface (default {defaults.surface_samples_per_atom})",
    )
    parser.add_argument(
        "--volume-samples",
        type=int,
        default=defaults.volume_samples,
        help=f"Monte Carlo samples per cell for the volumes (default {defaults.volume_samples})",
    )
    parser.add_argument(
        "--high-accuracy", action="store_true", help="Zeo++'s high-accuracy mode (minutes per framework)"
    )
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--max-atoms", type=int, default=None, help="skip crystals with more atoms than this")
    parser.set_defaults(func=run_pores)


def run_pores(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from autoperi.cli.skipped import warn_skipped
    from autoperi.errors import AutoPeriError, CrystalError
    from autoperi.io.readers import ReadReport, read_crystals
    from autoperi.io.tables import write_rows
    from autoperi.metrics.pores import pore_rows
    from autoperi.metrics.zeopp_adapter import PoreSettings, require_pyzeo

    require_pyzeo()
    settings = PoreSettings(args.probe_radius, args.surface_samples, args.volume_samples, args.high_accuracy)
    if args.workers < 1:
        raise AutoPeriError(f"--workers must be at least 1, got {args.workers}")
    report = ReadReport(source=", ".join(args.inputs))
    for path in args.inputs:
        read = read_crystals(path, max_atoms=args.max_atoms, workers=1)
        report.crystals += read.crystals
        report.errors += read.errors
    warn_skipped(report)
    if not report.crystals:
        raise CrystalError("empty", f"{report.source}: no usable crystal to describe")
    started = time.process_time()
    rows, failed = pore_rows(report.crystals, settings, args.workers)
    warn_skipped(failed, "no descriptors")
    if not rows:
        raise CrystalError("empty", f"Zeo++ described none of the {len(report.crystals)} crystals")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = write_rows(rows, out / "pores.csv")
    seconds = time.process_time() - started
    print(f"wrote pore descriptors of {len(rows)} crystals to {path} ({seconds:.1f} CPU-s in this process)")
    return 0
