"""Cost against atoms per cell (issue 18): CPU time and peak memory of the periodic neighbour list, a training step
of the PaiNN and of the Fourier crystal flow, and sampling, on supercells of one real MP-20 crystal.

    python benchmarks/scaling.py --atoms 10 30 100 300 1000 --out benchmarks/results/issue18 --seed 0

The base cell is the first 10-atom crystal of MP-20 val; each size is a supercell of it (repeats chosen to keep
the cell as isotropic as possible). Each (component, size) runs in a fresh process on one torch thread, so its
peak memory (the rise of the process's maximum resident set over its size just before the work) is its own.
Time is CPU time of the process, the median over repeats. Components: the neighbour list at the PaiNN model's
cutoff (5 Å, no neighbour cap, float32); a training step (flow loss, backward, Adam step) of the shipped
mp_20-crystal_flow_csp (PaiNN, cutoff 5 Å, 16 neighbours) and mp_20-crystal_flow_csp-fourier (every atom pair
of the cell: quadratic in the atoms) on a batch of the one cell; sampling that cell's composition with 10 Euler
steps. A size whose projected memory or CPU time (from the previous size, linear or, for the Fourier network,
quadratic) exceeds --memory-budget-gib or --time-budget-s is not run and is reported as projected.

Writes OUT/scaling.csv, OUT/scaling.md and docs/scaling.png (log-log). The neighbour list as it was before its
cell list (every atom pair of the cell enumerated) is a component of its own, off by default:

    python benchmarks/scaling.py --atoms 100 1000 3000 --components "neighbour list" \
        "neighbour list, all pairs (before the cell list)" --out OUT --figure OUT/neighbour_list.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

COMPONENTS = {
    "neighbour list": ("graph", "mp_20-crystal_flow_csp", 1),
    "neighbour list, all pairs (before the cell list)": ("graph_all_pairs", "mp_20-crystal_flow_csp", 1),
    "PaiNN training step": ("train", "mp_20-crystal_flow_csp", 1),
    "Fourier training step": ("train", "mp_20-crystal_flow_csp-fourier", 2),
    "PaiNN sampling (10 steps)": ("sample", "mp_20-crystal_flow_csp", 1),
    "Fourier sampling (10 steps)": ("sample", "mp_20-crystal_flow_csp-fourier", 2),
}
DEFAULT_COMPONENTS = [name for name in COMPONENTS if "before" not in name]
BASE_ATOMS = 10
SAMPLING_STEPS = 10
CUTOFF = 5.0


def isotropic_repeats(lengths: np.ndarray, multiple: int) -> tuple[int, int, int]:
    """The repeats (product ``multiple``) that make the supercell's edge lengths most alike."""
    triples = [
        (a, b, multiple // (a * b))
        for a, b in itertools.product(range(1, multiple + 1), repeat=2)
        if multiple % (a * b) == 0
    ]
    return min(triples, key=lambda t: (np.ptp(np.log(lengths * np.array(t))), t))


def write_base_crystal(seed: int, folder: Path) -> Path:
    """The seed-th 10-atom crystal of MP-20 val, as a CIF the measuring processes read."""
    from autoperi.data import load_split
    from autoperi.io.pymatgen_adapter import write_cif

    crystals = [c for c in load_split("mp_20", "val") if c.num_atoms == BASE_ATOMS]
    crystal = crystals[seed % len(crystals)]
    return write_cif(crystal, folder / f"{crystal.id}.cif")


def resident_kib() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def timed(work: Callable[[], object], repeats: int) -> tuple[list[float], float]:
    """CPU seconds of each repeat (after one warm-up call) and the peak memory rise in MiB."""
    before = resident_kib()
    work()
    seconds = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        seconds.append(time.process_time() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return seconds, max(peak - before, 0) / 1024


def measure(kind: str, model_name: str, atoms: int, base: Path, seed: int, repeats: int) -> dict[str, object]:
    import torch

    from autoperi.batch import CrystalBatch
    from autoperi.graph import build_graph
    from autoperi.io.readers import read_one_crystal
    from autoperi.training.export import load_model

    torch.set_num_threads(1)
    crystal = read_one_crystal(base)
    repeats_abc = isotropic_repeats(crystal.lattice_parameters[:3], atoms // BASE_ATOMS)
    cell = crystal.supercell(repeats_abc)
    batch = CrystalBatch.from_crystals([cell])
    model, _, _ = load_model(model_name)
    generator = torch.Generator().manual_seed(seed)
    extra: dict[str, object] = {}
    if kind == "graph_all_pairs":
        from autoperi.graph import neighbors

        neighbors._candidate_pairs = lambda frac, lattices, num_atoms, cutoff, pbc: neighbors._upper_pairs(num_atoms)
    if kind.startswith("graph"):
        extra["edges"] = build_graph(batch, CUTOFF).num_edges

        def work() -> object:
            return build_graph(batch, CUTOFF)
    elif kind == "train":
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def work() -> object:
            loss = model.loss(batch, generator)["total"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss
    else:
        model.eval()
        counts = torch.tensor([cell.num_atoms])
        numbers = torch.as_tensor(cell.atomic_numbers)

        def work() -> object:
            return model.sample(counts, numbers, SAMPLING_STEPS, "euler", generator)

    seconds, peak_mib = timed(work, repeats)
    return {"atoms": cell.num_atoms, "repeats": list(repeats_abc), "cpu_s": statistics.median(seconds),
            "peak_mib": peak_mib, "base": crystal.id, **extra}  # fmt: skip


def run_one(component: str, atoms: int, base: Path, seed: int, repeats: int) -> dict[str, object]:
    command = [sys.executable, __file__, "--measure", component, str(atoms), "--seed", str(seed)]
    command += ["--repeats", str(repeats), "--base", str(base)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        return {"atoms": atoms, "error": (result.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(lines[-1])


def slope(rows: list[dict[str, object]], key: str) -> float:
    """Exponent of a power law through the two largest measured sizes."""
    measured = [r for r in rows if isinstance(r.get(key), float) and r[key] > 0][-2:]
    if len(measured) < 2:
        return float("nan")
    (a, b) = measured
    return float(np.log(b[key] / a[key]) / np.log(b["atoms"] / a["atoms"]))


def write_outputs(results: dict[str, list[dict[str, object]]], out: Path, figure: Path, header: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    csv_lines = ["component,atoms,cpu_s,peak_mib,status"]
    table = [header, "", "| component | " + " | ".join(f"{r['atoms']} atoms" for r in next(iter(results.values())))
             + " | exponent (time, memory) |"]  # fmt: skip
    table.append("|" + " --- |" * (len(next(iter(results.values()))) + 2))
    for component, rows in results.items():
        cells = []
        for row in rows:
            status = row.get("status", "measured" if "cpu_s" in row else row.get("error", "failed"))
            csv_lines.append(f"{component},{row['atoms']},{row.get('cpu_s', '')},{row.get('peak_mib', '')},{status}")
            if "cpu_s" in row and status == "measured":
                cells.append(f"{row['cpu_s']:.3g} s, {row['peak_mib']:.0f} MiB")
            else:
                cells.append(str(status))
        exponents = f"{slope(rows, 'cpu_s'):.2f}, {slope(rows, 'peak_mib'):.2f}"
        table.append(f"| {component} | " + " | ".join(cells) + f" | {exponents} |")
    (out / "scaling.csv").write_text("\n".join(csv_lines) + "\n")
    (out / "scaling.md").write_text("\n".join(table) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for component, rows in results.items():
        measured = [r for r in rows if r.get("status", "measured") == "measured" and "cpu_s" in r]
        atoms = [r["atoms"] for r in measured]
        axes[0].loglog(atoms, [r["cpu_s"] for r in measured], "o-", label=component)
        axes[1].loglog(atoms, [max(r["peak_mib"], 0.1) for r in measured], "o-", label=component)
    for axis, label in zip(axes, ("CPU seconds (1 thread)", "peak memory rise (MiB)"), strict=True):
        sizes = np.array([10, 1000])
        axis.loglog(sizes, sizes / 10 * axis.get_ylim()[0] * 3, "k:", label="linear (slope 1)")
        axis.set_xlabel("atoms per cell")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle("AutoPeri cost against atoms per cell (supercells of an MP-20 crystal, 1 thread)")
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=110)
    plt.close(fig)


def over_budget(previous: dict[str, object] | None, atoms: int, exponent: int, args: argparse.Namespace) -> str:
    """Why a size is not run (its memory or time projected from the previous size is over budget), or ''."""
    if previous is None or "peak_mib" not in previous:
        return ""
    growth = (atoms / previous["atoms"]) ** exponent
    memory_gib, seconds = previous["peak_mib"] * growth / 1024, previous["cpu_s"] * growth * (args.repeats + 1)
    if memory_gib > args.memory_budget_gib:
        return f"not run: ~{memory_gib:.0f} GiB projected"
    return f"not run: ~{seconds:.0f} CPU-s projected" if seconds > args.time_budget_s else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", type=int, nargs="+", default=[10, 30, 100, 300, 1000])
    parser.add_argument("--components", nargs="+", default=DEFAULT_COMPONENTS, choices=list(COMPONENTS))
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per size, after one warm-up")
    parser.add_argument("--memory-budget-gib", type=float, default=6.0)
    parser.add_argument("--time-budget-s", type=float, default=150.0, help="CPU-s per size, warm-up included")
    parser.add_argument("--seed", type=int, default=0, help="which 10-atom MP-20 val crystal (and the noise)")
    parser.add_argument("--out", default="benchmarks/results/issue18")
    parser.add_argument("--figure", default="docs/scaling.png")
    parser.add_argument("--measure", nargs=2, metavar=("COMPONENT", "ATOMS"), help=argparse.SUPPRESS)
    parser.add_argument("--base", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, model_name, _ = COMPONENTS[args.measure[0]]
        print(json.dumps(measure(kind, model_name, int(args.measure[1]), args.base, args.seed, args.repeats)))
        return
    started = time.time()
    folder = tempfile.TemporaryDirectory(prefix="autoperi-scaling-")
    base = write_base_crystal(args.seed, Path(folder.name))
    results: dict[str, list[dict[str, object]]] = {}
    for component in args.components:
        exponent = COMPONENTS[component][2]
        rows: list[dict[str, object]] = []
        for atoms in args.atoms:
            skip = over_budget(rows[-1] if rows else None, atoms, exponent, args)
            if skip:
                rows.append({"atoms": atoms, "status": skip})
                continue
            row = run_one(component, atoms, base, args.seed, args.repeats)
            rows.append(row)
            print(f"{component:28s} {atoms:5d} atoms: {row}", flush=True)
        results[component] = rows
    header = (
        f"Median CPU seconds over {args.repeats} repeats (1 thread) and peak memory rise, seed {args.seed}, "
        f"`python benchmarks/scaling.py --atoms {' '.join(map(str, args.atoms))}`; "
        f"{time.time() - started:.0f} s wall in all"
    )
    folder.cleanup()
    write_outputs(results, Path(args.out), Path(args.figure), header)
    print((Path(args.out) / "scaling.md").read_text())


if __name__ == "__main__":
    main()
