"""Structure-prediction metrics: match rate and normalised RMSE over k candidates per target.

A candidate matches its target when ``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)`` finds a
mapping; its RMSE is the matcher's RMS displacement, which pymatgen normalises by (V/N)^(1/3) of the
(volume-scaled) structures. Per target the best (smallest) RMSE over its matching candidates counts;
RMSE is averaged over matched targets, match rate over all targets with candidates.

Two validity rules are reported. ``reference`` is DiffCSP's: a pair counts only when the candidate and
the target are both valid (structurally and compositionally); note that a target whose composition fails
SMACT can then never be matched. ``structural`` counts every structurally valid candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from autoperi.crystal import Crystal
from autoperi.errors import AutoPeriError
from autoperi.metrics.validity import is_compositionally_valid, is_structurally_valid
from autoperi.parallel import parallel_map

CSP_MATCHER_SETTINGS = {"stol": 0.5, "ltol": 0.3, "angle_tol": 10}
CANDIDATE_SUFFIX = re.compile(r"[-_]\d+$")


@lru_cache(maxsize=1)
def csp_matcher():
    """The published CSP protocol's StructureMatcher (one per process)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher(**CSP_MATCHER_SETTINGS)


def _matchable(crystal: Crystal) -> Crystal:
    """The crystal as StructureMatcher can compare it: a slab (pbc not all True) as its cell repeated in all
    three directions, the vacuum keeping the images apart (pymatgen's matcher cannot Niggli-reduce a lattice
    that is not periodic in 3-D and would report no match)."""
    return crystal if crystal.is_bulk else crystal.copy(pbc=(True, True, True))


def normalised_rms(prediction: Crystal, target: Crystal) -> float | None:
    """StructureMatcher RMS distance (normalised by (V/N)^(1/3)), or None when the two do not match. Slabs are
    compared as their 3-D periodic cells, vacuum included (so (V/N)^(1/3) includes the vacuum)."""
    from autoperi.io.pymatgen_adapter import structure_from_crystal

    pair = structure_from_crystal(_matchable(prediction)), structure_from_crystal(_matchable(target))
    try:
        result = csp_matcher().get_rms_dist(*pair)
    except Exception:  # as the reference: a matcher failure is no match
        return None
    return None if result is None else float(result[0])


def _candidate_rms(pair: tuple[Crystal, Crystal]) -> tuple[float | None, bool, bool]:
    """(RMS or None, structurally valid, compositionally valid) of one candidate."""
    prediction, target = pair
    structural = is_structurally_valid(prediction)
    compositional = is_compositionally_valid(prediction)
    return (normalised_rms(prediction, target) if structural else None), structural, compositional


@dataclass
class CandidateScores:
    target_index: np.ndarray  # (m,) which target each candidate belongs to
    rms: np.ndarray  # (m,) NaN where no match or the candidate is structurally invalid
    structurally_valid: np.ndarray  # (m,)
    fully_valid: np.ndarray  # (m,)
    target_valid: np.ndarray  # (n_targets,)

    def reference_matches(self) -> np.ndarray:
        """(m,) whether each candidate matches under the reference rule: matched, and neither the candidate
        nor its target invalid."""
        return ~np.isnan(self.rms) & self.fully_valid & self.target_valid[self.target_index]


def score_candidates(
    candidates: list[list[Crystal]], targets: list[Crystal], workers: int | None = None
) -> CandidateScores:
    pairs = [(candidate, target) for target, group in zip(targets, candidates, strict=True) for candidate in group]
    owner = np.array([t for t, group in enumerate(candidates) for _ in group], dtype=int)
    results = parallel_map(_candidate_rms, pairs, workers, "matching candidates")
    rms = np.array([np.nan if r is None else r for r, _, _ in results], dtype=float)
    structural = np.array([s for _, s, _ in results], dtype=bool)
    compositional = np.array([c for _, _, c in results], dtype=bool)
    target_valid = np.array([is_structurally_valid(t) and is_compositionally_valid(t) for t in targets])
    return CandidateScores(owner, rms, structural, structural & compositional, target_valid)


def _summarise(scores: CandidateScores, eligible: np.ndarray, n_targets: int) -> tuple[float, float | None]:
    best = np.full(n_targets, np.inf)
    np.minimum.at(best, scores.target_index[eligible], scores.rms[eligible])
    matched = np.isfinite(best)
    has_candidates = np.bincount(scores.target_index, minlength=n_targets) > 0
    match_rate = float(matched[has_candidates].mean()) if has_candidates.any() else 0.0
    return match_rate, (float(best[matched].mean()) if matched.any() else None)


def match_rate_and_rmse(
    candidates: list[list[Crystal]], targets: list[Crystal], workers: int | None = None
) -> dict[str, float | int | None]:
    """Match rate and mean best RMSE of ``candidates[i]`` (k crystals) against ``targets[i]``."""
    return summarise_scores(score_candidates(candidates, targets, workers), [len(group) for group in candidates])


def summarise_scores(scores: CandidateScores, sizes: list[int]) -> dict[str, float | int | None]:
    """The summary of :func:`match_rate_and_rmse` from scored candidates (``sizes``: candidates per target)."""
    matchable = ~np.isnan(scores.rms)
    match_rate, rmse = _summarise(scores, scores.reference_matches(), len(sizes))
    match_rate_structural, rmse_structural = _summarise(scores, matchable, len(sizes))
    return {
        "match_rate": match_rate,
        "rmse": rmse,
        "match_rate_structural": match_rate_structural,
        "rmse_structural": rmse_structural,
        "n_targets": int(sum(1 for size in sizes if size)),
        "n_targets_without_candidates": int(sum(1 for size in sizes if not size)),
        "candidates_per_target": int(max(sizes, default=0)),
        "candidate_struct_valid": float(scores.structurally_valid.mean()) if sum(sizes) else 0.0,
        "target_valid": float(scores.target_valid.mean()) if len(sizes) else 0.0,
    }


def candidate_ranks(scores: CandidateScores) -> np.ndarray:
    """Each candidate's position (0, 1, ...) within its target's list."""
    first = np.searchsorted(scores.target_index, scores.target_index)  # candidates are grouped by target, in order
    return np.arange(len(scores.target_index)) - first


def match_rate_by_rank(scores: CandidateScores) -> list[float]:
    """Fraction of the candidates at each position within their target's list that match (structural rule)."""
    rank, matched = candidate_ranks(scores), ~np.isnan(scores.rms)
    return [float(matched[rank == r].mean()) for r in range(int(rank.max()) + 1)] if len(rank) else []


def first_candidates(scores: CandidateScores, k: int) -> CandidateScores:
    """The scores of the first ``k`` candidates of every target (best-of-k of a longer ranked list)."""
    keep = candidate_ranks(scores) < k
    return CandidateScores(
        scores.target_index[keep], scores.rms[keep], scores.structurally_valid[keep], scores.fully_valid[keep],
        scores.target_valid,
    )  # fmt: skip


def target_key(crystal: Crystal) -> str | None:
    """The target a prediction belongs to: ``properties["target_id"]``, else its id."""
    return crystal.properties.get("target_id") or crystal.id


def group_candidates(predictions: list[Crystal], targets: list[Crystal]) -> tuple[list[list[Crystal]], int]:
    """Candidates per target, paired by id; returns the groups and the number of unpaired predictions.

    A prediction pairs with the target whose id equals its ``target_id`` property or its own id, with a
    trailing ``-<k>`` or ``_<k>`` candidate number allowed (``mp-1234-0`` ... ``mp-1234-19``).
    """
    index_of = {t.id: i for i, t in enumerate(targets) if t.id is not None}
    groups: list[list[Crystal]] = [[] for _ in targets]
    unpaired = 0
    for prediction in predictions:
        key = target_key(prediction)
        if key not in index_of and key is not None:
            key = CANDIDATE_SUFFIX.sub("", key)
        if key in index_of:
            groups[index_of[key]].append(prediction)
        else:
            unpaired += 1
    if unpaired == len(predictions):
        raise AutoPeriError(
            "csp: no prediction could be paired with a target: give each prediction the target's id "
            "(optionally with a -<k> suffix) or a 'target_id' property"
        )
    return groups, unpaired
