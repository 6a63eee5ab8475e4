"""The screen's short report: ``report.md`` (counts, the best candidates), ``e_hull.png`` and
``composition.png``; ``report.html`` (screening.html_report) shows the same counts and plots."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal

COUNTED = ("converged", "stable", "metastable", "unique", "novel", "sun", "msun")
BEST_SHOWN = 20


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    _pyplot().close(figure)
    return path


def e_hull_plot(rows: list[dict[str, object]], stable: float, metastable: float, path: Path) -> Path | None:
    """Histogram of E_hull with the two thresholds; None when no candidate has one."""
    values = np.array([row["e_hull"] for row in rows], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    figure, axis = _pyplot().subplots(figsize=(6, 4))
    axis.hist(values, bins=min(50, max(10, len(values) // 4)))
    axis.axvline(stable, color="k", linestyle="--", label=f"stable ≤ {stable:g}")
    axis.axvline(metastable, color="grey", linestyle=":", label=f"metastable ≤ {metastable:g}")
    axis.set_xlabel("E_hull (eV/atom, CHGNet)")
    axis.set_ylabel("candidates")
    axis.legend()
    return _save(figure, path)


def composition_counts(crystals: Sequence[Crystal]) -> tuple[Counter[str], Counter[int]]:
    """How many crystals contain each element, and how many crystals have each number of elements."""
    element_sets = [set(crystal.symbols) for crystal in crystals]
    return Counter(symbol for elements in element_sets for symbol in elements), Counter(map(len, element_sets))


def composition_plot(crystals: Sequence[Crystal], path: Path, most_common: int = 30) -> Path | None:
    """How many candidates contain each element (the ``most_common`` ones) and how many elements each
    candidate has; None without candidates."""
    if not crystals:
        return None
    by_symbol, arity = composition_counts(crystals)
    frequency = by_symbol.most_common(most_common)
    figure, (by_element, by_arity) = _pyplot().subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [3, 1]})
    by_element.bar([symbol for symbol, _ in frequency], [count for _, count in frequency])
    by_element.set_ylabel("candidates containing the element")
    by_element.tick_params(axis="x", labelsize=7, rotation=90)
    sizes = range(1, max(arity) + 1)
    by_arity.bar(list(sizes), [arity[size] for size in sizes])
    by_arity.set_xlabel("elements per candidate")
    by_arity.set_xticks(list(sizes))
    return _save(figure, path)


def summary_counts(rows: list[dict[str, object]]) -> dict[str, int]:
    """How many rows have each flag of COUNTED, an E_hull, and a failed relaxation."""
    counts = {key: sum(bool(row[key]) for row in rows) for key in COUNTED}
    counts["with_hull"] = sum(math.isfinite(float(row["e_hull"])) for row in rows)
    counts["failed"] = sum(bool(row["error"]) for row in rows)
    return counts


def _best_table(rows: list[dict[str, object]]) -> list[str]:
    ranked = sorted((r for r in rows if math.isfinite(float(r["e_hull"]))), key=lambda r: float(r["e_hull"]))
    lines = ["| id | formula | E_hull (eV/atom) | unique | novel | S.U.N. |", "|---|---|---|---|---|---|"]
    for row in ranked[:BEST_SHOWN]:
        flags = ["yes" if row[key] else "no" for key in ("unique", "novel", "sun")]
        lines.append(f"| {row['id']} | {row['formula']} | {float(row['e_hull']):.3f} | {' | '.join(flags)} |")
    return lines


def write_report(
    rows: list[dict[str, object]], num_dropped: int, header: dict[str, str], out: Path, plots: Sequence[Path]
) -> Path:
    total = len(rows)
    counts = summary_counts(rows)
    lines = ["# Screen", ""]
    lines += [f"- {key}: {value}" for key, value in header.items()]
    lines += [
        f"- candidates screened: {total} ({num_dropped} dropped before relaxation, see dropped.csv)",
        f"- relaxations failed: {counts['failed']}; converged: {counts['converged']}; "
        f"with an E_hull: {counts['with_hull']}",
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
    lines += [f"![{plot.stem}]({plot.name})\n" for plot in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
