"""Dataset statistics: counts, elements, atoms per cell and lattice statistics, as a table and a PNG."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoperi.data.datasets import CrystalDataset

LATTICE_LABELS = ("a", "b", "c", "alpha", "beta", "gamma")


@dataclass
class SplitStats:
    label: str
    num_crystals: int
    skipped: Counter[str]
    skipped_lines: list[str]
    note: str
    element_counts: Counter[str]
    elements_per_crystal: np.ndarray
    atoms_per_cell: np.ndarray
    lattice_parameters: np.ndarray  # (num_crystals, 6)
    volume_per_atom: np.ndarray

    @classmethod
    def from_dataset(cls, label: str, dataset: CrystalDataset, note: str = "") -> SplitStats:
        crystals = dataset.crystals
        skipped: Counter[str] = Counter()
        for report in dataset.reports:
            skipped.update(report.skipped)
        return cls(
            label=label,
            num_crystals=len(crystals),
            skipped=skipped,
            skipped_lines=[line for report in dataset.reports for line in report.skipped_lines()],
            note=note,
            element_counts=Counter(symbol for c in crystals for symbol in set(c.symbols)),
            elements_per_crystal=np.array([len(set(c.atomic_numbers.tolist())) for c in crystals]),
            atoms_per_cell=np.array([c.num_atoms for c in crystals]),
            lattice_parameters=np.array([c.lattice_parameters for c in crystals]).reshape(-1, 6),
            volume_per_atom=np.array([c.volume / c.num_atoms for c in crystals]),
        )


def split_status(dataset: CrystalDataset, published_rows: int) -> str:
    """Whether the rows read (kept or skipped) add up to the published split."""
    rows = len(dataset) + dataset.num_skipped
    return "complete" if rows == published_rows else f"partial: {rows} of {published_rows}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)


def _describe(values: np.ndarray) -> str:
    if len(values) == 0:
        return "-"
    return f"{values.mean():.2f} ± {values.std():.2f}"


def format_stats(stats: list[SplitStats]) -> str:
    count_rows = [
        [
            s.label,
            str(s.num_crystals),
            str(sum(s.skipped.values())),
            s.note or "-",
            str(len(s.element_counts)),
            "-"
            if not s.num_crystals
            else f"{s.atoms_per_cell.min()} / {np.median(s.atoms_per_cell):g} / {s.atoms_per_cell.max()}",
        ]
        for s in stats
    ]
    counts = _table(["split", "crystals", "skipped", "status", "elements", "atoms/cell min/median/max"], count_rows)
    lattice_rows = [
        [s.label, *(_describe(s.lattice_parameters[:, i]) for i in range(6)), _describe(s.volume_per_atom)]
        for s in stats
    ]
    lattice = _table(
        ["split", "a (Å)", "b (Å)", "c (Å)", "alpha (°)", "beta (°)", "gamma (°)", "V/atom (Å³)"],
        lattice_rows,
    )
    skipped = [
        "\n".join(
            [f"  {s.label}: " + ", ".join(f"{n} {reason}" for reason, n in s.skipped.most_common())]
            + [f"    {line}" for line in s.skipped_lines]
        )
        for s in stats
        if s.skipped
    ]
    text = f"{counts}\n\nlattice statistics (mean ± std)\n{lattice}"
    return text + ("\n\nskipped rows by cause\n" + "\n".join(skipped) if skipped else "")


def plot_stats(stats: list[SplitStats], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(14, 8))
    panels = [
        ("atoms per cell", lambda s: s.atoms_per_cell, True),
        ("elements per crystal", lambda s: s.elements_per_crystal, True),
        ("volume per atom (Å³)", lambda s: s.volume_per_atom, False),
        ("lattice lengths a, b, c (Å)", lambda s: s.lattice_parameters[:, :3].ravel(), False),
        ("lattice angles (°)", lambda s: s.lattice_parameters[:, 3:].ravel(), False),
    ]
    for axis, (label, values, integer) in zip(axes.ravel(), panels, strict=False):
        pooled = np.concatenate([values(s) for s in stats])
        if not len(pooled):
            continue
        bins = _bins(pooled, integer)
        for s in stats:
            axis.hist(values(s), bins=bins, histtype="step", density=True, label=s.label)
        axis.set_xlabel(label)
        axis.set_ylabel("density")
    _plot_elements(axes.ravel()[5], stats)
    axes.ravel()[0].legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _bins(values: np.ndarray, integer: bool, count: int = 60) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if integer:
        return np.arange(low - 0.5, high + 1.5)
    if high - low < 1e-9:
        return np.linspace(low - 0.5, high + 0.5, count + 1)
    return np.linspace(low, high, count + 1)


def _plot_elements(axis, stats: list[SplitStats], top: int = 25) -> None:
    total: Counter[str] = Counter()
    for s in stats:
        total.update(s.element_counts)
    names = [name for name, _ in total.most_common(top)]
    width = 0.8 / max(len(stats), 1)
    for offset, s in enumerate(stats):
        fractions = [s.element_counts[n] / max(s.num_crystals, 1) for n in names]
        axis.bar(np.arange(len(names)) + offset * width, fractions, width=width, label=s.label)
    axis.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=90, fontsize="small")
    axis.set_ylabel("fraction of crystals containing")
    axis.set_title(f"{top} most common elements")
