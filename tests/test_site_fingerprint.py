"""The grouped CrystalNN "ops" site fingerprint against matminer's own featurizer, value for value."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("matminer")

from pymatgen.analysis.local_env import LocalStructOrderParams
from pymatgen.core import Lattice, Structure

from autoperi.metrics.site_fingerprint import SOUTH_POLE_TYPES, _featurizer_and_layout, site_fingerprint


def _perturbed(structure: Structure, seed: int, scale: float = 0.08) -> Structure:
    rng = np.random.default_rng(seed)
    return Structure(
        structure.lattice, structure.species, structure.cart_coords + rng.normal(0, scale, (len(structure), 3)),
        coords_are_cartesian=True,
    )  # fmt: skip


def _structures() -> list[Structure]:
    rock_salt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cscl = Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    copper = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])
    diamond = Structure.from_spacegroup("Fd-3m", Lattice.cubic(3.57), ["C"], [[0, 0, 0]])
    rutile = Structure.from_spacegroup(
        "P4_2/mnm", Lattice.tetragonal(4.59, 2.96), ["Ti", "O"], [[0, 0, 0], [0.305, 0.305, 0]]
    )
    ideal = [s.get_primitive_structure() for s in (rock_salt, cscl, copper, diamond, rutile)]
    return ideal + [_perturbed(s, seed) for seed, s in enumerate(ideal)]


def _matminer(structure: Structure) -> np.ndarray:
    featurizer, _ = _featurizer_and_layout()
    return np.array([featurizer.featurize(structure, i) for i in range(len(structure))], dtype=float)


def _grouped(structure: Structure) -> np.ndarray:
    return np.array([site_fingerprint(structure, i) for i in range(len(structure))], dtype=float)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_bit_identical_to_matminer_on_ideal_and_perturbed_crystals():
    coordinations = set()
    for structure in _structures():
        expected = _matminer(structure)
        assert np.array_equal(_grouped(structure), expected)
        featurizer, _ = _featurizer_and_layout()
        coordinations |= {
            cn for i in range(len(structure)) for cn in featurizer.cnn.get_nn_data(structure, i).cn_weights
        }
    assert {4, 6, 8, 12} <= coordinations  # tetrahedra, octahedra, bcc and fcc neighbours were all exercised


def test_each_call_holds_at_most_one_south_pole_type_and_holds_it_last():
    _, layouts = _featurizer_and_layout()
    calls = [call for layout in layouts for call in layout.calls]
    assert len(calls) < sum(1 for layout in layouts for _ in range(layout.width - len(layout.weight_positions)))
    for call in calls:
        types = [call.calculator.get_type(i) for i in range(call.calculator.num_ops)]
        south = [i for i, name in enumerate(types) if name in SOUTH_POLE_TYPES]
        assert south in ([], [len(types) - 1])


def test_two_south_pole_types_in_one_call_would_change_the_values():
    """Why the grouping rule exists: pymatgen adds the south-pole term to the last type of a call only."""
    featurizer, _ = _featurizer_and_layout()
    structure = _perturbed(Structure(Lattice.cubic(3.0), ["Fe"], [[0, 0, 0]]).make_supercell(2), 1, 0.05)
    operators = [op for op in featurizer.ops[6] if op != "wt" and op.get_type(0) in SOUTH_POLE_TYPES]
    assert len(operators) == 2  # hex_plan_max and oct_max
    sites = [structure[0]] + [s for s in structure.get_neighbors(structure[0], 3.3)]
    indices = list(range(1, len(sites)))
    alone = [op.get_order_parameters(sites, 0, indices_neighs=indices)[0] for op in operators]
    together = LocalStructOrderParams(
        [op.get_type(0) for op in operators], parameters=[op.get_parameters(0) for op in operators]
    ).get_order_parameters(sites, 0, indices_neighs=indices)
    assert together[1] == alone[1]
    assert together[0] != alone[0]
