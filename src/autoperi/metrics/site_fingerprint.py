"""matminer's CrystalNN "ops" site fingerprint, with the order parameters of a coordination number evaluated
in as few pymatgen calls as the values allow.

matminer's ``CrystalNNFingerprint`` calls pymatgen's ``LocalStructOrderParams`` once per order parameter
(15 calls per site on MP-20 samples, 6.6 here), and every call recomputes the same angles between all
pairs and triples of neighbours: two thirds of the fingerprint's time. One call can evaluate several order
parameters of the same neighbours, each accumulated on its own, with one exception: pymatgen adds the
"south pole" term (the neighbour opposite the one at the north pole) with the loop variable a previous loop
left behind, that is to the last type of the call only. So a call here holds at most one south-pole type,
and holds it last; the values are then bit-identical to matminer's (tests/test_site_fingerprint.py), and
the cached and shipped reference fingerprints stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# The types whose south-pole term pymatgen adds inside the triple loop (LocalStructOrderParams).
SOUTH_POLE_TYPES = frozenset(
    {"tri_bipyr", "sq_bipyr", "pent_bipyr", "hex_bipyr", "oct_max", "sq_plan_max", "hex_plan_max", "see_saw_rect"}
)


@dataclass(frozen=True)
class _OrderParameterCall:
    calculator: Any  # LocalStructOrderParams over several types
    positions: tuple[int, ...]  # where each of its values goes among the coordination number's features


@dataclass(frozen=True)
class _CoordinationLayout:
    coordination: int
    width: int  # features of this coordination number: its weight and its order parameters
    weight_positions: tuple[int, ...]  # where matminer writes the weight itself ("wt")
    calls: tuple[_OrderParameterCall, ...]


def _grouped_calls(operators: list[tuple[int, str, Any]]) -> tuple[_OrderParameterCall, ...]:
    """Calls covering ``(position, type, parameters)``: every type but the south-pole ones in the first,
    with the first south-pole type last; every further south-pole type in a call of its own."""
    from pymatgen.analysis.local_env import LocalStructOrderParams

    others = [op for op in operators if op[1] not in SOUTH_POLE_TYPES]
    south = [op for op in operators if op[1] in SOUTH_POLE_TYPES]
    groups = [others + south[:1]] + [[op] for op in south[1:]]
    return tuple(
        _OrderParameterCall(
            LocalStructOrderParams([op[1] for op in group], parameters=[op[2] for op in group]),
            tuple(op[0] for op in group),
        )
        for group in groups
        if group
    )


def _layout(featurizer: Any) -> tuple[_CoordinationLayout, ...]:
    """The feature layout of a matminer ``CrystalNNFingerprint`` (its ``ops`` in coordination order)."""
    layouts = []
    for coordination in range(1, max(featurizer.op_types) + 1):
        operators = featurizer.ops.get(coordination, [])
        weights = tuple(i for i, op in enumerate(operators) if op == "wt")
        computed = [(i, op.get_type(0), op.get_parameters(0)) for i, op in enumerate(operators) if op != "wt"]
        layouts.append(_CoordinationLayout(coordination, len(operators), weights, _grouped_calls(computed)))
    return tuple(layouts)


@lru_cache(maxsize=1)
def _featurizer_and_layout() -> tuple[Any, tuple[_CoordinationLayout, ...]]:
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

    featurizer = CrystalNNFingerprint.from_preset("ops")
    return featurizer, _layout(featurizer)


def site_fingerprint(structure: Any, index: int) -> list[float]:
    """``CrystalNNFingerprint.from_preset("ops").featurize(structure, index)``, value for value."""
    featurizer, layouts = _featurizer_and_layout()
    neighbours = featurizer.cnn.get_nn_data(structure, index)
    features: list[float] = []
    for layout in layouts:
        weight = neighbours.cn_weights.get(layout.coordination, 0)
        values: list[float] = [weight] * layout.width  # a zero weight zeroes every order parameter too
        if weight != 0:
            sites = [structure[index]] + [info["site"] for info in neighbours.cn_nninfo[layout.coordination]]
            indices = list(range(1, len(sites)))
            for call in layout.calls:
                results = call.calculator.get_order_parameters(sites, 0, indices_neighs=indices)
                for position, value in zip(call.positions, results, strict=True):
                    values[position] = weight * (value or 0)
        features.extend(values)
    return features
