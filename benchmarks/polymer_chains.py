"""Polymer chain cells of the package table (issue 18): build each with RDKit, judge it with the chain validity
metric, and with ``--relax`` relax it with CHGNet (positions only: ``relax_one`` keeps a non-bulk cell, so the
chain period and the vacuum stay as built) and judge it again. Prints a Markdown table.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/polymer_chains.py --relax --steps 300
"""

from __future__ import annotations

import argparse
import time

from autoperi.data.polymers import BUILD_OPTIONS, polymer_table
from autoperi.io.rdkit_adapter import build_chain, chain_graph
from autoperi.metrics.polymers import ChainCheck, check_chain


def describe(check: ChainCheck) -> str:
    verdict = "yes" if check.valid else "no"
    return (
        f"{verdict} | {check.bad_bonds}/{check.bad_angles}/{check.overlaps} | "
        f"{100 * check.worst_bond_error:.1f} | {check.worst_angle_error:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--relax", action="store_true", help="also relax each cell with CHGNet")
    parser.add_argument("--steps", type=int, default=300, help="FIRE steps of the CHGNet relaxation")
    args = parser.parse_args()
    header = "| polymer | units/cell | atoms | period (Å) | valid | bad b/a/o | worst bond % | worst angle ° |"
    if args.relax:
        from autoperi.physics.relax import RelaxSettings, relax_one

        header += " relaxed valid | bad b/a/o | worst bond % | worst angle ° | steps |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    start = time.process_time()
    for row in polymer_table():
        chain = build_chain(row["smiles"], chain_id=row["name"], **BUILD_OPTIONS)
        graph = chain_graph(row["smiles"], chain.properties["cell_units"])
        line = (
            f"| {row['name']} | {chain.properties['cell_units']} | {chain.num_atoms} | {chain.lattice[0, 0]:.3f} | "
            f"{describe(check_chain(chain, graph))} |"
        )
        if args.relax:
            result = relax_one(chain, RelaxSettings(steps=args.steps))
            relaxed = describe(check_chain(result.relaxed, graph)) if result.relaxed else f"failed: {result.error}"
            line += f" {relaxed} | {result.steps} |"
        print(line, flush=True)
    print(f"\nCPU time: {time.process_time() - start:.1f} s")


if __name__ == "__main__":
    main()
