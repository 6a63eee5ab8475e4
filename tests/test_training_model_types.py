"""One registry of model types: configs, model files and commands all read it."""

from __future__ import annotations

import pytest
import torch

from autoperi.errors import AutoPeriError
from autoperi.generative.autoencoder import PeriodicAutoencoder
from autoperi.generative.model_types import AUTOENCODER_TYPES, GENERATOR_TYPES, MODEL_TYPES
from autoperi.training.config import TrainConfig
from autoperi.training.export import load_autoencoder, load_generator, load_model


def test_every_model_type_parses_to_its_registered_config():
    for name, kind in MODEL_TYPES.items():
        assert isinstance(TrainConfig.from_dict({"model_type": name}).model, kind.config)
    with pytest.raises(AutoPeriError, match="unknown model_type 'diffusion'"):
        TrainConfig.from_dict({"model_type": "diffusion"})


def test_load_autoencoder_returns_the_autoencoder_a_latent_flow_embeds():
    latent, _, _ = load_model("perov_5-latent_flow", "latent_flow")
    autoencoder, config, _ = load_autoencoder("perov_5-latent_flow")
    assert isinstance(autoencoder, PeriodicAutoencoder) and config.model_type in AUTOENCODER_TYPES
    expected = latent.autoencoder.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in autoencoder.state_dict().items())
    with pytest.raises(AutoPeriError, match="model type 'crystal_flow', but this command needs autoencoder or latent"):
        load_autoencoder("perov_5-crystal_flow_csp")


def test_a_generator_loads_as_itself_and_refuses_a_structure_model_option():
    model, config, _ = load_generator("perov_5-crystal_flow_csp")
    assert config.model_type in GENERATOR_TYPES and not model.de_novo
    with pytest.raises(AutoPeriError, match="a structure model or strategy goes with a composition model only"):
        load_generator("perov_5-crystal_flow_csp", structure_strategy="flow")
