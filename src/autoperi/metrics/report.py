"""Writing an evaluation: metrics.json, a readable report.md, and PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from autoperi.metrics.porous import PORE_PROPERTIES, PORE_PROPERTY_UNITS
from autoperi.metrics.suite import Evaluation
from autoperi.metrics.zeopp_adapter import PORE_COLUMNS, PORE_UNITS

# Metric name -> (label in the report, format, what it means).
METRIC_DESCRIPTIONS: dict[str, tuple[str, str, str]] = {
    "struct_valid": ("Structural validity", "pct", "all interatomic distances ≥ 0.5 Å and volume ≥ 0.1 Å³"),
    "comp_valid": (
        "Compositional validity",
        "pct",
        "SMACT charge neutrality + Pauling test (smact14 states)",
    ),
    "valid": ("Validity", "pct", "structurally and compositionally valid, fingerprint computable"),
    "cov_recall": ("COV-R", "pct", "reference crystals with a generated one within both cut-offs"),
    "cov_precision": ("COV-P", "pct", "generated crystals with a reference one within both cut-offs"),
    "amsd_recall": ("AMSD-R", "f4", "mean structure-fingerprint distance, reference to nearest generated"),
    "amsd_precision": ("AMSD-P", "f4", "mean structure-fingerprint distance, generated to nearest reference"),
    "amcd_recall": ("AMCD-R", "f3", "mean composition-fingerprint distance, reference to nearest generated"),
    "amcd_precision": (
        "AMCD-P",
        "f3",
        "mean composition-fingerprint distance, generated to nearest reference",
    ),
    "wdist_density": (
        "W(density)",
        "f4",
        "Wasserstein distance of density (g/cm³), valid sample vs reference",
    ),
    "wdist_num_elements": ("W(#elements)", "f4", "Wasserstein distance of the number of elements"),
    "wdist_num_atoms": ("W(#atoms)", "f4", "Wasserstein distance of atoms per cell"),
    "unique": ("Unique", "pct", "no earlier duplicate in the set (StructureMatcher defaults)"),
    "novel": ("Novel", "pct", "no match in the novelty reference"),
    "unique_novel": ("Unique & novel", "pct", "both"),
    "valid_unique_novel": ("Valid, unique & novel", "pct", "all three"),
    "sun": ("S.U.N.", "pct", "stable (E_hull ≤ threshold), unique and novel"),
    "match_rate": (
        "Match rate",
        "pct",
        "targets matched by a valid candidate (pred and target valid, DiffCSP rule)",
    ),
    "rmse": ("RMSE", "f4", "mean best normalised RMS distance over matched targets"),
    "match_rate_structural": (
        "Match rate (structural)",
        "pct",
        "as above, counting every structurally valid candidate",
    ),
    "rmse_structural": ("RMSE (structural)", "f4", "RMSE under the structural rule"),
    "coord_mse": ("Coordinate MSE", "f4", "Å², minimum image, after alignment"),
    "bond_length_mse": ("Bond-length MSE", "f4", "Å², target neighbour pairs within the bond cut-off"),
    "lattice_length_mse": ("Lattice-length MSE", "f4", "Å²"),
    "lattice_angle_mse": ("Lattice-angle MSE", "f3", "deg²"),
    "atom_type_accuracy": ("Atom-type accuracy", "pct", "atoms with the right element, by index"),
    "zeolite_valid": ("Zeolite framework validity", "pct", "every Si bonded to 4 O and every O to 2 Si"),
    "reference_zeolite_valid": ("Zeolite validity (reference)", "pct", "the same rule on the reference"),
    **{
        f"wdist_{name}": (
            f"W({name})",
            "f4",
            f"Wasserstein distance of Zeo++'s {name} ({PORE_UNITS[name]}), valid sample vs reference",
        )
        for name in PORE_COLUMNS
    },
}
TASK_TITLES = {"dng": "De novo generation", "csp": "Structure prediction", "recon": "Reconstruction"}


def _format(value: Any, style: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{100 * value:.2f}%" if style == "pct" else f"{value:.{style[1:]}f}"


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_metrics_json(evaluation: Evaluation, path: Path, input_label: str) -> Path:
    payload = {
        "task": evaluation.task,
        "input": input_label,
        "metrics": evaluation.metrics,
        "settings": evaluation.settings,
        "timings_s": evaluation.timings,
    }
    path.write_text(json.dumps(_json_ready(payload), indent=2, allow_nan=False) + "\n")
    return path


def _metric_rows(metrics: dict[str, Any]) -> list[str]:
    rows = ["| metric | value | meaning |", "| --- | ---: | --- |"]
    for key, (label, style, meaning) in METRIC_DESCRIPTIONS.items():
        if key in metrics:
            rows.append(f"| {label} | {_format(metrics[key], style)} | {meaning} |")
    return rows


def _count_rows(values: dict[str, Any]) -> list[str]:
    described = set(METRIC_DESCRIPTIONS)
    return [f"- {key}: {value}" for key, value in values.items() if key not in described]


def _notes(evaluation: Evaluation) -> list[str]:
    metrics, settings = evaluation.metrics, evaluation.settings
    notes = []
    requested = settings.get("wasserstein_samples_requested")
    if requested and metrics.get("n_wasserstein_samples", requested) < requested:
        notes.append(
            f"Only {metrics['n_wasserstein_samples']} valid crystals: the Wasserstein distances use all "
            f"of them instead of {requested} (the reference code refuses to run)."
        )
    if metrics.get("n_unreadable"):
        notes.append(f"{metrics['n_unreadable']} input entries could not be read; they count as invalid.")
    if "default" in str(settings.get("coverage_cutoffs_from", "")):
        notes.append(f"MP-20's COV cut-offs were used ({settings['coverage_cutoffs_from']}; see --cutoffs).")
    if str(settings.get("pore_descriptors", "")).startswith("skipped"):
        notes.append(f"Pore descriptors {settings['pore_descriptors']}")
    failed = metrics.get("n_pores_generated_failed", 0) + metrics.get("n_pores_reference_failed", 0)
    if failed:
        notes.append(f"Zeo++ could not describe {failed} crystals (left out of the pore distances; see pores_*.csv).")
    if metrics.get("n_targets_without_candidates"):
        notes.append(f"{metrics['n_targets_without_candidates']} reference crystals have no prediction.")
    if metrics.get("n_unpaired_predictions"):
        notes.append(f"{metrics['n_unpaired_predictions']} predictions match no reference id and were ignored.")
    return [f"- {note}" for note in notes]


def write_report_md(evaluation: Evaluation, path: Path, input_label: str, plots: list[Path]) -> Path:
    lines = [
        f"# AutoPeri evaluation: {TASK_TITLES[evaluation.task]}",
        "",
        f"Input: `{input_label}`  ",
        f"Reference: `{evaluation.settings.get('reference')}`",
        "",
        "## Metrics",
        "",
        *_metric_rows(evaluation.metrics),
        "",
        *(["## Notes", "", *_notes(evaluation), ""] if _notes(evaluation) else []),
        "## Counts and settings",
        "",
        *_count_rows(evaluation.metrics),
        *_count_rows(evaluation.settings),
        "",
        "## Timings (s)",
        "",
        *[f"- {name}: {seconds}" for name, seconds in evaluation.timings.items()],
    ]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots]
    lines += [
        "",
        "Definitions and deviations from the reference code: docs/evaluation.md in the AutoPeri repository.",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _histogram(axis, generated: np.ndarray, reference: np.ndarray, integer: bool) -> None:
    both = np.concatenate([generated, reference]) if len(generated) else reference
    if integer:
        bins = np.arange(both.min() - 0.5, both.max() + 1.5, 1.0)
    else:
        low, high = np.percentile(both, [0.5, 99.5])
        bins = np.linspace(low, high if high > low else low + 1.0, 50)
    axis.hist(reference, bins=bins, density=True, alpha=0.5, label=f"reference (n={len(reference)})")
    if len(generated):
        axis.hist(generated, bins=bins, density=True, alpha=0.5, label=f"generated (n={len(generated)})")
    axis.legend()


PROPERTY_PLOTS = (
    ("density", "Density (g/cm³)", False),
    ("num_elements", "Number of elements", True),
    ("num_atoms", "Atoms per cell", True),
)


def write_plots(evaluation: Evaluation, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name, label, integer in PROPERTY_PLOTS:
        if name not in evaluation.reference_properties:
            continue
        figure, axis = plt.subplots(figsize=(6, 4))
        _histogram(axis, evaluation.generated_properties[name], evaluation.reference_properties[name], integer)
        axis.set_xlabel(label)
        axis.set_ylabel("fraction of crystals" if integer else "probability density")
        distance = evaluation.metrics.get(f"wdist_{name}")
        if distance is not None:
            axis.set_title(f"Wasserstein distance {distance:.4f}")
        written.append(_save(figure, out_dir / f"{name}.png"))
    if evaluation.pores is not None:
        written.append(_pore_plot(evaluation, out_dir / "pores.png"))
    if evaluation.e_hull is not None and np.isfinite(evaluation.e_hull).any():
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.hist(evaluation.e_hull[np.isfinite(evaluation.e_hull)], bins=50)
        axis.axvline(evaluation.settings.get("stability_threshold_ev_per_atom") or 0.0, color="k", linestyle="--")
        axis.set_xlabel("E_hull (eV/atom)")
        axis.set_ylabel("crystals")
        written.append(_save(figure, out_dir / "e_hull.png"))
    return written


def _pore_plot(evaluation: Evaluation, path: Path) -> Path:
    """One panel per pore descriptor (and density): the generated sample against the reference."""
    import matplotlib.pyplot as plt

    assert evaluation.pores is not None
    generated, reference = evaluation.pores.generated, evaluation.pores.reference
    figure, axes = plt.subplots(2, 3, figsize=(15, 8))
    for axis, name in zip(axes.ravel(), PORE_PROPERTIES, strict=True):
        if reference.rows:
            _histogram(axis, generated.values(name), reference.values(name), integer=False)
        axis.set_xlabel(f"{name} ({PORE_PROPERTY_UNITS[name]})")
        axis.set_ylabel("probability density")
        distance = evaluation.metrics.get(f"wdist_{name}")
        if distance is not None:
            axis.set_title(f"Wasserstein distance {distance:.4g}")
    return _save(figure, path)


def write_pore_tables(evaluation: Evaluation, out_dir: Path) -> list[Path]:
    """``pores_generated.csv`` and ``pores_reference.csv``: one row per crystal Zeo++ described."""
    from autoperi.io.tables import write_rows

    if evaluation.pores is None:
        return []
    tables = {"generated": evaluation.pores.generated, "reference": evaluation.pores.reference}
    return [write_rows(table.rows, out_dir / f"pores_{side}.csv") for side, table in tables.items() if table.rows]


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_all(evaluation: Evaluation, out_dir: Path, input_label: str) -> list[Path]:
    """Write metrics.json, report.md, the pore tables of a porous reference and the plots into ``out_dir``;
    return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_plots(evaluation, out_dir)
    return [
        write_metrics_json(evaluation, out_dir / "metrics.json", input_label),
        write_report_md(evaluation, out_dir / "report.md", input_label, plots),
        *write_pore_tables(evaluation, out_dir),
        *plots,
    ]
