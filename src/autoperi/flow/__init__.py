"""A generic flow-matching core: manifolds, conditional paths, ODE samplers and guidance.

Nothing in this package knows about crystals; :mod:`autoperi.generative` builds crystal models on it.
"""

from autoperi.flow.guidance import drop_condition, guided_field
from autoperi.flow.manifolds import Euclidean, FlatTorus, LatticeMetric, Manifold, Simplex, group_mean
from autoperi.flow.paths import PathSample, flow_matching_loss, sample_path, sample_time
from autoperi.flow.samplers import METHODS, ProductSpace, integrate

__all__ = [
    "METHODS",
    "Euclidean",
    "FlatTorus",
    "LatticeMetric",
    "Manifold",
    "PathSample",
    "ProductSpace",
    "Simplex",
    "drop_condition",
    "flow_matching_loss",
    "group_mean",
    "guided_field",
    "integrate",
    "sample_path",
    "sample_time",
]
