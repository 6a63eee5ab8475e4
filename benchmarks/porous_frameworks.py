"""Framework validity and pore descriptors of the IZA zeolites (issue 18), as Markdown tables.

    autoperi pores ../shared/data/zeolites_iza/relaxed.csv.gz --out runs/iza-pores --max-atoms 5000
    python benchmarks/porous_frameworks.py --pores runs/iza-pores/pores.csv

Validity: the coordination rule of autoperi.metrics.frameworks (default tolerance) on every relaxed and every
as-published cell; a failing cell is labelled by cause: duplicated sites (two atoms under 0.5 Å apart) or an
O bonded to a single Si (a terminal O-H of an interrupted framework), else other. Pores: quantiles of each
descriptor of the relaxed frameworks per held-out split, from the pores.csv of ``autoperi pores`` (given with
--pores, else computed here with the default settings).
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from pathlib import Path

import numpy as np

from autoperi.data import load_split
from autoperi.data.porous import POROUS_SPLITS, held_out_split
from autoperi.metrics.frameworks import OXYGEN, check_zeolite_framework, si_o_bond_counts
from autoperi.metrics.validity import min_interatomic_distance
from autoperi.metrics.zeopp_adapter import PORE_COLUMNS, PORE_UNITS

MAX_ATOMS = 5000
DUPLICATE_DISTANCE = 0.5  # Å


def failure_cause(crystal) -> str:
    if min_interatomic_distance(crystal) < DUPLICATE_DISTANCE:
        return "duplicated sites"
    oxygen_bonds = si_o_bond_counts(crystal)[crystal.atomic_numbers == OXYGEN]
    return "O bonded to one Si (interrupted framework)" if np.any(oxygen_bonds == 1) else "other"


def validity_lines(geometry: str, prefix: str) -> list[str]:
    crystals = [c for split in POROUS_SPLITS for c in load_split("zeolites_iza", prefix + split, max_atoms=MAX_ATOMS)]
    failed = [c for c in crystals if not check_zeolite_framework(c).valid]
    causes = Counter(failure_cause(c) for c in failed)
    valid = len(crystals) - len(failed)
    detail = "; ".join(f"{n} {cause} ({', '.join(c.id for c in failed if failure_cause(c) == cause)})"
                       for cause, n in causes.most_common())  # fmt: skip
    return [f"| {geometry} | {len(crystals)} | {valid} ({valid / len(crystals):.1%}) | {detail or '-'} |"]


def pore_table(rows: list[dict[str, str]]) -> list[str]:
    lines = ["| descriptor | split | n | min | 25 % | median | 75 % | max |", "|" + " --- |" * 8]
    for column in PORE_COLUMNS:
        for split in (*POROUS_SPLITS, "all"):
            values = np.array([float(r[column]) for r in rows if split == "all" or held_out_split(r["id"]) == split])
            quantiles = " | ".join(f"{q:.3g}" for q in np.quantile(values, [0, 0.25, 0.5, 0.75, 1]))
            lines.append(f"| {column} ({PORE_UNITS[column]}) | {split} | {len(values)} | {quantiles} |")
    return lines


def computed_pores(out: Path) -> Path:
    from autoperi.io.tables import write_rows
    from autoperi.metrics.pores import pore_rows
    from autoperi.metrics.zeopp_adapter import PoreSettings

    crystals = [c for split in POROUS_SPLITS for c in load_split("zeolites_iza", split, max_atoms=MAX_ATOMS)]
    rows, _ = pore_rows(crystals, PoreSettings())
    out.mkdir(parents=True, exist_ok=True)
    return write_rows(rows, out / "pores.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pores", type=Path, help="pores.csv of autoperi pores on relaxed.csv.gz")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/issue18"))
    args = parser.parse_args()
    started = time.process_time()
    lines = ["| cells | frameworks | valid | failures by cause |", "| --- | ---: | ---: | --- |"]
    lines += validity_lines("relaxed", "") + validity_lines("as published", "experimental_")
    pores = args.pores or computed_pores(args.out / "iza-pores")
    with pores.open() as handle:
        rows = list(csv.DictReader(handle))
    lines += ["", f"Pore descriptors of {len(rows)} relaxed IZA frameworks ({pores.name}):", "", *pore_table(rows)]
    lines += ["", f"{time.process_time() - started:.1f} CPU-s in this process (pores.csv given: not counted)"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
