"""The shipped hull reference: every entry lies on or above its own hull, each element's lowest entry is on it,
and its provenance names the data files it came from (their sha256 where the shared data is present)."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pytest

from autoperi.caching import path_sha256
from autoperi.crystal import Crystal
from autoperi.physics.hull import energy_above_hull
from autoperi.screening.pipeline import SHIPPED_HULL_REFERENCE, load_hull_reference


@pytest.fixture(scope="module")
def reference():
    return load_hull_reference(None)


def _crystal_of(composition: dict[str, float]) -> Crystal:
    from pymatgen.core import Element

    numbers = [Element(symbol).Z for symbol, count in composition.items() for _ in range(int(count))]
    frac = np.random.default_rng(0).uniform(size=(len(numbers), 3))
    return Crystal(np.eye(3) * 2.0 * len(numbers), frac, numbers)


def test_entries_lie_on_or_above_the_hull_and_elemental_minima_on_it(reference):
    assert len(reference.elements) == 87 and reference.model_version.startswith("chgnet")
    sample = reference.entries[:: len(reference.entries) // 12]
    crystals = [_crystal_of(entry.composition) for entry in sample]
    results = energy_above_hull(crystals, reference, energies_per_atom=[e.energy_per_atom for e in sample])
    assert all(result.e_above_hull >= -1e-6 for result in results)
    lowest: dict[str, float] = defaultdict(lambda: np.inf)
    for entry in reference.entries:
        if len(entry.composition) == 1:
            symbol = next(iter(entry.composition))
            lowest[symbol] = min(lowest[symbol], entry.energy_per_atom)
    for symbol in ("O", "Fe", "Si"):
        (result,) = energy_above_hull([_crystal_of({symbol: 1.0})], reference, energies_per_atom=[lowest[symbol]])
        assert result.e_above_hull == pytest.approx(0.0, abs=1e-9)


def test_provenance_names_the_files_and_the_build_command(reference, shared_data_root):
    digests = dict(re.findall(r"(\S+\.csv\.gz) sha256 ([0-9a-f]{64})", reference.source))
    assert set(digests) == {"val.csv.gz", "train_partial.csv.gz"}
    assert "benchmarks/build_hull_reference.py" in reference.source
    assert SHIPPED_HULL_REFERENCE.stat().st_size < 5e6
    for name, digest in digests.items():
        path = shared_data_root / "mp_20" / name
        if path.exists():
            assert path_sha256(path) == digest
