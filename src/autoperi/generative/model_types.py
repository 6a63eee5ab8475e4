"""The one registry of model types: the ``model_type`` of a training config names an entry here, which
gives its config class, its module and what the commands may do with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from autoperi.generative.autoencoder import AutoencoderConfig, PeriodicAutoencoder
from autoperi.generative.composition import CompositionConfig, CompositionModel
from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
from autoperi.generative.latent_flow import LatentFlowConfig, LatentGenerator
from autoperi.generative.slab_flow import SlabFlow, SlabFlowConfig
from autoperi.nn.regressor import PropertyRegressor, PropertyRegressorConfig


@dataclass(frozen=True)
class ModelType:
    config: type
    model: type[nn.Module]
    generator: bool = False  # a CrystalGenerator itself: `autoperi sample` and `csp` take it
    composition_first: bool = False  # draws compositions only; `autoperi sample` pairs it with a structure model
    # The autoencoder the model is or embeds (`autoperi reconstruct` takes it), and whether that autoencoder is
    # trained first and named by the config's `model.autoencoder` (its config and weights are copied in).
    autoencoder: Callable[[nn.Module], PeriodicAutoencoder] | None = None
    pretrained_autoencoder: bool = False


MODEL_TYPES: dict[str, ModelType] = {
    "crystal_flow": ModelType(CrystalFlowConfig, CrystalFlow, generator=True),
    "autoencoder": ModelType(AutoencoderConfig, PeriodicAutoencoder, autoencoder=lambda model: model),
    "latent_flow": ModelType(
        LatentFlowConfig,
        LatentGenerator,
        generator=True,
        autoencoder=lambda model: model.autoencoder,
        pretrained_autoencoder=True,
    ),
    "composition": ModelType(CompositionConfig, CompositionModel, composition_first=True),
    # the judge of property-targeted generation (autoperi.metrics.properties), never a generator
    "property_regressor": ModelType(PropertyRegressorConfig, PropertyRegressor),
    # slab structure prediction for a given cell and composition (benchmarks/slab_csp.py), trained on slabs
    "slab_flow": ModelType(SlabFlowConfig, SlabFlow),
}
GENERATOR_TYPES = tuple(name for name, kind in MODEL_TYPES.items() if kind.generator)
COMPOSITION_TYPES = tuple(name for name, kind in MODEL_TYPES.items() if kind.composition_first)
AUTOENCODER_TYPES = tuple(name for name, kind in MODEL_TYPES.items() if kind.autoencoder is not None)
