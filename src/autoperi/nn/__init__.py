"""Networks on periodic crystals: the equivariant PaiNN-style network and a fully connected Fourier network."""

from autoperi.nn.baseline import FourierBaselineConfig, FourierFullyConnectedLayer, FullyConnectedBaseline
from autoperi.nn.embeddings import ContextEmbedding, GaussianRadialBasis, SinusoidalEmbedding, cosine_cutoff
from autoperi.nn.networks import NETWORK_KINDS, NetworkConfig, network_config
from autoperi.nn.painn import NetworkOutput, PaiNNConfig, PeriodicPaiNN

__all__ = [
    "NETWORK_KINDS",
    "ContextEmbedding",
    "FourierBaselineConfig",
    "FourierFullyConnectedLayer",
    "FullyConnectedBaseline",
    "GaussianRadialBasis",
    "NetworkConfig",
    "NetworkOutput",
    "PaiNNConfig",
    "PeriodicPaiNN",
    "SinusoidalEmbedding",
    "cosine_cutoff",
    "network_config",
]
