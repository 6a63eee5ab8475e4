"""Typed training configs, read from and written to YAML, and saved inside every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from autoperi.errors import AutoPeriError
from autoperi.generative.autoencoder import AutoencoderConfig
from autoperi.generative.composition import CompositionConfig
from autoperi.generative.crystal_flow import CrystalFlowConfig
from autoperi.generative.latent_flow import LatentFlowConfig
from autoperi.generative.model_types import MODEL_TYPES
from autoperi.generative.slab_flow import SlabFlowConfig
from autoperi.nn.networks import NETWORK_KINDS, NetworkConfig, network_config_type
from autoperi.nn.regressor import PropertyRegressorConfig
from autoperi.physics.losses import PhysicsLossConfig


@dataclass
class DataConfig:
    dataset: str = "perov_5"
    train_split: str = "lowdata_train"
    val_split: str = "lowdata_val"
    batch_size: int = 64
    max_atoms: int = 20
    max_val_crystals: int = 512
    # > 0: train on slabs (autoperi.data.slabs, default settings, cached) cut from a seeded subsample of this
    # many bulk crystals of the training split, and of val_slab_bulks (0: as many) of the validation split
    slab_bulks: int = 0
    val_slab_bulks: int = 0


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 200
    max_steps: int = 20000
    grad_clip: float = 1.0
    ema_decay: float = 0.999


@dataclass
class TrainConfig:
    name: str = "perov_5-crystal_flow"
    model_type: str = "crystal_flow"
    model: (
        CrystalFlowConfig | AutoencoderConfig | LatentFlowConfig | CompositionConfig | PropertyRegressorConfig
        | SlabFlowConfig
    ) = field(default_factory=CrystalFlowConfig)  # fmt: skip
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    physics: PhysicsLossConfig = field(default_factory=PhysicsLossConfig)  # all weights 0: no physics terms
    init_from: str | None = None  # a model.pt (or shipped model) whose weights and statistics training starts from
    seed: int = 0
    val_every_steps: int = 500
    checkpoint_every_steps: int = 250
    snapshot_every_steps: int = 0  # > 0: also export the EMA model to snapshots/step_NNNNNN.pt (learning curves)
    log_every_steps: int = 50
    threads: int = 0  # torch threads; 0 keeps torch's default

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        model_type = values.get("model_type", "crystal_flow")
        if model_type not in MODEL_TYPES:
            raise AutoPeriError(f"config: unknown model_type {model_type!r} (known: {sorted(MODEL_TYPES)})")
        model = _build(MODEL_TYPES[model_type].config, values.pop("model", {}), "config.model")
        config = replace(_build(cls, values, "config"), model=model)
        _check_consistency(config)
        return config


def _check_consistency(config: TrainConfig) -> None:
    """Settings that are each valid alone but not together; the error names the keys."""
    key, model_max_atoms = _model_max_atoms(config.model)
    if model_max_atoms is not None and config.data.max_atoms > model_max_atoms:
        raise AutoPeriError(
            f"config: data.max_atoms ({config.data.max_atoms}) exceeds {key} ({model_max_atoms}): the model's "
            "atom-count distribution would silently drop the larger training crystals"
        )
    for where, network in _network_configs(config.model, "model"):
        if network.condition_dim != 0:
            raise AutoPeriError(
                f"config: {where}.condition_dim is {network.condition_dim}, must be 0: no model passes its network "
                "an extra per-crystal condition (the lattice is added by the model itself)"
            )


def _model_max_atoms(model: Any) -> tuple[str, int | None]:
    if isinstance(model, AutoencoderConfig):
        return "model.decoder.max_atoms", model.decoder.max_atoms
    return "model.max_atoms", getattr(model, "max_atoms", None)


def _network_configs(config: Any, where: str) -> list[tuple[str, NetworkConfig]]:
    """Every network config nested in a model config, with its key path."""
    if isinstance(config, tuple(NETWORK_KINDS.values())):
        return [(where, config)]
    if not dataclasses.is_dataclass(config):
        return []
    return [
        found
        for item in dataclasses.fields(config)
        for found in _network_configs(getattr(config, item.name), f"{where}.{item.name}")
    ]


def _build(kind: type, values: Any, where: str) -> Any:
    """Instantiate a (nested) dataclass from a dict, rejecting unknown keys with a readable error."""
    if not isinstance(values, dict):
        raise AutoPeriError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise AutoPeriError(f"{where}: unknown keys {unknown} (known: {sorted(fields)})")
    arguments = {}
    for name, value in values.items():
        nested = _dataclass_type(kind, name)
        if _is_network_choice(fields[name]) and isinstance(value, dict):
            nested, value = _network_choice(value, f"{where}.{name}")
        if nested:
            value = _build(nested, value, f"{where}.{name}")
        elif isinstance(value, list) and isinstance(fields[name].default, tuple):
            value = tuple(value)  # YAML has lists only
        arguments[name] = value
    try:
        return kind(**arguments)
    except (TypeError, ValueError) as error:
        raise AutoPeriError(f"{where}: {error}") from None


def _is_network_choice(item: dataclasses.Field) -> bool:
    """A field typed ``NetworkConfig``: its mapping's ``kind`` picks the network (default PaiNN)."""
    return item.type in ("NetworkConfig", NetworkConfig)


def _network_choice(values: dict[str, Any], where: str) -> tuple[type, dict[str, Any]]:
    try:
        return network_config_type(values)
    except ValueError as error:
        raise AutoPeriError(f"{where}.kind: {error}") from None


def _dataclass_type(kind: type, name: str) -> type | None:
    default = next(f for f in dataclasses.fields(kind) if f.name == name)
    if default.default_factory is not dataclasses.MISSING:
        produced = default.default_factory()
        if dataclasses.is_dataclass(produced):
            return type(produced)
    return None


def load_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise AutoPeriError(f"{path}: not valid YAML ({type(error).__name__})") from None
    if values is None:
        raise AutoPeriError(f"{path}: the config file is empty")
    if not isinstance(values, dict):
        raise AutoPeriError(f"{path}: a config must be a YAML mapping of settings")
    try:
        return TrainConfig.from_dict(values)
    except AutoPeriError as error:
        raise AutoPeriError(f"{path}: {error}") from None


def save_config(config: TrainConfig, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return path
