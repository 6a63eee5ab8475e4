"""``autoperi adsorb``: place an adsorbate on a slab K ways, relax each with CHGNet and rank them by energy."""

from __future__ import annotations

import argparse

from autoperi.cli.relax import add_relax_options


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adsorb",
        help="place an adsorbate atom on a slab K ways, relax with CHGNet, rank; writes OUT/ranked.csv",
        description="Places one adsorbate atom on the top surface of a slab: on each symmetry-distinct site "
        "(ontop, bridge, fcc, hcp; pymatgen's AdsorbateSiteFinder), then at seeded random points until there "
        "are K. Relaxes the clean slab and every placement with CHGNet (positions only; the lowest "
        "--fixed-layers layers fixed) and ranks them by energy. Writes OUT/NN-SITE.cif per placement, "
        "OUT/ranked.extxyz (all, in rank order, with pbc), OUT/ranked.csv (rank, file, energy in eV, "
        "binding_energy = energy - clean slab energy in eV, site where the adsorbate ended up, initial_site, "
        "site_distance and height in Å, steps, converged, error) and OUT/adsorb.log.",
    )
    parser.add_argument("--slab", required=True, help="the clean slab: a CIF (vacuum in the cell) or extxyz")
    parser.add_argument("--adsorbate", required=True, help="element symbol of the adsorbate atom, e.g. O")
    parser.add_argument("-k", type=int, default=10, help="placements to relax and rank (default 10)")
    parser.add_argument("--out", default="adsorbed", help="output folder (default: ./adsorbed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random placements (default 0)")
    parser.add_argument(
        "--fixed-layers", type=int, default=None, help="lowest slab layers kept fixed (default: half of them)"
    )
    add_relax_options(parser)
    parser.add_argument("--workers", type=int, default=1, help="parallel relaxations (default 1)")
    parser.set_defaults(func=run_adsorb)


class _Log:
    """Lines printed to the terminal and appended to OUT/adsorb.log."""

    def __init__(self, path) -> None:
        self.handle = path.open("w")

    def __call__(self, line: str) -> None:
        print(line, flush=True)
        self.handle.write(line + "\n")
        self.handle.flush()


def _check(args: argparse.Namespace) -> None:
    from autoperi.errors import AutoPeriError

    if args.k < 1 or args.workers < 1 or args.fmax <= 0 or args.steps < 0:
        raise AutoPeriError("-k and --workers must be at least 1, --fmax positive and --steps non-negative")
    if args.fixed_layers is not None and args.fixed_layers < 0:
        raise AutoPeriError(f"--fixed-layers must not be negative, got {args.fixed_layers}")


def run_adsorb(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from autoperi.adsorption.placement import placements
    from autoperi.adsorption.ranking import default_fixed_layers, rank_placements
    from autoperi.io import read_one_crystal
    from autoperi.physics.relax import RelaxSettings

    _check(args)
    slab = read_one_crystal(args.slab, slab=True)
    candidates = placements(slab, args.adsorbate, args.k, args.seed)
    fixed = default_fixed_layers(slab) if args.fixed_layers is None else args.fixed_layers
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "adsorb.log")
    log(f"slab {args.slab}: {slab.formula}, {slab.num_atoms} atoms, {slab.layers().max() + 1} layers ({fixed} fixed)")
    kinds = ", ".join(p.initial_site for p in candidates)
    log(f"{len(candidates)} placements of {args.adsorbate} (seed {args.seed}): {kinds}")
    started = time.monotonic()
    settings = RelaxSettings(args.fmax, args.steps, args.optimizer)
    ranking = rank_placements(slab, candidates, settings, fixed, args.workers)
    rows = _write(ranking, out)
    for row in rows:
        log(_line(row))
    log(f"ranked {sum(r['rank'] > 0 for r in rows)} placements in {time.monotonic() - started:.0f} s -> {out}")
    return 0


def _line(row: dict[str, object]) -> str:
    if not row["rank"]:
        return f"failed: {row['initial_site']}: {row['error']}"
    return (
        f"{row['rank']:>3} {row['file']}: {row['energy']:.4f} eV (binding {row['binding_energy']:.3f} eV), "
        f"{row['initial_site']} -> {row['site']}, {row['steps']} steps{'' if row['converged'] else ', not converged'}"
    )


def _write(ranking, out) -> list[dict[str, object]]:
    from autoperi.io.ase_adapter import write_extxyz
    from autoperi.io.pymatgen_adapter import write_cif
    from autoperi.io.tables import write_rows

    rows, relaxed = [], []
    for item, row in zip(ranking.ranked, ranking.rows(), strict=True):
        name = ""
        if item.result.relaxed is not None:
            name = f"{item.rank:02d}-{item.site}.cif"
            structure = item.result.relaxed.copy(id=name[:-4], properties={"energy": item.energy, "site": item.site})
            write_cif(structure, out / name)
            relaxed.append(structure)
        rows.append({"rank": row.pop("rank"), "file": name, **row})
    write_rows(rows, out / "ranked.csv")
    if relaxed:
        write_extxyz(relaxed, out / "ranked.extxyz")
    return rows
