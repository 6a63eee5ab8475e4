"""Trained models as small, safe files: config + normalisation statistics + (EMA) weights.

Files are written with ``torch.save`` and read with ``torch.load(weights_only=True)``: no pickled code.
Shipped models live in ``autoperi/checkpoints/<name>.pt`` and are loaded by name.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch

from autoperi.errors import AutoPeriError
from autoperi.generative.autoencoder import PeriodicAutoencoder
from autoperi.generative.composition import CompositionFirstGenerator
from autoperi.generative.generator import CrystalGenerator
from autoperi.generative.model_types import AUTOENCODER_TYPES, COMPOSITION_TYPES, GENERATOR_TYPES, MODEL_TYPES
from autoperi.training.config import TrainConfig

FORMAT = "autoperi-model-v1"
DEFAULT_MODEL = "mp_20-composition-charge"


def build_model(config: TrainConfig) -> torch.nn.Module:
    return MODEL_TYPES[config.model_type].model(config.model)


def attach_pretrained_config(config: TrainConfig) -> None:
    """A model with a pretrained autoencoder (a latent flow) gets its config, read from the autoencoder's file."""
    if MODEL_TYPES[config.model_type].pretrained_autoencoder and not config.model.autoencoder_config:
        _, autoencoder_config, _ = load_model(config.model.autoencoder, "autoencoder")
        config.model.autoencoder_config = autoencoder_config.to_dict()["model"]


def load_pretrained_parts(model: torch.nn.Module, config: TrainConfig) -> None:
    """Weights of pretrained parts (a latent flow's autoencoder), before training starts."""
    kind = MODEL_TYPES[config.model_type]
    if kind.pretrained_autoencoder:
        autoencoder, _, _ = load_model(config.model.autoencoder, "autoencoder")
        kind.autoencoder(model).load_state_dict(autoencoder.state_dict())


def save_model(model: torch.nn.Module, config: TrainConfig, path: str | Path, metadata: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
    torch.save({"format": FORMAT, "config": config.to_dict(), "state_dict": state, "metadata": metadata or {}}, path)
    return path


def lineage_totals(metadata: dict) -> tuple[int, float]:
    """Training steps and CPU seconds over a model's whole lineage, from its file's metadata (files written
    before lineage records hold only this run's figures)."""
    steps = metadata.get("total_steps", metadata.get("steps", 0))
    cpu_seconds = metadata.get("total_cpu_seconds", metadata.get("cpu_seconds_this_run", 0.0))
    return int(steps or 0), float(cpu_seconds)


def shipped_models() -> dict[str, Path]:
    folder = files("autoperi") / "checkpoints"
    return (
        {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".pt")} if folder.is_dir() else {}
    )


def resolve_model_path(name_or_path: str | None) -> Path:
    shipped = shipped_models()
    if name_or_path is None and DEFAULT_MODEL not in shipped:
        raise AutoPeriError(
            "no trained model ships with this version: pass --model RUN_FOLDER or model.pt "
            "(train one with `autoperi train --config configs/mp_20-latent_flow.yaml`)"
        )
    name_or_path = name_or_path or DEFAULT_MODEL
    if name_or_path in shipped:
        return shipped[name_or_path]
    path = Path(name_or_path)
    if path.is_dir() and (path / "model.pt").exists():
        return path / "model.pt"
    if path.is_file():
        return path
    known = ", ".join(sorted(shipped)) or "none"
    raise AutoPeriError(f"no model {name_or_path!r}: not a shipped model (shipped: {known}) nor a file")


def load_model(
    name_or_path: str | None = None, model_type: str | tuple[str, ...] = GENERATOR_TYPES
) -> tuple[torch.nn.Module, TrainConfig, dict]:
    """A saved model, its training config and metadata; ``model_type`` names the type(s) the caller accepts."""
    path = resolve_model_path(name_or_path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise AutoPeriError(f"{path}: not an AutoPeri model file ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AutoPeriError(f"{path}: not an AutoPeri model file (expected format {FORMAT})")
    config = TrainConfig.from_dict(payload["config"])
    accepted = (model_type,) if isinstance(model_type, str) else model_type
    if config.model_type not in accepted:
        raise AutoPeriError(f"{path}: model type {config.model_type!r}, but this command needs {' or '.join(accepted)}")
    model = build_model(config)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, config, payload.get("metadata", {})


def load_autoencoder(name_or_path: str | None = None) -> tuple[PeriodicAutoencoder, TrainConfig, dict]:
    """The autoencoder of a saved model (an autoencoder, or the one a latent flow embeds), its config, metadata."""
    model, config, metadata = load_model(name_or_path, AUTOENCODER_TYPES)
    return MODEL_TYPES[config.model_type].autoencoder(model), config, metadata


def load_generator(
    name_or_path: str | None = None, structure_model: str | None = None, structure_strategy: str | None = None
) -> tuple[CrystalGenerator, TrainConfig, dict]:
    """A model for `autoperi sample`: a generator, or a composition model paired with its structure model and
    strategy (``structure_model`` / ``structure_strategy``, else those its config names) as a
    :class:`CompositionFirstGenerator`; the hybrid strategy's templates are the composition model's training pool."""
    model, config, metadata = load_model(name_or_path, GENERATOR_TYPES + COMPOSITION_TYPES)
    if not MODEL_TYPES[config.model_type].composition_first:
        if structure_model or structure_strategy:
            raise AutoPeriError("a structure model or strategy goes with a composition model only")
        return model, config, metadata
    try:
        structure, _, _ = load_model(structure_model or config.model.structure_model, "crystal_flow")
    except AutoPeriError as error:
        raise AutoPeriError(f"{config.name}'s structure model: {error} (choose one with --structure-model)") from None
    library = None
    if (structure_strategy or config.model.structure_strategy) == "hybrid":
        from autoperi.generative.templates import template_library

        library = template_library(config.data.dataset, config.data.train_split)
    return CompositionFirstGenerator(model, structure, library), config, metadata
