"""Template libraries restricted to one space group: the structure step of space-group-targeted generation.

A relabelled template keeps its template's symmetry (species are mapped one to one, the cell is scaled
uniformly), so a composition whose anonymous formula has a training template in the requested group gets a
structure in that group. The templates' groups are spglib's at the judge's tolerance
(:mod:`autoperi.metrics.symmetry`), computed once per training pool and cached by its content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from autoperi.caching import cache_dir
from autoperi.crystal import Crystal
from autoperi.generative.templates import STABILITY_PROPERTIES, TemplateLibrary, template_library
from autoperi.metrics.symmetry import JUDGE_SYMPREC, space_group_numbers


def _content_key(crystals: Sequence[Crystal]) -> str:
    digest = hashlib.sha256(str(JUDGE_SYMPREC).encode())
    for crystal in crystals:
        for array in (crystal.lattice, crystal.frac_coords, crystal.atomic_numbers):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:20]


def template_space_groups(crystals: Sequence[Crystal]) -> np.ndarray:
    """spglib's space-group number of every crystal at the judge's tolerance, cached by the crystals' content."""
    path = cache_dir() / "space_groups" / f"{_content_key(crystals)}.npy"
    if path.exists():
        return np.load(path)
    numbers = space_group_numbers(crystals)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, numbers)
    return numbers


@lru_cache(maxsize=16)
def space_group_library(dataset: str, split: str, number: int) -> TemplateLibrary:
    """The dataset's template library (:func:`template_library`) cut to the crystals in space group ``number``."""
    whole = template_library(dataset, split)
    groups = template_space_groups(whole.crystals)
    members = [crystal for crystal, group in zip(whole.crystals, groups, strict=True) if group == number]
    library = TemplateLibrary(members, scale_volume=False, stability_property=STABILITY_PROPERTIES.get(dataset))
    library.element_volumes = whole.element_volumes  # the whole pool's fit, so volumes match the unrestricted case
    return library
