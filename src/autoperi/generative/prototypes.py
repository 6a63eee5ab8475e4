"""Structure-type popularity of a template pool: which templates look like many others.

Each pool crystal is relabelled to its canonical species order (:func:`autoperi.generative.species.species_order`;
the i-th species becomes dummy element i, as a template's i-th species becomes the target's i-th), so two
templates are compared exactly as the candidates they would give. Two crystals *match* under the CSP metric's
own rule (:mod:`autoperi.metrics.csp`: ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10).get_rms_dist``
finds an RMS below stol; ``fit`` is stricter, it bounds the largest displacement, and disagrees with the metric
on most Carbon-24 pairs). Only the pairs one target's candidates can form are compared: crystals of the same
anonymous formula whose reduced (primitive, Niggli) cells have the same site count (the matcher rejects the
rest). The match graph is computed once per pool and cached by its content.

A template's popularity is how many pool crystals of its anonymous formula it matches, itself included: the
template that matches most training crystals of the formula is the best guess for an unseen target of that
formula, a leave-one-out estimate of its match rate. Matches with other cell sizes of the same primitive cell
are left out on purpose: counted, they favour loose structures that match across sizes and less often a
target of the size asked for (Carbon-24 pool, leave-one-out k = 1: 19.5 % counting them, 40.0 % not). For
several candidates :func:`popularity_order` is greedy: the most popular template first, then the most popular
one that matches none chosen so far, and so on, so k candidates cover k structure types.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from autoperi.caching import cache_dir
from autoperi.crystal import Crystal
from autoperi.generative.species import species_order
from autoperi.metrics.csp import CSP_MATCHER_SETTINGS
from autoperi.progress import progress_bar

PROTOTYPE_CACHE_VERSION = 3
# Graphs of the benchmark template pools (Carbon-24 lowdata_train: 3.5 CPU-min to build), named by content key.
SHIPPED_GRAPHS = Path(__file__).with_name("prototype_graphs")


def _matcher():
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**CSP_MATCHER_SETTINGS)


def canonical_structure(crystal: Crystal):
    """The crystal as a pymatgen Structure with its i-th canonical species replaced by element i + 1."""
    from pymatgen.core import Lattice, Structure

    species, _ = species_order(crystal.atomic_numbers)
    dummy = {z: rank + 1 for rank, z in enumerate(species)}
    numbers = [dummy[int(z)] for z in crystal.atomic_numbers]
    return Structure(Lattice(crystal.lattice), numbers, crystal.frac_coords)


def rms_match(matcher, reduced_a, reduced_b) -> bool:
    """Whether ``matcher.get_rms_dist`` would find a match between two already reduced structures."""
    a, b, units, a_supercell = matcher._preprocess(reduced_a, reduced_b, skip_structure_reduction=True)
    return matcher._match(a, b, units, a_supercell, use_rms=True, break_on_match=True) is not None


def _content_key(crystals: Sequence[Crystal]) -> str:
    digest = hashlib.sha256(f"{sorted(CSP_MATCHER_SETTINGS.items())}|v{PROTOTYPE_CACHE_VERSION}".encode())
    for crystal in crystals:
        for array in (crystal.lattice, crystal.frac_coords, crystal.atomic_numbers):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:20]


def match_edges(crystals: Sequence[Crystal], progress: bool = True) -> np.ndarray:
    """Every matching pair (i, j), i < j, of pool indices with the same anonymous formula, shape (E, 2)
    (uncached)."""
    matcher = _matcher()
    groups: dict[tuple, list[int]] = defaultdict(list)
    reduced = []
    for index, crystal in enumerate(crystals):
        structure = matcher._get_reduced_structure(canonical_structure(crystal), primitive_cell=True)
        reduced.append(structure)
        groups[(species_order(crystal.atomic_numbers)[1], len(structure))].append(index)
    pairs = sum(len(members) * (len(members) - 1) // 2 for members in groups.values())
    edges = []
    with progress_bar(pairs, "template match graph", unit="pair", enabled=progress) as bar:
        for members in groups.values():
            for position, i in enumerate(members):
                edges.extend((i, j) for j in members[position + 1 :] if rms_match(matcher, reduced[i], reduced[j]))
                bar.update(len(members) - position - 1)
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


class PrototypeGraph:
    """Which pool crystals match which: ``popularity[i]`` counts the crystals template i matches, itself too."""

    def __init__(self, num_crystals: int, edges: np.ndarray) -> None:
        self.neighbours: list[set[int]] = [set() for _ in range(num_crystals)]
        for i, j in edges.tolist():
            self.neighbours[i].add(j)
            self.neighbours[j].add(i)
        self.popularity = np.array([len(n) + 1 for n in self.neighbours], dtype=np.int64)

    @classmethod
    def of(cls, crystals: Sequence[Crystal], progress: bool = True) -> PrototypeGraph:
        """The pool's graph: shipped (:data:`SHIPPED_GRAPHS`, the cache file of a benchmark pool copied there)
        or cached when this pool's content was seen before."""
        name = f"{_content_key(crystals)}.npz"
        path = cache_dir() / "prototypes" / name
        known = next((p for p in (path, SHIPPED_GRAPHS / name) if p.exists()), None)
        if known is not None:
            edges = np.load(known)["edges"].astype(np.int64)
        else:
            edges = match_edges(crystals, progress)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, edges=edges.astype(np.int32))
        return cls(len(crystals), edges)

    def popularity_order(self, indices: Sequence[int], pool: int | None = None) -> list[int]:
        """Positions into ``indices`` (pool indices, nearest first): among the first ``pool`` (all when None),
        greedily the most popular template that matches none chosen before (ties: the nearer), then the
        remaining positions in their order."""
        window = range(len(indices) if pool is None else min(pool, len(indices)))
        remaining = sorted(window, key=lambda p: (-self.popularity[indices[p]], p))
        leaders: list[int] = []
        covered: set[int] = set()
        for position in remaining:
            if indices[position] not in covered:
                leaders.append(position)
                covered |= self.neighbours[indices[position]] | {indices[position]}
        chosen = set(leaders)
        return leaders + [p for p in range(len(indices)) if p not in chosen]
