"""``autoperi evaluate``: the community's metrics on a set of crystals, written as JSON, Markdown and PNGs."""

from __future__ import annotations

import argparse

from autoperi.cli.engine import add_scheduler_option
from autoperi.metrics.zeopp_adapter import PoreSettings  # numpy only: --help stays light


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score generated or predicted crystals against a reference set",
        description="Writes DIR/metrics.json, DIR/report.md and PNG plots. Definitions: docs/evaluation.md.",
    )
    parser.add_argument("input", help="a folder of CIFs or extxyz, an .extxyz, a CDVAE .csv, or AutoPeri sample output")
    parser.add_argument(
        "--reference",
        required=True,
        help="dataset name (mp_20 = its test split, mp_20:val = a split) or a path to crystals",
    )
    parser.add_argument("--task", choices=("dng", "csp", "recon"), default="dng", help="default: dng")
    parser.add_argument("--out", default="evaluation", help="output folder (default: ./evaluation)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    add_scheduler_option(parser, "a process pool of --workers on this machine")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 1,000-sample Wasserstein draw")
    parser.add_argument("--samples", type=int, default=1000, help="valid crystals drawn for Wasserstein distances")
    parser.add_argument(
        "--cutoffs",
        type=float,
        nargs=2,
        metavar=("STRUCT", "COMP"),
        help="COV cut-offs (default: 0.4 10 for MP-20, 0.2 4 for Perov-5 and Carbon-24)",
    )
    parser.add_argument(
        "--novelty-reference",
        action="append",
        metavar="NAME|PATH",
        help="crystals novelty is judged against (repeatable; default: the dataset's train/train_partial/val "
        "splits for a named reference, else the reference itself)",
    )
    parser.add_argument("--no-novelty", action="store_true", help="skip uniqueness and novelty")
    parser.add_argument("--sun", action="store_true", help="S.U.N. with energies above hull from autoperi.physics")
    parser.add_argument("--stability-threshold", type=float, default=0.0, help="E_hull (eV/atom) counted as stable")
    parser.add_argument(
        "--hull-reference",
        metavar="PATH",
        help="crystals whose CHGNet energies build the reference hull (default: the last novelty file)",
    )
    parser.add_argument(
        "--symmetry-fingerprints",
        action="store_true",
        help="fingerprint only symmetry-distinct sites (~1.4x faster, differs from the reference by <5e-3)",
    )
    parser.add_argument("--bond-cutoff", type=float, default=3.5, help="recon: neighbour cut-off in Å")
    parser.add_argument(
        "--probe-radius",
        type=float,
        default=PoreSettings().probe_radius,
        help="a porous reference (zeolites_iza, core_cof, core_mof) adds Zeo++ pore descriptors (extra "
        "autoperi[porous]), their Wasserstein distances, DIR/pores.png and DIR/pores_*.csv: the probe radius in Å "
        f"of the accessible surface and volume (default {PoreSettings().probe_radius})",
    )
    parser.set_defaults(func=run_evaluate)


def _read_input(path_text: str):
    from autoperi.cli.skipped import warn_skipped
    from autoperi.errors import CrystalError
    from autoperi.io import read_crystals

    report = read_crystals(path_text)
    if not report.crystals:
        raise CrystalError("empty", f"nothing to evaluate: {report.summary()}")
    warn_skipped(report, "unreadable entries count as invalid")
    return report


def run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoperi.distributed import on_cluster
    from autoperi.metrics.reference import load_reference
    from autoperi.metrics.report import write_all

    report = _read_input(args.input)
    reference = load_reference(args.reference)
    with on_cluster(args.scheduler):
        if args.task == "dng":
            evaluation = _run_dng(args, report, reference)
        else:
            evaluation = _run_paired(args, report.crystals, reference)
    written = write_all(evaluation, Path(args.out), str(args.input))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _run_dng(args: argparse.Namespace, report, reference):
    from pathlib import Path

    from autoperi.metrics.reference import novelty_reference
    from autoperi.metrics.suite import DngOptions, evaluate_dng

    if args.sun and args.no_novelty:
        from autoperi.errors import AutoPeriError

        raise AutoPeriError("--sun needs uniqueness and novelty: drop --no-novelty")
    novelty = None if args.no_novelty else novelty_reference(args.novelty_reference, reference)
    hull_function = None
    if args.sun and novelty is not None:
        from autoperi.metrics.stability import physics_hull_function

        hull_reference = Path(args.hull_reference) if args.hull_reference else Path(novelty.sources[-1])
        hull_function = physics_hull_function(hull_reference, workers=args.workers or 1)
    options = DngOptions(
        workers=args.workers,
        seed=args.seed,
        n_samples=args.samples,
        cutoffs=tuple(args.cutoffs) if args.cutoffs else None,
        use_symmetry=args.symmetry_fingerprints,
        novelty=novelty,
        sun=args.sun,
        hull_function=hull_function,
        stability_threshold=args.stability_threshold,
        generated_sources=[Path(args.input)],
        pore_settings=PoreSettings(probe_radius=args.probe_radius),
    )
    return evaluate_dng(report.crystals, reference, options, n_unreadable=report.num_skipped)


def _run_paired(args: argparse.Namespace, predictions, reference):
    from autoperi.metrics.csp import group_candidates
    from autoperi.metrics.suite import evaluate_csp, evaluate_reconstruction

    groups, unpaired = group_candidates(predictions, reference.crystals)
    if args.task == "csp":
        return evaluate_csp(groups, reference.crystals, reference, unpaired, args.workers)
    paired = [(group[0], target) for group, target in zip(groups, reference.crystals, strict=True) if group]
    return evaluate_reconstruction(
        [p for p, _ in paired], [t for _, t in paired], reference, unpaired, args.bond_cutoff, args.workers
    )
