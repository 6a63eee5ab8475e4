"""Learning curve of a CSP flow: match rate on a fixed held-out slice against the CPU-hours of training.

python benchmarks/learning_curve.py runs/mp_20-csp-s13/snapshots --dataset mp_20 --count 200 \
    --csv docs/learning_curves/mp_20-crystal_flow_csp.csv --png docs/learning_curves/mp_20-crystal_flow_csp.png

Every model file given (or every ``*.pt`` in a given folder, e.g. a run's ``snapshots/``) samples one
candidate (k = 1, raw, no relaxation) for each of the first ``--count`` crystals of ``--split`` (default
``lowdata_val``, the held-out slice of the low-data protocol: never the test split), scored with
StructureMatcher as in DiffCSP. CPU-hours are the ``total_cpu_seconds`` (or, for older files,
``cpu_seconds_this_run``) each model file records over its training lineage. Rows already in ``--csv``
are kept (rows of other settings too; the plot shows this command's settings only), so the command can be
rerun as new snapshots appear.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch


def model_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        files.extend(sorted(path.glob("*.pt")) if path.is_dir() else [path])
    return files


def score_model(path: Path, targets: list, args: argparse.Namespace) -> dict:
    from autoperi.generative.sampling import generate
    from autoperi.metrics.csp import match_rate_and_rmse
    from autoperi.training.export import lineage_totals, load_model

    model, _, metadata = load_model(str(path), "crystal_flow")
    model.config.frac_anneal = args.frac_anneal
    compositions = [t.atomic_numbers for t in targets]
    started = time.perf_counter()
    candidates = generate(model, [len(c) for c in compositions], compositions, args.steps, seed=args.seed)
    sampling_seconds = time.perf_counter() - started
    result = match_rate_and_rmse([[c] for c in candidates], targets)
    total_steps, cpu_seconds = lineage_totals(metadata)
    return {
        "model": str(path),
        "total_steps": total_steps,
        "cpu_hours": round(cpu_seconds / 3600, 4),
        "match_rate": round(result["match_rate"], 4),
        "rmse": None if result["rmse"] is None else round(result["rmse"], 4),
        "match_rate_structural": round(result["match_rate_structural"], 4),
        "n_targets": len(targets),
        "split": f"{args.dataset}/{args.split}",
        "steps": args.steps,
        "seed": args.seed,
        "frac_anneal": args.frac_anneal,
        "sampling_seconds": round(sampling_seconds, 1),
    }


def read_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(path.open())) if path.exists() else []


def run_name(model: str) -> str:
    """The training run a model file belongs to: the folder above ``snapshots/``, else the file's folder."""
    path = Path(model)
    return path.parent.parent.name if path.parent.name == "snapshots" else path.parent.name


def plot(rows: list[dict], path: Path, title: str) -> None:
    """One line per training run (a lineage's branches show as separate lines), reference-rule match rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    runs: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda row: float(row["cpu_hours"])):
        runs.setdefault(run_name(row["model"]), []).append(row)
    for name, run_rows in runs.items():
        hours = [float(row["cpu_hours"]) for row in run_rows]
        axis.plot(hours, [100 * float(row["match_rate"]) for row in run_rows], "o-", markersize=3, label=name)
    axis.set_xlabel("training CPU-hours over the lineage (2-core machine, 1 torch thread)")
    axis.set_ylabel("match rate, k = 1 (%)")
    axis.set_title(title, fontsize=8)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="model files or folders of them (e.g. snapshots/)")
    parser.add_argument("--dataset", default="mp_20")
    parser.add_argument("--split", default="lowdata_val", help="held-out slice (never the test split)")
    parser.add_argument("--count", type=int, default=200, help="first COUNT crystals of the split")
    parser.add_argument("--steps", type=int, default=50, help="integration steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--frac-anneal",
        type=float,
        default=0.0,
        help="coordinate anti-annealing for every model (default 0, as in the earliest rows; not the file's own)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args()

    from autoperi.data import load_split
    from autoperi.io.tables import write_rows

    torch.set_num_threads(args.threads)
    split = f"{args.dataset}/{args.split}"
    same = {
        "split": split,
        "n_targets": str(args.count),
        "steps": str(args.steps),
        "seed": str(args.seed),
        "frac_anneal": str(args.frac_anneal),
    }
    # rows written before the frac_anneal column were all sampled without anti-annealing
    rows = [{**row, "frac_anneal": row.get("frac_anneal", "0.0")} for row in read_rows(args.csv)]

    def matching() -> list[dict]:
        return [row for row in rows if all(str(row[key]) == value for key, value in same.items())]

    done = {row["model"] for row in matching()}
    targets = list(load_split(args.dataset, args.split))[: args.count]
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    for path in model_files(args.models):
        if str(path) not in done:
            rows.append(score_model(path, targets, args))
            print(rows[-1], flush=True)
            write_rows(sorted(rows, key=lambda row: float(row["cpu_hours"])), args.csv)
    if args.png and matching():
        title = (
            f"CSP flow, {split}, first {args.count}, k = 1, {args.steps} steps, seed {args.seed}, "
            f"frac_anneal {args.frac_anneal:g}"
        )
        plot(matching(), args.png, title)


if __name__ == "__main__":
    main()
