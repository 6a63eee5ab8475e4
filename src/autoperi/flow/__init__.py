"""A generic flow-matching core: manifolds, conditional paths and ODE samplers.

Nothing in this package knows about crystals; :mod:`autoperi.generative` builds crystal models on it.
"""

from autoperi.flow.manifolds import Euclidean, FlatTorus, Manifold, group_mean
from autoperi.flow.paths import PathSample, flow_matching_loss, sample_path, sample_time
from autoperi.flow.samplers import METHODS, ProductSpace, integrate

__all__ = [
    "METHODS",
    "Euclidean",
    "FlatTorus",
    "Manifold",
    "PathSample",
    "ProductSpace",
    "flow_matching_loss",
    "group_mean",
    "integrate",
    "sample_path",
    "sample_time",
]
