"""Physics losses in training: the one-step clean estimate, the module's loss terms, the config, and tiny
Lightning runs (one of them starting from another run's weights)."""

from __future__ import annotations

import csv
import warnings
from dataclasses import asdict, replace

import pytest
import torch

from autoperi.batch import CrystalBatch
from autoperi.errors import AutoPeriError
from autoperi.flow import sample_path, sample_time
from autoperi.generative.autoencoder import AutoencoderConfig
from autoperi.generative.crystal_flow import CrystalFlowConfig
from autoperi.generative.latent_flow import LatentFlowConfig, LatentGenerator
from autoperi.nn.painn import PaiNNConfig
from autoperi.physics.losses import PhysicsLossConfig, physics_losses
from autoperi.training.config import DataConfig, OptimConfig, TrainConfig, load_config, save_config
from autoperi.training.export import load_model, resolve_model_path
from autoperi.training.module import GeneratorModule
from autoperi.training.train import train

TINY_NETWORK = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)
# Thresholds far beyond real crystals, so that both terms are positive on any estimate.
OVERLAPPING = PhysicsLossConfig(
    repulsion_weight=1.0, volume_weight=1.0, min_distance_scale=2.0, volume_per_atom_range=(100.0, 200.0)
)


def tiny_config(mode: str = "csp", physics: PhysicsLossConfig | None = None, **changes) -> TrainConfig:
    return TrainConfig(
        name=f"tiny-{mode}",
        model=CrystalFlowConfig(mode=mode, network=TINY_NETWORK, max_atoms=20),
        data=DataConfig(batch_size=8, max_val_crystals=16),
        optim=OptimConfig(max_steps=1, warmup_steps=1),
        physics=physics or PhysicsLossConfig(),
        log_every_steps=1,
        **changes,
    )


def tiny_module(crystals, mode: str = "csp", physics: PhysicsLossConfig | None = None) -> GeneratorModule:
    torch.manual_seed(0)
    module = GeneratorModule(tiny_config(mode, physics).to_dict())
    module.model.fit_statistics(CrystalBatch.from_crystals(crystals, dtype=torch.float64))
    return module


def training_losses(module: GeneratorModule, batch: CrystalBatch) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.log.*")  # no trainer attached outside a fit
        return module.training_losses(batch)


@pytest.mark.parametrize("mode", ["dng", "csp", "coords"])
def test_clean_estimate_of_the_target_velocity_is_the_data(perov_sample, mode):
    module = tiny_module(perov_sample, mode)
    model = module.model.double()
    batch = CrystalBatch.from_crystals(perov_sample[:4], dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)
    time = sample_time(batch.num_crystals, generator=generator).double()
    space = model.product_space(batch.batch)
    path = sample_path(space, model.clean_state(batch), time, {"frac": batch.batch, "lattice": None}, generator)
    velocities = {key: value.clone().requires_grad_(True) for key, value in path.target.items()}
    estimate = model.clean_estimate(batch, path, velocities)

    torch.testing.assert_close(estimate.lattices, batch.lattices, rtol=0, atol=1e-9)
    assert torch.equal(estimate.atomic_numbers, batch.atomic_numbers)
    shift = estimate.frac_coords - batch.frac_coords
    shift = shift - shift[batch.ptr[:-1]][batch.batch]  # a rigid translation of each crystal is allowed
    torch.testing.assert_close(shift - shift.round(), torch.zeros_like(shift), rtol=0, atol=1e-9)
    assert ((estimate.frac_coords >= 0) & (estimate.frac_coords < 1)).all()
    # Perov-5 cells are cubic: the lattice decoder's gradient must stay finite at repeated eigenvalues.
    (estimate.volumes.sum() + estimate.frac_coords.sum()).backward()
    assert all(torch.isfinite(v.grad).all() for v in velocities.values())


def test_without_physics_weights_the_loss_is_the_flow_loss(perov_sample):
    """Physics settings without weights change nothing; the flow loss is still the mean squared error
    between the projected predicted velocity and the target (recomputed here from the same draws)."""
    module = tiny_module(perov_sample, "csp", PhysicsLossConfig(min_distance_scale=0.9, max_potential_structures=1))
    model = module.model
    batch = CrystalBatch.from_crystals(perov_sample[:6])
    torch.manual_seed(2)
    losses = training_losses(module, batch)

    generator = torch.Generator().manual_seed(2)  # the draws of the same global seed, in loss()'s order
    time = sample_time(batch.num_crystals, generator=generator)
    space = model.product_space(batch.batch)
    path = sample_path(space, model.clean_state(batch), time, {"frac": batch.batch, "lattice": None}, generator)
    velocities, _ = model.predict(path.xt, time, batch.num_atoms, batch.atomic_numbers)
    projected = space.project(path.xt, velocities)
    expected = {key: ((projected[key] - path.target[key]) ** 2).sum(-1).mean() for key in ("frac", "lattice")}
    assert set(losses) == {"frac", "lattice", "total"}
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value)
    torch.testing.assert_close(losses["total"], expected["frac"] + expected["lattice"])


@pytest.mark.parametrize("mode", ["dng", "csp"])
def test_physics_terms_reach_the_network(perov_sample, mode):
    module = tiny_module(perov_sample, mode, OVERLAPPING)
    batch = CrystalBatch.from_crystals(perov_sample[:6])
    torch.manual_seed(3)
    losses = training_losses(module, batch)
    flow = losses["frac"] + losses["lattice"] + losses.get("types", 0.0)
    assert losses["physics_repulsion"].item() > 0 and losses["physics_volume"].item() > 0
    torch.testing.assert_close(losses["total"], flow + losses["physics_repulsion"] + losses["physics_volume"])

    (losses["physics_repulsion"] + losses["physics_volume"]).backward()
    gradients = [p.grad for p in module.model.network.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients)
    assert sum(float(g.abs().sum()) for g in gradients) > 0


def test_physics_judges_the_true_types_in_de_novo_mode(perov_sample):
    model = tiny_module(perov_sample, "dng").model
    batch = CrystalBatch.from_crystals(perov_sample[:6])
    _, estimate, _ = model.loss_and_estimate(batch, torch.Generator().manual_seed(4))
    assert torch.equal(estimate.atomic_numbers, batch.atomic_numbers)  # although some types were hidden
    assert estimate.frac_coords.requires_grad and estimate.lattices.requires_grad


def test_config_round_trip_with_physics(tmp_path):
    physics = PhysicsLossConfig(energy_weight=0.1, repulsion_weight=1.0, volume_per_atom_range=(6.0, 90.0))
    config = tiny_config("csp", physics, init_from="perov_5-crystal_flow_csp")
    loaded = load_config(save_config(config, tmp_path / "config.yaml"))
    assert loaded == config and loaded.physics.volume_per_atom_range == (6.0, 90.0)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_configs_without_physics_load_with_no_physics(tmp_path):
    payload = torch.load(resolve_model_path("perov_5-crystal_flow_csp"), weights_only=True)
    del payload["config"]["physics"]  # as in files saved before the physics settings existed
    torch.save(payload, tmp_path / "old.pt")
    _, config, _ = load_model(tmp_path / "old.pt")
    assert config.physics == PhysicsLossConfig() and not config.physics.active_terms
    assert TrainConfig.from_dict({"name": "old"}).physics == PhysicsLossConfig()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"physics": {"energy_wieght": 1.0}}, "unknown keys"),
        ({"physics": 0.5}, "expected a mapping"),
    ],
)
def test_bad_physics_settings_are_readable_errors(values, message):
    with pytest.raises(AutoPeriError, match=message):
        TrainConfig.from_dict(values)


def logged_columns(out) -> set[str]:
    (metrics,) = (out / "logs").rglob("metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    return {name for row in rows for name, value in row.items() if value}


def test_one_training_step_with_physics_starts_from_a_base_model(tmp_path, shared_data_root):
    base = train(tiny_config(), tmp_path / "base", progress=False)
    frozen = tiny_config(physics=PhysicsLossConfig(repulsion_weight=1.0, volume_weight=1.0), init_from=str(base))
    frozen.optim.lr = 0.0  # the run keeps its initial weights, which must be the base model's
    out = tmp_path / "physics"
    model = train(frozen, out, progress=False)

    assert {"train/physics_repulsion", "train/physics_volume", "train/physics_seconds"} <= logged_columns(out)
    assert "train/physics_energy" not in logged_columns(out)
    base_weights = load_model(base)[0].state_dict()
    for name, value in load_model(model)[0].state_dict().items():
        torch.testing.assert_close(value, base_weights[name], rtol=0, atol=0)
    assert load_config(out / "config.yaml").init_from == str(base)


def test_init_from_a_different_model_is_refused(tmp_path, shared_data_root):
    config = tiny_config("dng", init_from="perov_5-crystal_flow_csp")
    with pytest.raises(AutoPeriError, match="model config differs"):
        train(config, tmp_path, progress=False)


def test_chgnet_energy_term_on_two_crystals(perov_sample):
    physics = PhysicsLossConfig(energy_weight=0.1, max_potential_structures=2, time_weight_power=0.0)
    module = tiny_module(perov_sample, "csp", physics)
    batch = CrystalBatch.from_crystals(perov_sample[:2])
    torch.manual_seed(5)
    losses = training_losses(module, batch)
    assert torch.isfinite(losses["physics_energy"]) and float(losses["physics_energy"]) != 0.0
    losses["physics_energy"].backward()
    gradients = [p.grad for p in module.model.network.parameters() if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients)
    assert sum(float(g.abs().sum()) for g in gradients) > 0


TINY_AUTOENCODER = AutoencoderConfig(
    encoder=TINY_NETWORK, decoder=CrystalFlowConfig(mode="coords", network=TINY_NETWORK)
)


def assert_gradients_reach(parameters) -> None:
    gradients = [p.grad for p in parameters if p.grad is not None]
    assert gradients and all(torch.isfinite(g).all() for g in gradients)
    assert sum(float(g.abs().sum()) for g in gradients) > 0


def test_physics_terms_train_the_autoencoder(perov_sample):
    config = replace(tiny_config(physics=OVERLAPPING), model_type="autoencoder", model=TINY_AUTOENCODER)
    torch.manual_seed(0)
    module = GeneratorModule(TrainConfig.from_dict(config.to_dict()).to_dict())
    batch = CrystalBatch.from_crystals([c.niggli_reduced() for c in perov_sample[:6]])
    module.model.fit_statistics(batch)
    torch.manual_seed(3)
    losses = training_losses(module, batch)
    physics = losses["physics_repulsion"] + losses["physics_volume"]
    assert {"frac", "types", "kl"} < set(losses) and physics.item() > 0
    torch.testing.assert_close(losses["total"], losses["frac"] + losses["types"] + losses["kl"] + physics)

    physics.backward()  # through the decoder's clean estimate into the decoder and, via the latents, the encoder
    assert_gradients_reach(module.model.coordinate_flow.parameters())
    assert_gradients_reach(module.model.encoder.parameters())


@pytest.fixture
def latent_generator(perov_sample):
    torch.manual_seed(0)
    config = LatentFlowConfig(
        autoencoder_config=asdict(TINY_AUTOENCODER), hidden_dim=16, num_layers=1, num_heads=2, time_dim=8
    )
    model = LatentGenerator(replace(config, physics_crystals=3, physics_decode_steps=2))
    model.fit_statistics(CrystalBatch.from_crystals(perov_sample, dtype=torch.float32))
    return model


def test_latent_flow_physics_decodes_the_crystals_nearest_the_data(latent_generator, perov_sample):
    crystals = [c.niggli_reduced() for c in perov_sample[:6]]
    crystals[1] = crystals[1].supercell((2, 1, 1))  # atom counts tell crystals apart
    batch = CrystalBatch.from_crystals(crystals)
    generator = torch.Generator().manual_seed(7)
    flow_only = latent_generator.loss(batch, torch.Generator().manual_seed(7))
    losses, decoded, times = latent_generator.loss_and_estimate(batch, generator)

    torch.testing.assert_close(losses["total"], flow_only["total"])  # same draws, same flow loss
    all_times = sample_time_draws(latent_generator, batch)
    nearest = all_times.topk(3).indices.sort().values
    torch.testing.assert_close(times, all_times[nearest])
    assert torch.equal(decoded.num_atoms, batch.num_atoms[nearest]) and decoded.num_crystals == 3
    assert decoded.lattices.requires_grad and decoded.frac_coords.requires_grad

    terms = physics_losses(decoded, OVERLAPPING, times)
    assert terms["repulsion"].item() > 0
    terms["total"].backward()
    assert_gradients_reach(latent_generator.velocity.parameters())
    assert all(p.grad is None for p in latent_generator.autoencoder.parameters())  # the autoencoder stays frozen


def sample_time_draws(model: LatentGenerator, batch: CrystalBatch) -> torch.Tensor:
    """The times the flow loss drew for ``batch`` with seed 7 (its draws: posterior noise, then times)."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model.autoencoder.encode(batch, generator, sample=True)
    return sample_time(batch.num_crystals, model.config.time_distribution, generator)


def test_differentiable_decoding_is_the_decoding(latent_generator):
    latent = latent_generator.sample_latents(
        torch.tensor([5, 5, 10]), steps=3, generator=torch.Generator().manual_seed(1)
    )
    latent.crystals.requires_grad_(True)
    plain = latent_generator.autoencoder.decode(latent, 3, generator=torch.Generator().manual_seed(2))
    tracked = latent_generator.autoencoder.decode(
        latent, 3, generator=torch.Generator().manual_seed(2), differentiable=True
    )
    torch.testing.assert_close(tracked.lattices.detach(), plain.lattices)
    torch.testing.assert_close(tracked.frac_coords.detach(), plain.frac_coords)
    assert torch.equal(tracked.atomic_numbers, plain.atomic_numbers)
    assert tracked.lattices.requires_grad and not plain.lattices.requires_grad


def test_shipped_latent_flow_fine_tunes_with_physics_without_its_autoencoder_file(
    tmp_path, monkeypatch, shared_data_root
):
    """init_from holds every weight, so the autoencoder path in the config (relative, absent here) is not read;
    the physics decoding settings of the fine-tune may differ from the base model's."""
    _, base, _ = load_model("perov_5-latent_flow")
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / base.model.autoencoder).exists()
    config = replace(
        base,
        physics=PhysicsLossConfig(repulsion_weight=1.0, volume_weight=1.0),
        init_from="perov_5-latent_flow",
        model=replace(base.model, physics_crystals=4, physics_decode_steps=5),  # training-only settings may differ
        optim=replace(base.optim, max_steps=1, warmup_steps=1, lr=0.0),
        data=replace(base.data, batch_size=8, max_val_crystals=8),
        val_every_steps=1,
        log_every_steps=1,
    )
    model_path = train(config, tmp_path / "run", progress=False)
    assert {"train/physics_repulsion", "train/physics_volume"} <= logged_columns(tmp_path / "run")
    base_weights = load_model("perov_5-latent_flow")[0].state_dict()
    for name, value in load_model(model_path)[0].state_dict().items():
        torch.testing.assert_close(value, base_weights[name], rtol=0, atol=0)


def test_a_non_finite_gradient_stops_training_at_its_step(perov_sample):
    module = tiny_module(perov_sample)
    training_losses(module, CrystalBatch.from_crystals(perov_sample[:4]))["total"].backward()
    module.on_before_optimizer_step(None)  # finite gradients pass
    name, parameter = next(iter(module.model.named_parameters()))
    parameter.grad[(0,) * parameter.grad.dim()] = float("nan")
    with pytest.raises(AutoPeriError, match=f"step 0: non-finite gradient in 1 parameters \\({name}\\)"):
        module.on_before_optimizer_step(None)
