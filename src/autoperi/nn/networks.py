"""The networks a model config can choose by ``kind``: ``painn`` (the default) or ``fourier``."""

from __future__ import annotations

from typing import Any

from autoperi.nn.baseline import FourierBaselineConfig
from autoperi.nn.painn import PaiNNConfig

NetworkConfig = PaiNNConfig | FourierBaselineConfig
NETWORK_KINDS: dict[str, type[NetworkConfig]] = {"painn": PaiNNConfig, "fourier": FourierBaselineConfig}
DEFAULT_NETWORK_KIND = "painn"


def network_config_type(values: dict[str, Any]) -> tuple[type[NetworkConfig], dict[str, Any]]:
    """The config class that a network mapping's ``kind`` names, and the mapping's settings for it.

    A mapping without ``kind`` is a PaiNN config (every config and model file written before the choice)."""
    kind = values.get("kind", DEFAULT_NETWORK_KIND)
    if kind not in NETWORK_KINDS:
        raise ValueError(f"unknown network kind {kind!r} (known: {sorted(NETWORK_KINDS)})")
    settings = {key: value for key, value in values.items() if key != "kind" or kind != DEFAULT_NETWORK_KIND}
    return NETWORK_KINDS[kind], settings


def network_config(values: dict[str, Any]) -> NetworkConfig:
    kind, settings = network_config_type(values)
    return kind(**settings)
