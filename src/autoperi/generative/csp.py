"""Structure prediction for given compositions: template retrieval, the CSP flow, or both (hybrid).

- ``template``: the k nearest relabelled training crystals (:mod:`autoperi.generative.templates`); a
  composition whose anonymous formula no training crystal has gets no candidate.
- ``flow``: k draws of a CSP crystal flow from noise.
- ``hybrid``: the template candidates first (nearest template first), optionally refined by the flow from
  time ``refine_t0`` (:meth:`CrystalFlow.refine`), then flow draws from noise up to k candidates, so a
  composition without templates is covered by the flow alone.

With ``rank_pool`` (template and hybrid), the ``rank_pool`` nearest templates get CHGNet's energy per atom
of the unrelaxed, volume-scaled template (one batched single point each) and are put first, ordered by
``rank_by``: ``energy``, lowest first (a template CHGNet cannot evaluate, an element it has no parameters
for, after the scored ones), or ``learned``, highest score of the shipped template scorer first
(:mod:`autoperi.generative.template_scorer`, recorded as ``template_score``); templates beyond the pool
follow in distance order. ``rank_by="popularity"`` needs no energies: the pool's most common structure type
comes first, then the most common type not yet among the candidates, and so on
(:mod:`autoperi.generative.prototypes`; ``rank_pool`` None reorders every template of the composition);
``rank_by="distinct"`` keeps the nearest template first and skips every template of a structure type already
listed.

Every candidate records where it came from in ``properties["source"]`` (``template``, ``refined`` or
``flow``) and, for templates, ``template_id``, ``template_distance`` and, when scored,
``static_energy_per_atom`` (eV/atom).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from autoperi.batch import CrystalBatch
from autoperi.choices import CSP_RANKINGS, CSP_STRATEGIES
from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.generative.crystal_flow import CrystalFlow
from autoperi.generative.sampling import generate
from autoperi.generative.templates import TemplateLibrary

STRATEGIES = CSP_STRATEGIES
# The ranking pool of `autoperi csp --strategy hybrid` per ranking, and its default ranking. On MP-20 lowdata_val
# (600 targets, k = 1) the lowest-energy of the 5 nearest templates matched 62.8 % against 61.3 % for the nearest
# (pools 3, 10, 20: 61.8-61.5 %); on the whole test split 63.07 % against 61.32 %
# (benchmarks/results/issue13/energy_ranking.md). The learned scorer (fitted for pool 5) matched 62.2 % of the
# same val targets, so energy stays the default (benchmarks/results/issue13/learned_ranking.md).
HYBRID_RANK_POOLS: dict[str, int | None] = {
    "energy": 5,
    "learned": 5,
    "popularity": None,
    "distinct": None,
}  # None: every template
HYBRID_RANK_BY = "energy"
# Template datasets with another default ranking (template and hybrid). Carbon-24: every carbon template ties in
# distance, and on lowdata_val (203 targets, k = 1) the lowest CHGNet energy of the 5 nearest templates matched
# 17.2 % against 21.2 % for pool order, the most popular structure type 43.8 % (k = 20: 91.1 -> 99.0 %;
# benchmarks/results/carbon_24/README.md).
DATASET_RANK_BY = {"carbon_24": "popularity"}
# Rankings by structure type (autoperi.generative.prototypes): the most popular first, or the nearest first, each
# followed by the next of a structure type not yet listed.
STRUCTURE_TYPE_RANKINGS = ("popularity", "distinct")


@dataclass(frozen=True)
class CSPSettings:
    strategy: str = "hybrid"
    k: int = 1
    steps: int = 50  # flow steps from noise; refinement takes the same step length over [t0, 1]
    method: str = "euler"
    seed: int = 0
    batch_size: int = 64
    refine_t0: float | None = None  # hybrid: refine templates with the flow from this time; None keeps them
    # Start refinement on the training path (base noise mixed in) instead of at the template itself; on MP-20
    # lowdata_val the noise raised the RMSE of refined templates 2.4-10x (docs/BENCHMARKS.md), so it is off.
    refine_noise: bool = False
    rank_pool: int | None = None  # order the nearest rank_pool templates (by rank_by); None: off
    rank_by: str = "energy"  # CSP_RANKINGS: CHGNet energy per atom, the learned scorer or popularity

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise AutoPeriError(f"unknown strategy {self.strategy!r} (choose from {', '.join(STRATEGIES)})")
        if self.k < 1 or self.steps < 1 or self.batch_size < 1:
            raise AutoPeriError("k, steps and the batch size must be positive")
        if self.refine_t0 is not None and not 0.0 <= self.refine_t0 < 1.0:
            raise AutoPeriError(f"the refinement start time must be in [0, 1), got {self.refine_t0}")
        if self.rank_pool is not None and self.rank_pool < 1:
            raise AutoPeriError(f"the template-ranking pool must be positive, got {self.rank_pool}")
        if self.rank_by not in CSP_RANKINGS:
            raise AutoPeriError(f"unknown template ranking {self.rank_by!r} (choose from {', '.join(CSP_RANKINGS)})")

    @property
    def refine_steps(self) -> int:
        return max(1, math.ceil(self.steps * (1.0 - (self.refine_t0 or 0.0))))


def predict_structures(
    compositions: Sequence[np.ndarray],
    settings: CSPSettings,
    model: CrystalFlow | None = None,
    library: TemplateLibrary | None = None,
) -> list[list[Crystal]]:
    """Up to ``settings.k`` candidates per composition (atomic numbers of the cell), in ranked order."""
    if settings.strategy != "template" and model is None:
        raise AutoPeriError(f"the {settings.strategy} strategy needs a CSP model")
    if settings.strategy != "flow" and library is None:
        raise AutoPeriError(f"the {settings.strategy} strategy needs a template library")
    groups: list[list[Crystal]] = [[] for _ in compositions]
    if settings.strategy != "flow" and settings.rank_by in STRUCTURE_TYPE_RANKINGS:
        pool, popular = settings.rank_pool or 0, settings.rank_by == "popularity"  # pool 0: every template
        groups = [
            _tagged(library.candidates(c, settings.k, popularity_pool=pool, popular_first=popular), "template")
            for c in compositions
        ]
    elif settings.strategy != "flow":
        retrieved = max(settings.k, settings.rank_pool or 0)
        groups = [_tagged(library.candidates(c, retrieved), "template") for c in compositions]
        if settings.rank_pool:
            groups = ranked_templates(groups, settings, library)
    if settings.strategy == "hybrid" and settings.refine_t0 is not None:
        groups = _refine_groups(model, groups, settings)
    if settings.strategy != "template":
        _fill_with_flow(model, compositions, groups, settings)
    return groups


def _tagged(crystals: list[Crystal], source: str) -> list[Crystal]:
    for crystal in crystals:
        crystal.properties["source"] = source
    return crystals


def record_static_energies(crystals: Sequence[Crystal], batch_size: int = 64) -> None:
    """Set each crystal's property ``static_energy_per_atom`` (CHGNet, eV/atom; NaN where unusable)."""
    from autoperi.physics.hull import static_energies

    for crystal, value in static_energies(crystals, batch_size, description="CHGNet template energies"):
        crystal.properties["static_energy_per_atom"] = value if isinstance(value, float) else math.nan


def ranked_templates(
    groups: list[list[Crystal]], settings: CSPSettings, library: TemplateLibrary
) -> list[list[Crystal]]:
    """Each group's first ``settings.rank_pool`` templates ordered by ``settings.rank_by``, then the rest in
    their order, cut to ``settings.k``."""
    pool = settings.rank_pool or 0
    record_static_energies([crystal for group in groups for crystal in group[:pool]], settings.batch_size)
    order = _learned_order if settings.rank_by == "learned" else _energy_order
    return [(order(group[:pool], library) + group[pool:])[: settings.k] for group in groups]


def _energy_order(pool: list[Crystal], library: TemplateLibrary) -> list[Crystal]:
    def energy(crystal: Crystal) -> float:
        value = crystal.properties["static_energy_per_atom"]
        return math.inf if math.isnan(value) else value

    return sorted(pool, key=energy)


def _learned_order(pool: list[Crystal], library: TemplateLibrary) -> list[Crystal]:
    from autoperi.generative.template_scorer import pool_features, raw_values, shipped_scorer

    if not pool:
        return pool
    scores = shipped_scorer().score(pool_features(raw_values(pool, library)))
    for crystal, score in zip(pool, scores, strict=True):
        crystal.properties["template_score"] = float(score)
    return [pool[i] for i in np.argsort(-scores, kind="stable")]


def refine_crystals(model: CrystalFlow, crystals: Sequence[Crystal], settings: CSPSettings) -> list[Crystal]:
    """The crystals refined by the flow from ``settings.refine_t0``, in batches, seeded; properties are kept.

    The crystals should be in their Niggli-reduced cell, as the flow was trained (templates are)."""
    refined: list[Crystal] = []
    for start in range(0, len(crystals), settings.batch_size):
        chunk = crystals[start : start + settings.batch_size]
        generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + start)
        batch = CrystalBatch.from_crystals(list(chunk), dtype=next(model.parameters()).dtype)
        out = model.refine(
            batch, settings.refine_t0, settings.refine_steps, settings.method, generator, settings.refine_noise
        )
        for source, crystal in zip(chunk, out.to_crystals(), strict=True):
            refined.append(crystal.wrapped().copy(id=source.id, properties={**source.properties, "source": "refined"}))
    return refined


def _refine_groups(model: CrystalFlow, groups: list[list[Crystal]], settings: CSPSettings) -> list[list[Crystal]]:
    flat = refine_crystals(model, [c for group in groups for c in group], settings)
    bounds = np.cumsum([0] + [len(group) for group in groups])
    return [flat[bounds[i] : bounds[i + 1]] for i in range(len(groups))]


def _fill_with_flow(
    model: CrystalFlow, compositions: Sequence[np.ndarray], groups: list[list[Crystal]], settings: CSPSettings
) -> None:
    """Append flow draws from noise until every group has ``settings.k`` candidates."""
    owners = [i for i, group in enumerate(groups) for _ in range(settings.k - len(group))]
    if not owners:
        return
    chosen = [np.asarray(compositions[i]) for i in owners]
    drawn = generate(
        model, [len(c) for c in chosen], chosen, settings.steps, settings.method, settings.seed, settings.batch_size
    )
    for owner, crystal in zip(owners, drawn, strict=True):
        groups[owner].append(_tagged([crystal], "flow")[0])
