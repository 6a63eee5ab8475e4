"""Networks on periodic crystals: the equivariant PaiNN-style network and a fully connected baseline."""

from autoperi.nn.baseline import FourierBaselineConfig, FourierFullyConnectedLayer, FullyConnectedBaseline
from autoperi.nn.embeddings import ContextEmbedding, GaussianRadialBasis, SinusoidalEmbedding, cosine_cutoff
from autoperi.nn.painn import NetworkOutput, PaiNNConfig, PeriodicPaiNN

__all__ = [
    "ContextEmbedding",
    "FourierBaselineConfig",
    "FourierFullyConnectedLayer",
    "FullyConnectedBaseline",
    "GaussianRadialBasis",
    "NetworkOutput",
    "PaiNNConfig",
    "PeriodicPaiNN",
    "SinusoidalEmbedding",
    "cosine_cutoff",
]
