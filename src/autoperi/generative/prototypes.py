"""Structure-type popularity of a template pool: which templates look like many others.

Each pool crystal is relabelled to its canonical species order (:func:`autoperi.generative.species.species_order`;
the i-th species becomes dummy element i, as a template's i-th species becomes the target's i-th), so two
templates are compared exactly as the candidates they would give. Two crystals *match* under the CSP metric's
own rule (:mod:`autoperi.metrics.csp`: ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10).get_rms_dist``
finds an RMS below stol; ``fit`` is stricter, it bounds the largest displacement, and disagrees with the metric
on most Carbon-24 pairs). Only the pairs one target's candidates can form are compared: crystals of the same
anonymous formula whose reduced (primitive, Niggli) cells have the same site count (the matcher rejects the
rest). The graph is computed for one anonymous formula at a time, when a target of that formula first asks
for it, and cached by the content of that formula's templates.

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
from autoperi.metrics.csp import CSP_MATCHER_SETTINGS, csp_matcher
from autoperi.parallel import parallel_map

PROTOTYPE_CACHE_VERSION = 3
# Match graphs of the benchmark pools' formula groups (Carbon-24 lowdata_train: 3.5 min to build), by content key.
SHIPPED_GRAPHS = Path(__file__).with_name("prototype_graphs")


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


_REDUCED: list = []  # reduced structures of the crystals being matched, read by forked workers


def _row_matches(row: tuple[int, tuple[int, ...]]) -> list[int]:
    """Those of ``row[1]`` (indices into :data:`_REDUCED`) that match crystal ``row[0]``."""
    i, others = row
    return [j for j in others if rms_match(csp_matcher(), _REDUCED[i], _REDUCED[j])]


def match_edges(crystals: Sequence[Crystal], progress: bool = True, workers: int | None = None) -> np.ndarray:
    """Every matching pair (i, j), i < j, of indices into ``crystals`` with the same anonymous formula, shape
    (E, 2), over ``workers`` processes (default: every core; uncached)."""
    global _REDUCED
    matcher = csp_matcher()
    groups: dict[tuple, list[int]] = defaultdict(list)
    _REDUCED = []
    for index, crystal in enumerate(crystals):
        structure = matcher._get_reduced_structure(canonical_structure(crystal), primitive_cell=True)
        _REDUCED.append(structure)
        groups[(species_order(crystal.atomic_numbers)[1], len(structure))].append(index)
    rows = [(i, tuple(members[p + 1 :])) for members in groups.values() for p, i in enumerate(members[:-1])]
    pairs = sum(len(others) for _, others in rows)
    try:
        found = parallel_map(
            _row_matches, rows, workers, f"template match graph ({pairs:,} pairs)", "row", progress=progress
        )
    finally:
        _REDUCED = []
    edges = [(i, j) for (i, _), matches in zip(rows, found, strict=True) for j in matches]
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def group_edges(crystals: Sequence[Crystal], progress: bool = True) -> np.ndarray:
    """:func:`match_edges` of ``crystals`` (e.g. a pool's templates of one anonymous formula): shipped
    (:data:`SHIPPED_GRAPHS`, cache files of the benchmark pools copied there), cached by their content, or
    computed and cached."""
    name = f"{_content_key(crystals)}.npz"
    path = cache_dir() / "prototypes" / name
    known = next((p for p in (path, SHIPPED_GRAPHS / name) if p.exists()), None)
    if known is not None:
        return np.load(known)["edges"].astype(np.int64).reshape(-1, 2)
    edges = match_edges(crystals, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, edges=edges.astype(np.int32))
    return edges


class PrototypeGraph:
    """Which pool crystals match which, as far as known: ``popularity[i]`` counts the crystals template i
    matches, itself too; :meth:`add_edges` adds matches as they are computed."""

    def __init__(self, num_crystals: int, edges: np.ndarray | None = None) -> None:
        self.neighbours: list[set[int]] = [set() for _ in range(num_crystals)]
        self.popularity = np.ones(num_crystals, dtype=np.int64)
        if edges is not None:
            self.add_edges(edges)

    def add_edges(self, edges: np.ndarray) -> None:
        for i, j in np.asarray(edges, dtype=np.int64).reshape(-1, 2).tolist():
            if j not in self.neighbours[i]:
                self.neighbours[i].add(j)
                self.neighbours[j].add(i)
                self.popularity[[i, j]] += 1

    def popularity_order(
        self, indices: Sequence[int], pool: int | None = None, popular_first: bool = True
    ) -> list[int]:
        """Positions into ``indices`` (pool indices, nearest first): among the first ``pool`` (all when None),
        greedily the most popular template (``popular_first``; else the nearest) that matches none chosen
        before (ties: the nearer), then the remaining positions in their order."""
        window = range(len(indices) if pool is None else min(pool, len(indices)))
        remaining = sorted(window, key=lambda p: (-self.popularity[indices[p]], p)) if popular_first else window
        leaders: list[int] = []
        covered: set[int] = set()
        for position in remaining:
            if indices[position] not in covered:
                leaders.append(position)
                covered |= self.neighbours[indices[position]] | {indices[position]}
        chosen = set(leaders)
        return leaders + [p for p in range(len(indices)) if p not in chosen]
