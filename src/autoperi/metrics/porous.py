"""Metrics against a porous reference set (``--reference zeolites_iza``, ``core_cof``, ``core_mof``).

Beside what every de novo evaluation reports, a porous reference adds:

- the Zeo++ pore descriptors (:mod:`autoperi.metrics.zeopp_adapter`) and the density of the generated crystals
  (the valid ones drawn for the Wasserstein distances, so at most ``--samples`` Zeo++ runs) and of the reference
  frameworks (cached on disk, keyed by the reference's files, its crystal ids and the pore settings);
- the 1-D Wasserstein distance of every descriptor, generated against reference (crystals Zeo++ could not
  describe are left out of both sides and counted);
- for zeolites, framework validity (:mod:`autoperi.metrics.frameworks`) of every generated crystal and of the
  reference frameworks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from autoperi.caching import cache_dir
from autoperi.crystal import Crystal
from autoperi.data.porous import POROUS_SETS
from autoperi.metrics.frameworks import is_valid_zeolite
from autoperi.metrics.pores import pore_rows
from autoperi.metrics.zeopp_adapter import PORE_COLUMNS, PORE_UNITS, PoreSettings
from autoperi.parallel import parallel_map

ZEOLITE_DATASETS = ("zeolites_iza",)
# What a pore table's rows hold besides id and num_atoms, in plot order.
PORE_PROPERTIES = (*PORE_COLUMNS, "density")
PORE_PROPERTY_UNITS = {**PORE_UNITS, "density": "g/cm³"}
PORE_CACHE_VERSION = "zeopp-pyzeo-0.2/v1"


@dataclass
class PoreTable:
    """Per-crystal pore rows (``id``, ``num_atoms``, :data:`PORE_PROPERTIES`) of the crystals Zeo++ described,
    and ``(reason, message)`` for each it could not."""

    rows: list[dict[str, object]]
    failed: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> np.ndarray:
        return np.array([row[name] for row in self.rows], dtype=float)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.json")
        partial.write_text(json.dumps({"rows": self.rows, "failed": self.failed}))
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> PoreTable:
        payload = json.loads(path.read_text())
        return cls(payload["rows"], [tuple(item) for item in payload["failed"]])


@dataclass
class PoreComparison:
    """The pore tables of both sides, for the CSVs and the plot of :mod:`autoperi.metrics.report`."""

    generated: PoreTable
    reference: PoreTable


def is_porous_reference(dataset: str | None) -> bool:
    return dataset in POROUS_SETS


def pore_table(crystals: list[Crystal], settings: PoreSettings, workers: int | None = None) -> PoreTable:
    """Zeo++ on every crystal, over the project's parallel map (or the cluster of an enclosing ``on_cluster``)."""
    if not crystals:
        return PoreTable([])
    rows, failed = pore_rows(crystals, settings, workers)
    return PoreTable(rows, list(failed.errors))


def pore_cache_key(crystals: list[Crystal], sources: list[Path], read_options: str, settings: PoreSettings) -> str:
    """The files' contents, how they were read, which crystals of them (a split), the pore settings, Zeo++."""
    from autoperi.metrics.coverage import sources_digest

    ids = hashlib.sha256("|".join(str(c.id) for c in crystals).encode()).hexdigest()
    settings_text = json.dumps(asdict(settings), sort_keys=True)
    text = f"{sources_digest(sources)}|{read_options}|{ids}|{settings_text}|{PORE_CACHE_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_pore_table(
    crystals: list[Crystal],
    sources: list[Path],
    read_options: str,
    settings: PoreSettings,
    workers: int | None = None,
) -> tuple[PoreTable, bool]:
    """The pore table of a set read from ``sources``, computed once and then read from the cache; returns the
    table and whether it came from the cache."""
    path = cache_dir() / "pores" / f"{pore_cache_key(crystals, sources, read_options, settings)}.json"
    if path.exists():
        return PoreTable.load(path), True
    table = pore_table(crystals, settings, workers)
    table.save(path)
    return table, False


def zeolite_validity(crystals: list[Crystal], workers: int | None = None) -> np.ndarray:
    """Per crystal, whether every Si has 4 O and every O 2 Si (:func:`autoperi.metrics.frameworks`)."""
    return np.array(parallel_map(is_valid_zeolite, crystals, workers, "zeolite validity"), dtype=bool)


def pore_wasserstein_distances(generated: PoreTable, reference: PoreTable) -> dict[str, float | None]:
    """``wdist_<descriptor>`` of every Zeo++ descriptor; None where either side has no described crystal."""
    from scipy.stats import wasserstein_distance

    if not generated.rows or not reference.rows:
        return {f"wdist_{name}": None for name in PORE_COLUMNS}
    return {
        f"wdist_{name}": float(wasserstein_distance(generated.values(name), reference.values(name)))
        for name in PORE_COLUMNS
    }


def pore_counts(comparison: PoreComparison) -> dict[str, int]:
    return {
        "n_pores_generated": len(comparison.generated.rows),
        "n_pores_generated_failed": len(comparison.generated.failed),
        "n_pores_reference": len(comparison.reference.rows),
        "n_pores_reference_failed": len(comparison.reference.failed),
    }
