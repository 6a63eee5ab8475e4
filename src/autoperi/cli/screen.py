"""``autoperi screen``: sample (or read) candidates, relax them with CHGNet on Dask, place them on a hull and
mark the stable, unique and novel ones; resumable (see docs/screening.md)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from autoperi.cli.engine import add_scheduler_option
from autoperi.cli.relax import add_relax_options
from autoperi.cli.sample import add_sampling_options

if TYPE_CHECKING:
    from pathlib import Path

    from autoperi.crystal import Crystal


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from autoperi.choices import METASTABLE_THRESHOLD, STABLE_THRESHOLD
    from autoperi.screening.html_report import DEFAULT_NUM_STRUCTURES

    parser = subparsers.add_parser(
        "screen",
        help="sample or read candidates, relax them (CHGNet, Dask), E_hull and S.U.N.; writes OUT/screen.csv",
        description="Candidates (sampled with --model, or --input) lose invalid and duplicate structures, are "
        "relaxed with CHGNet as Dask tasks (a local cluster, or --scheduler), placed on a hull of CHGNet "
        "reference energies and marked stable, metastable, unique and novel. Writes OUT/screen.csv, "
        "OUT/relaxed/*.cif, OUT/relaxed.extxyz, OUT/report.md with its plots and OUT/report.html (one file that "
        "opens offline: the plots, a sortable table, 3D views). Killed and rerun with the "
        "same command, it resumes from OUT/relaxations.jsonl.",
    )
    parser.add_argument("--input", help="candidates instead of sampling: a .cif, a folder, .extxyz or a CSV")
    parser.add_argument("-n", "--num", type=int, default=100, help="candidates to sample (default: 100)")
    parser.add_argument("--elements", help="restrict sampled types to a chemical system, e.g. Li,Fe,O")
    add_sampling_options(parser, "screen")
    add_relax_options(parser, "--relax-steps")
    parser.add_argument(
        "--stable-threshold", type=float, default=STABLE_THRESHOLD, help="E_hull (eV/atom) counted as stable"
    )
    parser.add_argument(
        "--metastable-threshold", type=float, default=METASTABLE_THRESHOLD, help="E_hull counted as metastable"
    )
    parser.add_argument(
        "--hull-reference",
        help="a saved hull reference (.json) or a dataset file whose CHGNet hull is built once and cached "
        "(default: the shipped MP-20 reference, every MP-20 crystal outside the test split)",
    )
    parser.add_argument(
        "--novelty-reference", default="mp_20", help="dataset name (its training splits), NAME:SPLIT or a path"
    )
    add_scheduler_option(parser, "a local cluster of --workers processes")
    parser.add_argument("--workers", type=int, default=None, help="local cluster: worker processes (default: cores)")
    parser.add_argument(
        "--max-atoms",
        type=int,
        default=None,
        help="drop candidates with more atoms than this (default: $AUTOPERI_MAX_ATOMS, else 512)",
    )
    parser.add_argument(
        "--report-structures",
        type=int,
        default=DEFAULT_NUM_STRUCTURES,
        help=f"report.html: 3D views of this many lowest-E_hull candidates (default: {DEFAULT_NUM_STRUCTURES}; "
        "0: none, and a file ~540 KB smaller)",
    )
    parser.set_defaults(func=run_screen)


def _source(args: argparse.Namespace) -> str:
    from pathlib import Path

    if args.input:
        return f"input={Path(args.input).resolve()}"
    options = ("model", "num", "seed", "steps", "method", "batch_size", "elements")
    return " ".join(f"{name}={getattr(args, name)}" for name in options)


def _sampled(args: argparse.Namespace, folder) -> str:
    """The sample folder's extxyz, sampled through ``autoperi sample`` unless an earlier run left it."""
    from autoperi.cli.sample import run_sample

    path = folder / "samples.extxyz"
    if not path.exists():
        sample_args = argparse.Namespace(
            **vars(args), num_atoms=None, formula=None, structure_model=None, structure_strategy=None
        )
        sample_args.out = str(folder)
        run_sample(sample_args)
    return str(path)


def _count_rows(path) -> int:
    import csv

    if not path.exists():
        return 0
    with path.open() as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _check(args: argparse.Namespace) -> None:
    from pathlib import Path

    from autoperi.errors import AutoPeriError
    from autoperi.limits import atom_limit

    if args.input and args.model:
        raise AutoPeriError("give --input or --model, not both")
    if args.input and not Path(args.input).exists():
        raise AutoPeriError(f"--input {args.input}: no such file or folder")
    if args.num < 1 or args.fmax <= 0 or args.relax_steps < 0 or (args.workers is not None and args.workers < 1):
        raise AutoPeriError("-n and --workers must be positive, --fmax positive and --relax-steps non-negative")
    if args.report_structures < 0:
        raise AutoPeriError("--report-structures must be non-negative")
    if args.metastable_threshold < args.stable_threshold:
        raise AutoPeriError("--metastable-threshold must not be below --stable-threshold")
    atom_limit(args.max_atoms)  # a bad --max-atoms or $AUTOPERI_MAX_ATOMS fails before sampling


def _write_reports(
    args: argparse.Namespace,
    out: Path,
    rows: list[dict[str, object]],
    candidates: list[Crystal],
    relaxed: list[Crystal],
    header: dict[str, str],
) -> None:
    """report.md and report.html with their plots (E_hull, composition)."""
    from autoperi.screening.html_report import write_html_report
    from autoperi.screening.report import composition_plot, e_hull_plot, write_report

    plots = [
        e_hull_plot(rows, args.stable_threshold, args.metastable_threshold, out / "e_hull.png"),
        composition_plot(candidates, out / "composition.png"),
    ]
    plots = [plot for plot in plots if plot is not None]
    num_dropped = _count_rows(out / "dropped.csv")
    write_report(rows, num_dropped, header, out, plots)
    raw = {crystal.id: crystal for crystal in candidates}
    relaxed_by_id = {crystal.id: crystal for crystal in relaxed}
    write_html_report(rows, raw, relaxed_by_id, num_dropped, header, plots, out, args.report_structures)


def run_screen(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoperi.cli.skipped import warn_skipped
    from autoperi.distributed import dask_client
    from autoperi.physics.relax import RelaxSettings
    from autoperi.screening import pipeline
    from autoperi.screening.candidates import CANDIDATES_FILE, freeze_candidates
    from autoperi.screening.store import read_records

    _check(args)
    out = Path(args.out)
    settings = pipeline.ScreenSettings(
        _source(args), RelaxSettings(args.fmax, args.relax_steps, args.optimizer), args.stable_threshold,
        args.metastable_threshold,
    )  # fmt: skip
    pipeline.check_settings(out, settings)
    reference = pipeline.load_hull_reference(args.hull_reference)
    hull_spec = args.hull_reference or f"shipped MP-20 reference ({len(reference.entries)} entries)"
    known = pipeline.known_crystals(args.novelty_reference)
    source = args.input if args.input or (out / CANDIDATES_FILE).exists() else _sampled(args, out / "samples")
    candidates = freeze_candidates(Path(source) if source else None, out, args.max_atoms)
    if candidates.read_report is not None:
        warn_skipped(candidates.read_report, "listed in dropped.csv")
    with dask_client(args.scheduler, args.workers) as client:
        relaxed_now = pipeline.relax_candidates(candidates.crystals, settings, out, client)
    records = read_records(out / pipeline.RECORDS_FILE)
    rows, relaxed = pipeline.screen_rows(candidates.crystals, records, reference, known, settings)
    pipeline.write_table(rows, relaxed, out)
    header = {"candidates from": settings.source, "hull reference": hull_spec, "novelty": args.novelty_reference}
    _write_reports(args, out, rows, candidates.crystals, relaxed, header)
    sun = sum(bool(row["sun"]) for row in rows)
    print(f"screened {len(rows)} candidates ({relaxed_now} relaxed in this run), {sun} S.U.N. -> {out}/screen.csv")
    return 0
