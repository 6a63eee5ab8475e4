"""A learned scorer that picks among a composition's nearest templates (issue 13, hybrid CSP ranking).

For each composition the ``pool`` nearest relabelled templates (:mod:`autoperi.generative.templates`) carry
cheap per-candidate values (:data:`RAW_FIELDS`: element distance, CHGNet static energy per atom of the
relabelled, volume-scaled template, the template's own DFT values from the dataset, ...). :func:`pool_features`
turns one pool's values into features that compare each candidate with the rest of its pool (rank, energy
above the pool's lowest, fraction of the pool sharing its space group, ...). A :class:`TemplateScorer` (a
standardised linear layer, optionally behind one hidden tanh layer) maps features to a score, highest
first; it is fitted by ``benchmarks/template_scorer.py`` on leave-one-out matches within MP-20's low-data
training pool and shipped as JSON (:data:`SHIPPED_SCORER`), evaluated with numpy alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.generative.templates import TemplateLibrary

SHIPPED_SCORER = Path(__file__).with_name("mp_20_template_scorer.json")
# Per candidate: the template's element distance per atom, the CHGNet static energy per atom (NaN where
# CHGNet cannot evaluate it), the volume-scaling ratio, the template's dataset values (NaN when absent),
# and per composition: atoms, species and templates of its anonymous formula.
RAW_FIELDS = (
    "distance_per_atom",
    "energy",
    "volume_ratio",
    "template_e_above_hull",
    "template_formation_energy",
    "template_spacegroup",
    "num_atoms",
    "num_species",
    "num_templates",
)
FEATURES = (
    "rank",  # position in distance order, 0 = nearest
    "distance_per_atom",
    "distance_above_nearest",
    "energy_above_pool_min",
    "energy_above_nearest",
    "energy_rank",  # position in energy order within the pool, over the pool size
    "energy_missing",
    "template_e_above_hull",
    "formation_energy_above_pool_min",
    "log_volume_ratio",
    "abs_log_volume_ratio",
    "spacegroup_share",  # fraction of the pool with the candidate's space group (itself included)
    "log_num_templates",
    "num_atoms",
    "num_species",
    "pool_size",
)


def raw_values(group: Sequence[Crystal], library: TemplateLibrary) -> np.ndarray:
    """(len(group), len(RAW_FIELDS)) values of one composition's template candidates, in their order.

    The candidates come from ``library.candidates`` and carry ``static_energy_per_atom`` (NaN if unusable)."""
    rows = []
    for crystal in group:
        template = library.crystals[crystal.properties["template_index"]].properties
        rows.append(
            [
                crystal.properties["template_distance"] / crystal.num_atoms,
                crystal.properties["static_energy_per_atom"],
                crystal.properties["volume_ratio"],
                float(template.get("e_above_hull", math.nan)),
                float(template.get("formation_energy_per_atom", math.nan)),
                float(template.get("spacegroup.number", math.nan)),
                crystal.num_atoms,
                len(np.unique(crystal.atomic_numbers)),
                library.num_templates(crystal.atomic_numbers),
            ]
        )
    return np.array(rows, dtype=float).reshape(len(group), len(RAW_FIELDS))


def _above_min(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    return values - finite.min() if len(finite) else np.zeros_like(values)


def pool_features(raw: np.ndarray) -> np.ndarray:
    """(n, len(FEATURES)) features of one pool's candidates from their :func:`raw_values` (nearest first).

    A missing energy or dataset value becomes 0 (energy: with ``energy_missing`` set); a missing space group
    shares with nobody."""
    values = dict(zip(RAW_FIELDS, raw.T, strict=True))
    size = len(raw)
    energy, distance, group = values["energy"], values["distance_per_atom"], values["template_spacegroup"]
    missing = ~np.isfinite(energy)
    energy_order = np.argsort(np.where(missing, np.inf, energy), kind="stable")
    energy_rank = np.empty(size)
    energy_rank[energy_order] = np.arange(size) / size
    share = np.array([np.sum(group == g) / size if np.isfinite(g) else 1.0 / size for g in group])
    log_ratio = np.log(np.where(values["volume_ratio"] > 0, values["volume_ratio"], 1.0))
    columns = {
        "rank": np.arange(size, dtype=float),
        "distance_per_atom": distance,
        "distance_above_nearest": distance - distance[0],
        "energy_above_pool_min": _above_min(energy),
        "energy_above_nearest": energy - energy[0] if np.isfinite(energy[0]) else _above_min(energy),
        "energy_rank": energy_rank,
        "energy_missing": missing.astype(float),
        "template_e_above_hull": values["template_e_above_hull"],
        "formation_energy_above_pool_min": _above_min(values["template_formation_energy"]),
        "log_volume_ratio": log_ratio,
        "abs_log_volume_ratio": np.abs(log_ratio),
        "spacegroup_share": share,
        "log_num_templates": np.log(values["num_templates"]),
        "num_atoms": values["num_atoms"],
        "num_species": values["num_species"],
        "pool_size": np.full(size, float(size)),
    }
    features = np.stack([columns[name] for name in FEATURES], axis=1)
    return np.where(np.isfinite(features), features, 0.0)


@dataclass
class TemplateScorer:
    """score = w . h + b with h = tanh(W1 x' + b1) (or h = x' without a hidden layer), x' standardised."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    weights: list[list[list[float]]]  # per layer (out, in)
    biases: list[list[float]]
    pool: int  # the pool size it was fitted for
    provenance: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.features) - set(FEATURES))
        if unknown:
            raise AutoPeriError(f"template scorer: unknown features {unknown}")
        sizes = [len(self.features)] + [len(bias) for bias in self.biases]
        shapes_ok = len(self.weights) == len(self.biases) and sizes[-1] == 1
        shapes_ok = shapes_ok and all(np.shape(w) == (sizes[i + 1], sizes[i]) for i, w in enumerate(self.weights))
        if not shapes_ok or len(self.mean) != len(self.features) or len(self.scale) != len(self.features):
            raise AutoPeriError("template scorer: the layer shapes do not fit the feature list")

    def score(self, features: np.ndarray) -> np.ndarray:
        """(n,) scores of (n, len(FEATURES)) features; higher is more likely to match."""
        columns = [FEATURES.index(name) for name in self.features]
        hidden = (features[:, columns] - np.asarray(self.mean)) / np.asarray(self.scale)
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            hidden = hidden @ np.asarray(weight).T + np.asarray(bias)
            if layer < len(self.weights) - 1:
                hidden = np.tanh(hidden)
        return hidden[:, 0]

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> TemplateScorer:
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise AutoPeriError(f"cannot read the template scorer {path}: {error}") from None


@lru_cache(maxsize=1)
def shipped_scorer() -> TemplateScorer:
    return TemplateScorer.load(SHIPPED_SCORER)
