"""The screen's short report: ``report.md`` (counts, the best candidates) and ``e_hull.png``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

COUNTED = ("converged", "stable", "metastable", "unique", "novel", "sun", "msun")
BEST_SHOWN = 20


def e_hull_plot(rows: list[dict[str, object]], stable: float, metastable: float, path: Path) -> Path | None:
    """Histogram of E_hull with the two thresholds; None when no candidate has one."""
    values = np.array([row["e_hull"] for row in rows], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.hist(values, bins=min(50, max(10, len(values) // 4)))
    axis.axvline(stable, color="k", linestyle="--", label=f"stable ≤ {stable:g}")
    axis.axvline(metastable, color="grey", linestyle=":", label=f"metastable ≤ {metastable:g}")
    axis.set_xlabel("E_hull (eV/atom, CHGNet)")
    axis.set_ylabel("candidates")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _best_table(rows: list[dict[str, object]]) -> list[str]:
    ranked = sorted((r for r in rows if math.isfinite(float(r["e_hull"]))), key=lambda r: float(r["e_hull"]))
    lines = ["| id | formula | E_hull (eV/atom) | unique | novel | S.U.N. |", "|---|---|---|---|---|---|"]
    for row in ranked[:BEST_SHOWN]:
        flags = ["yes" if row[key] else "no" for key in ("unique", "novel", "sun")]
        lines.append(f"| {row['id']} | {row['formula']} | {float(row['e_hull']):.3f} | {' | '.join(flags)} |")
    return lines


def write_report(
    rows: list[dict[str, object]], num_dropped: int, header: dict[str, str], out: Path, plot: Path | None
) -> Path:
    total = len(rows)
    counts = {key: sum(bool(row[key]) for row in rows) for key in COUNTED}
    with_hull = sum(math.isfinite(float(row["e_hull"])) for row in rows)
    failed = sum(bool(row["error"]) for row in rows)
    lines = ["# Screen", ""]
    lines += [f"- {key}: {value}" for key, value in header.items()]
    lines += [
        f"- candidates screened: {total} ({num_dropped} dropped before relaxation, see dropped.csv)",
        f"- relaxations failed: {failed}; converged: {counts['converged']}; with an E_hull: {with_hull}",
        "",
        "| stable | metastable | unique | novel | S.U.N. | M.S.U.N. |",
        "|---|---|---|---|---|---|",
        "| " + " | ".join(f"{counts[k]} ({counts[k] / max(total, 1):.1%})" for k in COUNTED[1:]) + " |",
        "",
        f"Fractions are of the {total} screened candidates. The {BEST_SHOWN} lowest E_hull:",
        "",
        *_best_table(rows),
        "",
    ]
    if plot is not None:
        lines += [f"![E_hull]({plot.name})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
