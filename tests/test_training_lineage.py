"""Training cost accumulates over a model's lineage: snapshots, init_from and resume carry steps and CPU time."""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from autoperi.generative.crystal_flow import CrystalFlowConfig
from autoperi.nn.baseline import FourierBaselineConfig
from autoperi.nn.painn import PaiNNConfig
from autoperi.training.config import DataConfig, OptimConfig, TrainConfig
from autoperi.training.export import load_model
from autoperi.training.train import train


def tiny_config(max_steps: int, lattice_weight: float = 1.0, frac_anneal: float = 0.0, **changes) -> TrainConfig:
    network = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)
    return TrainConfig(
        name="tiny-lineage",
        model=CrystalFlowConfig(
            mode="csp", network=network, max_atoms=20, lattice_weight=lattice_weight, frac_anneal=frac_anneal
        ),
        data=DataConfig(batch_size=8, max_val_crystals=16),
        optim=OptimConfig(max_steps=max_steps, warmup_steps=1),
        log_every_steps=1,
        **changes,
    )


def test_snapshots_and_init_from_accumulate_steps_and_cpu_seconds(tmp_path, shared_data_root):
    base = train(tiny_config(2, snapshot_every_steps=1), tmp_path / "base", progress=False)
    snapshots = sorted((tmp_path / "base" / "snapshots").glob("*.pt"))
    assert [p.name for p in snapshots] == ["step_000001.pt", "step_000002.pt"]
    first, second = (load_model(p)[2] for p in snapshots)
    assert (first["total_steps"], second["total_steps"]) == (1, 2)
    assert 0 < first["total_cpu_seconds"] <= second["total_cpu_seconds"]
    base_metadata = load_model(base)[2]
    assert base_metadata["total_steps"] == 2

    reweighted = tiny_config(1, 0.25, frac_anneal=8.0, snapshot_every_steps=1, init_from=str(base))
    continued = train(reweighted, tmp_path / "more", progress=False)  # loss and sampling settings may change
    _, continued_config, metadata = load_model(continued)
    assert (continued_config.model.lattice_weight, continued_config.model.frac_anneal) == (0.25, 8.0)
    assert (metadata["steps"], metadata["total_steps"]) == (1, 3)
    assert metadata["total_cpu_seconds"] > base_metadata["total_cpu_seconds"]
    assert (tmp_path / "more" / "snapshots" / "step_000003.pt").exists()


class FakeCpuClock:
    """A process clock that ticks by ``tick`` per reading; ``restart`` is a fresh process on a fast machine."""

    def __init__(self) -> None:
        self.now, self.tick = 0.0, 1.0

    def __call__(self) -> float:
        self.now += self.tick
        return self.now

    def restart(self) -> None:
        self.now, self.tick = 0.0, 1e-6


def test_resume_keeps_the_lineage_cpu_seconds(tmp_path, shared_data_root, monkeypatch):
    clock = FakeCpuClock()
    monkeypatch.setattr(time, "process_time", clock)
    train(tiny_config(1), tmp_path, progress=False)
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["autoperi_lineage"]["cpu_seconds"]
    assert saved >= 1
    clock.restart()
    resumed = load_model(train(tiny_config(2), tmp_path, resume=True, progress=False))[2]
    assert (resumed["steps"], resumed["total_steps"]) == (2, 2)
    assert resumed["total_cpu_seconds"] >= saved  # this process alone has used about a microsecond


def test_init_from_a_model_with_fewer_fourier_frequencies_adds_them_at_zero_weight(tmp_path, shared_data_root):
    def fourier(frequencies: int) -> CrystalFlowConfig:
        network = FourierBaselineConfig(hidden_dim=8, num_layers=1, num_frequencies=frequencies, time_dim=8)
        return CrystalFlowConfig(mode="csp", network=network, max_atoms=20)

    base = train(replace(tiny_config(1), model=fourier(2)), tmp_path / "base", progress=False)
    frozen = replace(tiny_config(1), model=fourier(3), init_from=str(base))
    frozen.optim.lr = 0.0
    grown = load_model(train(frozen, tmp_path / "grown", progress=False))[0].state_dict()
    (key,) = [k for k in grown if k.endswith("layers.0.edge.0.weight")]
    sines, cosines = grown[key][:, 2 * 8 + 9 :].reshape(8, 2, 3, 3).unbind(1)
    expected = load_model(base)[0].state_dict()[key][:, 2 * 8 + 9 :].reshape(8, 2, 3, 2).unbind(1)
    for block, old in zip((sines, cosines), expected, strict=True):
        assert torch.equal(block[..., :2], old) and not block[..., 2].any()
