"""``autoperi data``: dataset statistics, downloads and format conversion."""

from __future__ import annotations

import argparse

EXAMPLE_NAME = "example"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect, download and convert datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    info = commands.add_parser(
        "info", help="counts, elements, atoms per cell and lattice statistics (table; PNG histograms with --out)"
    )
    info.add_argument(
        "target",
        help=f"a dataset name (mp_20, perov_5, carbon_24, zeolites_iza, core_cof, core_mof, {EXAMPLE_NAME}) or a path",
    )
    info.add_argument("--split", action="append", help="only these splits of a named dataset (repeatable)")
    info.add_argument("--root", help="data root (default: $AUTOPERI_DATA_ROOT, else ../shared/data)")
    info.add_argument("--out", help="folder to write the PNG histograms to (default: none are written)")
    info.add_argument(
        "--max-atoms", type=int, default=None, help="skip crystals with more atoms than this (default: the atom limit)"
    )
    info.set_defaults(func=run_info)

    download = commands.add_parser("download", help="fetch a benchmark dataset and verify its checksums")
    download.add_argument("name", help="mp_20, perov_5 or carbon_24")
    download.add_argument("--root", help="data root (default: $AUTOPERI_DATA_ROOT, else ../shared/data)")
    download.add_argument("--split", action="append", choices=("train", "val", "test"), help="repeatable")
    download.add_argument("--base-url", help="mirror to fetch from (default: CDVAE's repository at a fixed commit)")
    download.set_defaults(func=run_download)

    convert = commands.add_parser("convert", help="convert crystals between CIF folders, extxyz and CDVAE CSV")
    convert.add_argument("input", help="a .cif, a folder of CIFs, .extxyz, or a CDVAE .csv/.csv.gz")
    convert.add_argument(
        "output",
        help="OUT.extxyz (or .xyz), OUT.csv (or .csv.gz, CDVAE layout), OUT.cif (one crystal), or a folder name "
        "without a suffix for one CIF per crystal, named by crystal id",
    )
    convert.add_argument("--niggli", action="store_true", help="Niggli-reduce as CDVAE's preprocessing does")
    convert.set_defaults(func=run_convert)

    slabs = commands.add_parser("slabs", help="cut slabs (one termination per facet) from a split's bulk crystals")
    slabs.add_argument("name", help="mp_20, perov_5 or carbon_24")
    slabs.add_argument("--split", default="lowdata_train", help="split of the bulk crystals (default lowdata_train)")
    slabs.add_argument("--limit", type=int, help="a seeded subsample of this many bulk crystals (default all)")
    slabs.add_argument("--max-index", type=int, default=1, help="largest Miller index (default 1)")
    slabs.add_argument("--slab-size", type=float, default=7.0, help="minimum slab thickness in Å (default 7)")
    slabs.add_argument("--vacuum", type=float, default=15.0, help="minimum vacuum in Å (default 15)")
    slabs.add_argument("--max-facets", type=int, help="at most this many facets per bulk (seeded choice)")
    slabs.add_argument("--seed", type=int, default=0, help="seed of the subsamples of bulks and facets (default 0)")
    slabs.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    slabs.add_argument(
        "--max-atoms", type=int, default=None, help="skip slabs with more atoms than this (default: the atom limit)"
    )
    slabs.add_argument("--root", help="data root (default: $AUTOPERI_DATA_ROOT, else ../shared/data)")
    slabs.add_argument("--out", help="write the slabs to this .extxyz (pbc kept)")
    slabs.add_argument("--no-cache", action="store_true", help="cut again instead of reading the cached slabs")
    slabs.set_defaults(func=run_slabs)


def _example_path():
    from importlib.resources import files

    return files("autoperi") / "examples" / "textbook.csv"


def run_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoperi.data import DATASETS, available_splits, dataset_spec, load_file, load_split
    from autoperi.data.datasets import LOWDATA_SPLITS
    from autoperi.data.info import SplitStats, format_stats, plot_stats
    from autoperi.data.porous import POROUS_SETS
    from autoperi.errors import CrystalError

    max_atoms = args.max_atoms
    root = Path(args.root) if args.root else None
    stats = []
    if args.target in POROUS_SETS:
        for split in args.split or POROUS_SETS[args.target].split_names():
            dataset = load_split(args.target, split, root, max_atoms=max_atoms)
            stats.append(SplitStats.from_dataset(split, dataset, _porous_note(args.target, split)))
        label = args.target
    elif args.target in DATASETS:
        spec = dataset_spec(args.target)
        splits = args.split or [*available_splits(args.target, root), *LOWDATA_SPLITS]
        for split in splits:
            dataset = load_split(args.target, split, root, max_atoms=max_atoms)
            stats.append(SplitStats.from_dataset(split, dataset, _split_note(split, dataset, spec.rows)))
        label = args.target
    else:
        path = Path(str(_example_path())) if args.target == EXAMPLE_NAME else Path(args.target)
        dataset = load_file(path, niggli=False, max_atoms=max_atoms)
        if not len(dataset):
            raise CrystalError("empty", dataset.reports[0].summary())
        stats.append(SplitStats.from_dataset(path.name, dataset))
        label = EXAMPLE_NAME if args.target == EXAMPLE_NAME else path.name.split(".")[0]
    print(format_stats(stats))
    if args.out:
        figure = plot_stats(stats, Path(args.out) / f"{label}-info.png", f"autoperi data info {args.target}")
        print(f"\nhistograms written to {figure}")
    return 0


def _split_note(split: str, dataset, published_rows: dict[str, int]) -> str:
    from autoperi.data.datasets import LOWDATA_POOL, LOWDATA_SPLITS
    from autoperi.data.info import split_status

    if split in LOWDATA_SPLITS:
        return "low-data protocol: " + " + ".join(LOWDATA_POOL)
    return split_status(dataset, published_rows[split.removesuffix("_partial")])


def _porous_note(name: str, split: str) -> str:
    from autoperi.data.porous import POROUS_SETS, TEST_FRACTION, VAL_FRACTION

    geometry, part = POROUS_SETS[name].parse_split(split)
    share = {"test": TEST_FRACTION, "val": VAL_FRACTION}.get(part, 1 - TEST_FRACTION - VAL_FRACTION)
    return f"{geometry}, {share:.0%} of ids by hash"


def run_download(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoperi.data import data_root
    from autoperi.data.download import download_dataset
    from autoperi.data.registry import SPLITS

    root = Path(args.root) if args.root else data_root()
    splits = tuple(args.split or SPLITS)
    for path, fetched in download_dataset(args.name, root, splits, args.base_url):
        print(f"{'downloaded' if fetched else 'already present'} and verified: {path}")
    return 0


FOLDER_OUTPUT = "folder"
OUTPUT_SUFFIXES = {".extxyz": "extxyz", ".xyz": "extxyz", ".csv": "csv", ".csv.gz": "csv", ".cif": "cif"}


def _output_format(output) -> str:
    """What a ``data convert`` output path names: a format from its suffix, or a folder when it has none."""
    from autoperi.errors import AutoPeriError

    if output.is_dir() or not output.suffix:
        return FOLDER_OUTPUT
    for suffix, kind in OUTPUT_SUFFIXES.items():
        if output.name.lower().endswith(suffix):
            return kind
    raise AutoPeriError(
        f"{output}: unknown output format {output.suffix!r} "
        f"(expected {', '.join(OUTPUT_SUFFIXES)}, or a folder name without a suffix for one CIF per crystal)"
    )


def run_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autoperi.cli.skipped import warn_skipped
    from autoperi.errors import AutoPeriError, CrystalError
    from autoperi.io.ase_adapter import write_extxyz
    from autoperi.io.cdvae_csv import write_cdvae_csv
    from autoperi.io.names import unique_stems
    from autoperi.io.pymatgen_adapter import write_cif
    from autoperi.io.readers import read_crystals

    output = Path(args.output)
    kind = _output_format(output)
    report = read_crystals(args.input, niggli=args.niggli)
    if not report.crystals:
        raise CrystalError("empty", f"{args.input}: no usable crystal to convert ({report.summary()})")
    warn_skipped(report)
    if kind == "cif" and len(report.crystals) != 1:
        raise AutoPeriError(f"{output}: a .cif holds one crystal, read {len(report.crystals)}: give a folder")
    target = output if kind == FOLDER_OUTPUT else output.parent
    target.mkdir(parents=True, exist_ok=True)
    if kind == "extxyz":
        write_extxyz(report.crystals, output)
    elif kind == "csv":
        write_cdvae_csv(report.crystals, output)
    elif kind == "cif":
        write_cif(report.crystals[0], output)
    else:
        for stem, crystal in zip(unique_stems(report.crystals, "crystal"), report.crystals, strict=True):
            write_cif(crystal, output / f"{stem}.cif")
    print(f"wrote {len(report.crystals)} crystals to {output}")
    return 0


def run_slabs(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import numpy as np

    from autoperi.cli.skipped import warn_skipped
    from autoperi.data.slabs import SlabSettings, load_slabs
    from autoperi.io.ase_adapter import write_extxyz

    settings = SlabSettings(
        args.max_index, args.slab_size, args.vacuum, args.max_facets, args.max_atoms, seed=args.seed
    )
    start = time.process_time(), time.perf_counter()
    slabs = load_slabs(
        args.name,
        args.split,
        settings,
        args.limit,
        Path(args.root) if args.root else None,
        args.workers,
        use_cache=not args.no_cache,
    )
    cpu, wall = time.process_time() - start[0], time.perf_counter() - start[1]
    warn_skipped(slabs.reports[0])
    bulks = len({slab.properties["bulk_id"] for slab in slabs})
    atoms = np.array([slab.num_atoms for slab in slabs])
    print(f"{len(slabs)} slabs of {bulks} bulk crystals of {args.name}/{args.split}, {slabs.num_skipped} skipped")
    if len(atoms):
        print(f"atoms per slab min / median / max: {atoms.min()} / {np.median(atoms):g} / {atoms.max()}")
    timing = "read from the cache" if slabs.from_cache else f"cut in {cpu:.1f} CPU-s of this process"
    print(f"{timing}, {wall:.1f} s wall")
    if args.out:
        print(f"wrote {len(slabs)} slabs to {write_extxyz(slabs.crystals, Path(args.out))}")
    return 0
