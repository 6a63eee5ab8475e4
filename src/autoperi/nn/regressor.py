"""A property regressor on the periodic graph: the judge of property-targeted generation.

The PaiNN network's invariant atom features go through a small MLP to one number per atom and property; a
crystal's prediction is the mean over its atoms (the MP-20 properties are intensive: per atom, or a band
gap). Targets are standardised by the training data's mean and spread, and the loss is their mean absolute
error, so the training objective is the MAE that is reported. It is trained apart from every generator
(``model_type: property_regressor``), so a generator's own heads never judge its samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from autoperi.batch import CrystalBatch
from autoperi.nn.embeddings import segment_mean
from autoperi.nn.networks import NetworkConfig, network_config
from autoperi.nn.painn import PaiNNConfig, PeriodicPaiNN

# The MP-20 columns (CrystalBatch.labels) a regressor predicts unless its config names others.
DEFAULT_PROPERTIES = ("band_gap", "formation_energy_per_atom", "e_above_hull")


@dataclass
class PropertyRegressorConfig:
    network: NetworkConfig = field(
        default_factory=lambda: PaiNNConfig(hidden_dim=64, num_layers=3, cutoff=5.0, max_neighbors=16)
    )
    properties: tuple[str, ...] = DEFAULT_PROPERTIES
    max_atoms: int = 20

    def __post_init__(self) -> None:
        if isinstance(self.network, dict):
            self.network = network_config(self.network)
        if not isinstance(self.network, PaiNNConfig):
            raise ValueError("the property regressor runs on the PaiNN network (network.kind: painn)")
        if not self.properties:
            raise ValueError("properties must name at least one per-crystal label")


class PropertyRegressor(nn.Module):
    """``predict(batch) -> {property: (B,) values}``; ``loss(batch)`` trains on the batch's labels."""

    def __init__(self, config: PropertyRegressorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PropertyRegressorConfig()
        self.network = PeriodicPaiNN(config.network)
        hidden = config.network.hidden_dim
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, len(config.properties)))
        self.register_buffer("label_mean", torch.zeros(len(config.properties)))
        self.register_buffer("label_scale", torch.ones(len(config.properties)))

    @torch.no_grad()
    def fit_statistics(self, batch: CrystalBatch) -> None:
        labels = self._labels(batch)
        self.label_mean.copy_(labels.mean(0))
        self.label_scale.copy_(labels.std(0).clamp(min=1e-6))

    def _labels(self, batch: CrystalBatch) -> torch.Tensor:
        missing = [name for name in self.config.properties if name not in batch.labels]
        if missing:
            raise ValueError(f"the property regressor trains on crystals labelled with {missing}")
        return torch.stack([batch.labels[name] for name in self.config.properties], 1).to(self.label_mean.dtype)

    def standardised(self, batch: CrystalBatch) -> torch.Tensor:
        """Predictions in standard units, (B, properties)."""
        scalars = self.network(batch).scalars
        return segment_mean(self.head(scalars), batch.batch, batch.num_crystals)

    def loss(self, batch: CrystalBatch, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Mean absolute error of the standardised predictions per property, and their mean (``generator``
        is unused: no noise)."""
        target = (self._labels(batch) - self.label_mean) / self.label_scale
        errors = (self.standardised(batch) - target).abs().mean(0)
        return dict(zip(self.config.properties, errors, strict=True)) | {"total": errors.mean()}

    @torch.no_grad()
    def predict(self, batch: CrystalBatch) -> dict[str, torch.Tensor]:
        values = self.standardised(batch) * self.label_scale + self.label_mean
        return {name: values[:, i] for i, name in enumerate(self.config.properties)}
