"""Periodic graphs: batched neighbour lists and differentiable edge geometry."""

from autoperi.graph.geometry import edge_vectors, metric_tensors, safe_norm
from autoperi.graph.neighbors import PeriodicGraph, build_graph, fully_connected_pairs, periodic_radius_graph

__all__ = [
    "PeriodicGraph",
    "build_graph",
    "edge_vectors",
    "fully_connected_pairs",
    "metric_tensors",
    "periodic_radius_graph",
    "safe_norm",
]
