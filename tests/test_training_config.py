"""Training configs are validated once, as a whole: settings that contradict each other name their keys."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from autoperi.cli.main import main
from autoperi.errors import AutoPeriError
from autoperi.training.config import load_config
from autoperi.training.export import build_model

CRYSTAL_FLOW = """name: check
model_type: crystal_flow
model:
  mode: csp
  max_atoms: 20
  network: {hidden_dim: 16, num_layers: 1, condition_dim: CONDITION}
data: {dataset: perov_5, max_atoms: DATA_MAX_ATOMS}
"""


def write(tmp_path, condition: int = 0, data_max_atoms: int = 20, text: str = CRYSTAL_FLOW):
    path = tmp_path / "config.yaml"
    path.write_text(text.replace("CONDITION", str(condition)).replace("DATA_MAX_ATOMS", str(data_max_atoms)))
    return path


def test_a_consistent_config_loads(tmp_path):
    config = load_config(write(tmp_path))
    assert config.data.max_atoms == config.model.max_atoms == 20


def test_data_max_atoms_above_the_model_limit_names_both_keys(tmp_path):
    with pytest.raises(AutoPeriError, match=r"data\.max_atoms \(30\) exceeds model\.max_atoms \(20\)"):
        load_config(write(tmp_path, data_max_atoms=30))
    autoencoder = "model_type: autoencoder\nmodel: {decoder: {max_atoms: 10}}\ndata: {max_atoms: 20}\n"
    with pytest.raises(AutoPeriError, match=r"exceeds model\.decoder\.max_atoms \(10\)"):
        load_config(write(tmp_path, text=autoencoder))


def test_a_network_condition_dim_is_refused_before_it_becomes_a_shape_error(tmp_path):
    config = load_config(write(tmp_path))
    network = replace(config.model.network, condition_dim=3)  # unchecked, this fails as a bare shape error
    config = replace(config, model=replace(config.model, network=network))
    with pytest.raises(RuntimeError, match="shape"):
        model = build_model(config)
        model.sample(torch.tensor([5]), torch.tensor([38, 22, 8, 8, 8]), 1, "euler", torch.Generator())
    with pytest.raises(AutoPeriError, match=r"model\.network\.condition_dim is 3, must be 0"):
        load_config(write(tmp_path, condition=3))
    autoencoder = "model_type: autoencoder\nmodel: {encoder: {condition_dim: 2}}\n"
    with pytest.raises(AutoPeriError, match=r"model\.encoder\.condition_dim is 2"):
        load_config(write(tmp_path, text=autoencoder))


def test_train_reports_an_inconsistent_config_in_one_line(tmp_path, capsys):
    assert main(["train", "--config", str(write(tmp_path, data_max_atoms=64)), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.max_atoms (64) exceeds model.max_atoms (20)" in err


def test_an_empty_config_file_is_refused_not_trained_on_defaults(tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("\n")
    assert main(["train", "--config", str(empty), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the config file is empty" in err
    assert not (tmp_path / "run").exists()
