"""Template-retrieval structure prediction: known crystals of the same anonymous formula, relabelled.

A crystal's anonymous formula is the multiset of its per-species atom counts (``Li4Fe4P4O16`` and
``Na4Mn4As4S16`` share ``(16, 4, 4, 4)``). For a target composition, every training crystal with the same
anonymous formula is a template. Species are put in a canonical order on both sides (by atom count, most
first, then Pauling electronegativity, then Mendeleev number, then atomic number) and the template's i-th
species becomes the target's i-th. Templates are ranked by the distance between their elements and the
target's in Mendeleev number (the sum over species of the absolute differences, each weighted by the
species' atom count), nearest first; ties go to the more stable template (lower value of the dataset's
energy property, :data:`STABILITY_PROPERTIES`), then to the earlier one in the training pool. A template
keeps its fractional coordinates and cell shape; with volume scaling its cell is scaled to the target's
estimated volume, the sum of per-element volumes fitted to the training pool by non-negative least squares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from autoperi.crystal import MAX_ATOMIC_NUMBER, Crystal
from autoperi.errors import AutoPeriError
from autoperi.generative.prototypes import PrototypeGraph, group_edges
from autoperi.generative.species import AnonymousFormula, element_distance, species_order

# Per-crystal energy-like property (lower: more stable) that breaks distance ties, where it helped on the
# dataset's lowdata_val at k = 1: MP-20 e_above_hull +0.6 points; Perov-5 heat_all -0.3 and Carbon-24
# energy_per_atom -14 points (the lowest-energy carbon polymorphs are rarely the target), so none there.
STABILITY_PROPERTIES = {"mp_20": "e_above_hull"}


def fit_element_volumes(crystals: Sequence[Crystal]) -> np.ndarray:
    """Per-element volumes (Å^3, index = atomic number) with cell volume ≈ sum of its atoms' volumes, fitted by
    non-negative least squares; elements absent from ``crystals`` get NaN."""
    from scipy.optimize import nnls

    counts = np.zeros((len(crystals), MAX_ATOMIC_NUMBER + 1))
    for row, crystal in enumerate(crystals):
        np.add.at(counts[row], crystal.atomic_numbers, 1.0)
    volumes = np.array([crystal.volume for crystal in crystals])
    present = counts.sum(axis=0) > 0
    scale = counts[:, present].sum(axis=1)  # relative error per crystal: rows divided by the atom count
    design, target = counts[:, present] / scale[:, None], volumes / scale
    # The same minimiser as nnls(design, target), from the small normal equations (Cholesky factor of the Gram).
    gram = design.T @ design
    factor = np.linalg.cholesky(gram + 1e-9 * np.trace(gram) / len(gram) * np.eye(len(gram))).T
    fitted, _ = nnls(factor, np.linalg.solve(factor.T, design.T @ target))
    result = np.full(MAX_ATOMIC_NUMBER + 1, np.nan)
    result[present] = fitted
    return result


@dataclass(frozen=True)
class _Template:
    index: int  # position in the library's pool
    species: tuple[int, ...]  # canonical order
    stability: float  # the tie-breaking energy property (0 without one, inf where unknown)


class TemplateLibrary:
    """Training crystals indexed by anonymous formula; :meth:`candidates` gives the top-k relabelled ones."""

    def __init__(
        self,
        crystals: Sequence[Crystal],
        scale_volume: bool = True,
        stability_property: str | None = None,
        count_weighted: bool = True,
    ) -> None:
        self.crystals = list(crystals)
        self.count_weighted = count_weighted
        self.element_volumes = fit_element_volumes(self.crystals) if scale_volume and self.crystals else None
        self._by_formula: dict[AnonymousFormula, list[_Template]] = defaultdict(list)
        for index, crystal in enumerate(self.crystals):
            species, formula = species_order(crystal.atomic_numbers)
            stability = float(crystal.properties.get(stability_property, np.inf)) if stability_property else 0.0
            stability = stability if np.isfinite(stability) else np.inf  # unknown: after every known value
            self._by_formula[formula].append(_Template(index, species, stability))
        self.elements = frozenset(int(z) for crystal in self.crystals for z in np.unique(crystal.atomic_numbers))
        self._prototypes: PrototypeGraph | None = None
        self._matched_formulas: set[AnonymousFormula] = set()

    def __len__(self) -> int:
        return len(self.crystals)

    def num_templates(self, composition: Sequence[int] | np.ndarray) -> int:
        return len(self._by_formula.get(species_order(composition)[1], []))

    def ranked(
        self, composition: Sequence[int] | np.ndarray, exclude: int | None = None
    ) -> list[tuple[float, _Template]]:
        """(element distance, template) of every template for ``composition``, nearest first, leaving out the
        pool's crystal number ``exclude`` (leave-one-out retrieval for a target taken from the pool)."""
        species, formula = species_order(composition)
        weights = formula if self.count_weighted else None
        templates = [t for t in self._by_formula.get(formula, []) if t.index != exclude]
        scored = [(element_distance(t.species, species, weights), t) for t in templates]
        return sorted(scored, key=lambda item: (item[0], item[1].stability, item[1].index))

    def prototypes(self, composition: Sequence[int] | np.ndarray) -> PrototypeGraph:
        """Which pool crystals match which (:class:`autoperi.generative.prototypes.PrototypeGraph`), with the
        matches among the templates of ``composition``'s anonymous formula computed (once, cached)."""
        if self._prototypes is None:
            self._prototypes = PrototypeGraph(len(self.crystals))
        formula = species_order(composition)[1]
        if formula not in self._matched_formulas:
            members = np.array([t.index for t in self._by_formula.get(formula, [])], dtype=np.int64)
            self._prototypes.add_edges(members[group_edges([self.crystals[i] for i in members])])
            self._matched_formulas.add(formula)
        return self._prototypes

    def candidates(
        self,
        composition: Sequence[int] | np.ndarray,
        k: int = 1,
        exclude: int | None = None,
        popularity_pool: int | None = None,
        popular_first: bool = True,
    ) -> list[Crystal]:
        """Up to ``k`` relabelled templates for ``composition`` (atomic numbers of the cell), nearest first.

        Each candidate carries ``template_id``, ``template_index`` (position in the pool),
        ``template_distance`` and ``volume_ratio`` (target over template volume estimate) in its properties;
        an empty list means no training crystal has this anonymous formula. ``exclude``: see :meth:`ranked`.
        ``popularity_pool``: the nearest ``popularity_pool`` templates are reordered by structure-type
        popularity (:meth:`autoperi.generative.prototypes.PrototypeGraph.popularity_order`; 0: all templates;
        ``popular_first`` False: the nearest of each new structure type first), and each candidate records
        ``template_popularity``, how many pool crystals it matches."""
        if k < 1:
            raise AutoPeriError("the number of candidates must be positive")
        target_species, _ = species_order(composition)
        ranked = self.ranked(composition, exclude)
        if popularity_pool is None:
            return [self._relabel(template, target_species, distance) for distance, template in ranked[:k]]
        graph = self.prototypes(composition)
        indices = [template.index for _, template in ranked]
        order = graph.popularity_order(indices, popularity_pool or None, popular_first)[:k]
        chosen = [self._relabel(ranked[p][1], target_species, ranked[p][0]) for p in order]
        for candidate in chosen:
            candidate.properties["template_popularity"] = int(graph.popularity[candidate.properties["template_index"]])
        return chosen

    def _relabel(self, template: _Template, target_species: tuple[int, ...], distance: float) -> Crystal:
        source = self.crystals[template.index]
        mapping = dict(zip(template.species, target_species, strict=True))
        numbers = np.array([mapping[int(z)] for z in source.atomic_numbers], dtype=np.int64)
        ratio = self._volume_ratio(source.atomic_numbers, numbers)
        lattice = source.lattice * ratio ** (1.0 / 3.0)
        properties = {
            "template_id": source.id,
            "template_index": template.index,
            "template_distance": distance,
            "volume_ratio": ratio,
        }
        return Crystal(lattice, source.frac_coords.copy(), numbers, id=source.id, properties=properties)

    def _volume_ratio(self, template_numbers: np.ndarray, target_numbers: np.ndarray) -> float:
        if self.element_volumes is None:
            return 1.0
        template_volume = self.element_volumes[template_numbers].sum()
        target_volume = self.element_volumes[target_numbers].sum()
        if not (np.isfinite(target_volume) and template_volume > 0 and target_volume > 0):
            return 1.0  # an element the pool never saw: keep the template's volume
        return float(target_volume / template_volume)


@lru_cache(maxsize=4)
def template_library(dataset: str, split: str = "lowdata_train") -> TemplateLibrary:
    """The library of a dataset's training pool, loaded through the parsed-tensor cache (once per process)."""
    from autoperi.data import load_split

    return TemplateLibrary(load_split(dataset, split).crystals, stability_property=STABILITY_PROPERTIES.get(dataset))
