"""Smoke runs of `autoperi train`, `sample` and `csp` with tiny models, and their bad-input errors."""

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ase.io import read

from autoperi.cli.main import main

TINY = {
    "network": {"hidden_dim": 16, "num_layers": 1, "num_radial": 8, "cutoff": 5.0, "max_neighbors": 12, "time_dim": 8},
    "max_atoms": 20,
}


def tiny_config(tmp_path, mode: str):
    model = {"mode": mode, **TINY}
    model_type = mode if mode in ("autoencoder", "latent_flow", "composition") else "crystal_flow"
    if mode == "autoencoder":
        model = {"encoder": TINY["network"], "decoder": {"mode": "coords", "network": TINY["network"]}}
    if mode == "latent_flow":
        autoencoder = tmp_path / "autoencoder" / "model.pt"
        model = {"autoencoder": str(autoencoder), "hidden_dim": 16, "num_layers": 1, "num_heads": 2, "time_dim": 8}
    if mode == "composition":
        structure = str(tmp_path / "csp" / "model.pt")
        model = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2, "max_atoms": 20, "structure_model": structure}
    config = {
        "name": f"tiny-{mode}",
        "model_type": model_type,
        "model": model,
        "data": {"dataset": "perov_5", "batch_size": 8, "max_val_crystals": 16},
        "optim": {"max_steps": 3, "warmup_steps": 1},
        "val_every_steps": 2,
        "checkpoint_every_steps": 2,
    }
    path = tmp_path / f"{mode}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_data_root):
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for mode in ("dng", "csp", "autoencoder", "latent_flow", "composition"):
        out = root / mode
        assert main(["train", "--config", str(tiny_config(root, mode)), "--out", str(out)]) == 0
        runs[mode] = out
    return runs


def test_train_writes_a_model_and_resumes(trained, capsys):
    out = trained["dng"]
    assert (out / "model.pt").exists() and (out / "checkpoints" / "last.ckpt").exists()
    assert (out / "config.yaml").exists() and list((out / "logs").rglob("metrics.csv"))
    assert main(["train", "--config", str(out / "config.yaml"), "--out", str(out), "--resume", "--max-steps", "4"]) == 0
    from autoperi.training.export import load_model

    _, _, metadata = load_model(out)
    assert metadata["steps"] == 4


def test_sample_writes_cif_extxyz_summary_and_is_deterministic(trained, tmp_path, capsys):
    args = ["sample", "--model", str(trained["dng"]), "-n", "3", "--steps", "2", "--seed", "7"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    cifs = sorted(p.name for p in (tmp_path / "a").glob("*.cif"))
    assert len(cifs) == 3
    assert all(filecmp.cmp(tmp_path / "a" / name, tmp_path / "b" / name, shallow=False) for name in cifs)
    assert len(read(tmp_path / "a" / "samples.extxyz", index=":")) == 3
    assert (tmp_path / "a" / "summary.csv").read_text().count("\n") == 4
    assert "wrote 3 crystals" in capsys.readouterr().out


def sample_into(model, out, *options: str) -> int:
    return main(["sample", "--model", str(model), "-n", "2", "--steps", "2", "--out", str(out), *options])


def test_sample_with_formula_and_chemical_system(trained, tmp_path):
    from autoperi.io.readers import read_crystals

    assert sample_into(trained["dng"], tmp_path / "f", "--formula", "SrTiO3") == 0
    assert {c.formula for c in read_crystals(tmp_path / "f").crystals} == {"SrTiO3"}
    assert sample_into(trained["dng"], tmp_path / "e", "--elements", "Ba,Ti,O", "--num-atoms", "5") == 0
    elements = {s for c in read_crystals(tmp_path / "e").crystals for s in c.symbols}
    assert elements <= {"Ba", "Ti", "O"}


@pytest.mark.parametrize("mode", ["dng", "latent_flow", "composition"])
def test_every_de_novo_model_samples_the_requested_atom_count(trained, tmp_path, mode):
    from autoperi.io.readers import read_crystals

    assert sample_into(trained[mode], tmp_path, "--num-atoms", "7") == 0
    assert [c.num_atoms for c in read_crystals(tmp_path).crystals] == [7, 7]


def test_composition_model_samples_structures_of_its_compositions(trained, tmp_path):
    """A composition model samples with the CSP model its config names (hybrid with templates, by default) or
    --structure-model / --structure-strategy; --elements restricts its compositions and --formula bypasses it."""
    from autoperi.io.readers import read_crystals

    model = trained["composition"]
    assert main(["sample", "--model", str(model), "-n", "6", "--steps", "2", "--out", str(tmp_path / "a")]) == 0
    crystals = read_crystals(tmp_path / "a").crystals
    assert len(crystals) == 6 and all(1 <= c.num_atoms <= 20 for c in crystals)
    flow = ("--structure-model", str(trained["csp"]), "--structure-strategy", "flow")
    assert sample_into(model, tmp_path / "e", "--elements", "Ba,Ti,O", *flow) == 0
    assert {s for c in read_crystals(tmp_path / "e").crystals for s in c.symbols} <= {"Ba", "Ti", "O"}
    assert sample_into(model, tmp_path / "f", "--formula", "Sr2Ti2O6") == 0
    assert {(c.formula, c.num_atoms) for c in read_crystals(tmp_path / "f").crystals} == {("SrTiO3", 10)}


def test_csp_gives_k_candidates_of_the_formula(trained, tmp_path):
    from autoperi.io.readers import read_crystals

    assert (
        main(
            [
                "csp",
                "--formula",
                "Sr2Ti2O6",
                "-k",
                "3",
                "--steps",
                "2",
                "--model",
                str(trained["csp"]),
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    candidates = read_crystals(tmp_path).crystals
    assert len(candidates) == 3 and all(c.num_atoms == 10 and c.formula == "SrTiO3" for c in candidates)


@pytest.mark.parametrize(
    "args",
    [
        ["sample", "--model", "no-such-model"],
        ["csp", "--formula", "Qq2O3", "--model", "MODEL"],
        ["csp", "--formula", "SrTiO2.5", "--model", "MODEL"],
        ["sample", "--model", "MODEL", "-n", "0"],
        ["sample", "--model", "MODEL", "--elements", "Li,Zz"],
        ["sample", "--model", "CSP"],
        ["sample", "--model", "AE"],
        ["sample", "--model", "tests/conftest.py"],
        ["sample", "--model", "COMPOSITION", "--structure-model", "MODEL"],
        ["sample", "--model", "MODEL", "--structure-model", "CSP"],
        ["sample", "--model", "MODEL", "--structure-strategy", "flow"],
        ["sample", "--model", "MODEL", "--no-element-count-prior"],
        ["csp", "--formula", "SrTiO3", "--model", "COMPOSITION"],
        ["sample", "--model", "MODEL", "--space-group", "225"],
        ["sample", "--model", "COMPOSITION", "--band-gap", "3"],
        ["sample", "--model", "COMPOSITION", "--band-gap", "wide"],
        ["sample", "--model", "COMPOSITION", "--formation-energy=-1:-2"],
        ["sample", "--model", "COMPOSITION", "--space-group", "231"],
        ["sample", "--model", "COMPOSITION", "--space-group", "225", "--guidance", "-1"],
    ],
)
def test_bad_input_is_one_line(trained, tmp_path, capsys, args):
    names = {"MODEL": "dng", "CSP": "csp", "AE": "autoencoder", "COMPOSITION": "composition"}
    args = [str(trained[names[a]]) if a in names else a for a in args]
    assert main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("autoperi: error:") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [("model: {mode: dng, hidden: 3}\n", "unknown keys"), ("just a string\n", "YAML mapping"), ("a: [\n", "YAML")],
)
def test_bad_config_is_one_line(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_every_config_in_the_repository_loads():
    from autoperi.training.config import load_config
    from autoperi.training.export import build_model

    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert len(configs) >= 12
    for path in configs:
        config = load_config(path)
        assert config.name == path.stem
        if config.model_type == "latent_flow":  # built on the autoencoder of the same dataset
            autoencoder = load_config(path.with_name(path.name.replace("latent_flow", "autoencoder")))
            assert config.model.autoencoder == f"runs/{autoencoder.name}/model.pt"
            assert config.data.dataset == autoencoder.data.dataset
            config.model.autoencoder_config = autoencoder.to_dict()["model"]
        assert sum(p.numel() for p in build_model(config).parameters()) > 0


def test_two_cpu_processes_train_one_step_with_gloo(tmp_path, shared_data_root):
    """Lightning's DDP on two CPU processes (gloo backend), through the CLI as a user would run it."""
    config = tiny_config(tmp_path, "dng")
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "autoperi.cli.main",
        "train",
        "--config",
        str(config),
        "--out",
        str(out),
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--max-steps",
        "1",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    log = result.stdout + result.stderr
    assert "distributed_backend=gloo" in log and "Starting with 2 processes" in log
    assert (out / "model.pt").exists()


def test_reconstruct_writes_crystals_and_errors(trained, perov_sample, tmp_path, capsys):
    import csv
    import json

    from autoperi.io.cdvae_csv import write_cdvae_csv

    source = write_cdvae_csv(perov_sample[:3], tmp_path / "three.csv")
    out = tmp_path / "recon"
    assert (
        main(["reconstruct", str(source), "--model", str(trained["autoencoder"]), "--steps", "2", "--out", str(out)])
        == 0
    )
    rows = list(csv.DictReader((out / "errors.csv").open()))
    assert [row["id"] for row in rows] == [c.id for c in perov_sample[:3]]
    assert {"coord_mse", "bond_length_mse", "lattice_length_mse", "atom_type_accuracy"} <= set(rows[0])
    assert float(rows[0]["lattice_length_mse"]) < 1e-8  # the lattice latent decodes exactly
    assert json.loads((out / "metrics.json").read_text())["n_pairs"] == 3
    assert len(list(out.glob("*.cif"))) == 3
    assert main(["reconstruct", str(source), "--model", str(trained["dng"]), "--out", str(out)]) == 2
    assert "needs autoencoder or latent_flow" in capsys.readouterr().err
    latent_out = tmp_path / "recon-latent"
    arguments = ["reconstruct", str(source), "--model", str(trained["latent_flow"]), "--steps", "2"]
    assert main([*arguments, "--out", str(latent_out)]) == 0
    assert filecmp.cmp(out / "errors.csv", latent_out / "errors.csv", shallow=False)  # the same autoencoder


def test_latent_flow_model_is_self_contained_and_samples(trained, tmp_path):
    """The saved latent generator holds its autoencoder: it samples after the autoencoder's file is gone."""
    import shutil

    model_file = tmp_path / "latent.pt"
    shutil.copy(trained["latent_flow"] / "model.pt", model_file)
    autoencoder_file = trained["autoencoder"] / "model.pt"
    hidden = autoencoder_file.rename(autoencoder_file.with_suffix(".hidden"))
    try:
        outs = [tmp_path / "a", tmp_path / "b"]
        for out in outs:
            arguments = ["sample", "--model", str(model_file), "-n", "5", "--steps", "3", "--seed", "4"]
            assert main([*arguments, "--out", str(out)]) == 0
        assert filecmp.cmp(outs[0] / "samples.extxyz", outs[1] / "samples.extxyz", shallow=False)
        assert len(read(outs[0] / "samples.extxyz", index=":")) == 5
        arguments = ["sample", "--model", str(model_file), "-n", "2", "--elements", "Sr,O", "--steps", "2"]
        assert main([*arguments, "--out", str(tmp_path / "c")]) == 0
        symbols = {s for atoms in read(tmp_path / "c" / "samples.extxyz", index=":") for s in atoms.symbols}
        assert symbols <= {"Sr", "O"}
    finally:
        hidden.rename(autoencoder_file)


def test_shipped_perov_csp_model_predicts_srtio3(tmp_path):
    """The README's csp example: the shipped Perov-5 model gives k SrTiO3 candidates with sane cells."""
    from autoperi.io.readers import read_crystals
    from autoperi.training.export import load_model, shipped_models

    assert "perov_5-crystal_flow_csp" in shipped_models()
    _, config, metadata = load_model("perov_5-crystal_flow_csp")
    assert config.model.mode == "csp" and config.data.dataset == "perov_5" and metadata["total_steps"] == 8000
    arguments = ["csp", "--formula", "SrTiO3", "-k", "3", "--steps", "20", "--model", "perov_5-crystal_flow_csp"]
    assert main([*arguments, "--out", str(tmp_path)]) == 0
    candidates = read_crystals(tmp_path).crystals
    assert [c.formula for c in candidates] == ["SrTiO3"] * 3
    assert all(3.0 < c.volume ** (1 / 3) < 6.0 for c in candidates)  # perovskite cells are about 4 Å


def test_default_model_generates_mp20_like_crystals(tmp_path, capsys, shared_data_root):
    """The README's first command: with no --model, `autoperi sample` uses the shipped composition-first
    MP-20 model, whose structure model ships too, and writes plausible crystals of coherent chemistry."""
    from autoperi.io.readers import read_crystals
    from autoperi.training.export import DEFAULT_MODEL, load_model, shipped_models

    assert DEFAULT_MODEL == "mp_20-composition-charge" and DEFAULT_MODEL in shipped_models()
    _, config, _ = load_model(None, "composition")
    assert config.data.dataset == "mp_20" and config.model.structure_model in shipped_models()
    assert config.model.charge_grammar and config.model.element_count_prior  # the session-20 chemistry levers
    assert main(["sample", "-n", "8", "--steps", "20", "--seed", "1", "--out", str(tmp_path)]) == 0
    assert "8 structurally valid" in capsys.readouterr().out
    crystals = read_crystals(tmp_path).crystals
    assert len(crystals) == 8 and all(1 <= c.num_atoms <= 20 for c in crystals)
    assert all(len(set(c.atomic_numbers.tolist())) <= 5 for c in crystals)  # MP-20 test: 0.1 % have 6 or more
    assert all(5.0 < c.volume / c.num_atoms < 60.0 for c in crystals)  # MP-20 cells: 8-102 Å³/atom (0.1-99.9 %)


def test_default_csp_model_ships_and_predicts_lifepo4(tmp_path, shared_data_root):
    """`autoperi csp --formula LiFePO4 -k 3` works out of the box: its default model is shipped."""
    from autoperi.cli.csp import DEFAULT_CSP_MODEL
    from autoperi.io.readers import read_crystals
    from autoperi.training.export import load_model, shipped_models

    assert DEFAULT_CSP_MODEL in shipped_models()
    _, config, _ = load_model(DEFAULT_CSP_MODEL, "crystal_flow")
    assert config.model.mode == "csp" and config.data.dataset == "mp_20"
    assert main(["csp", "--formula", "LiFePO4", "-k", "3", "--steps", "10", "--out", str(tmp_path)]) == 0
    candidates = read_crystals(tmp_path).crystals
    assert len(candidates) == 3 and all(c.formula == "LiFePO4" for c in candidates)


def test_shipped_perov_latent_generator_makes_perovskite_cells(tmp_path):
    from autoperi.io.readers import read_crystals

    assert main(["sample", "--model", "perov_5-latent_flow", "-n", "6", "--steps", "20", "--out", str(tmp_path)]) == 0
    crystals = read_crystals(tmp_path).crystals
    assert all(c.num_atoms == 5 for c in crystals)  # every Perov-5 cell has 5 atoms
    assert all(3.0 < c.volume ** (1 / 3) < 6.0 for c in crystals)


def test_shipped_fourier_csp_model_continues_its_lineage_and_predicts(tmp_path):
    """The Fourier-network MP-20 CSP flow ships with its training lineage, so `init_from` continues it."""
    from autoperi.io.readers import read_crystals
    from autoperi.training.export import lineage_totals, load_model

    _, config, metadata = load_model("mp_20-crystal_flow_csp-fourier", "crystal_flow")
    assert config.model.network.kind == "fourier" and config.model.mode == "csp"
    steps, cpu_seconds = lineage_totals(metadata)
    assert steps >= 20000 and cpu_seconds > 5000
    arguments = ["csp", "--formula", "NaCl", "-k", "2", "--steps", "10", "--strategy", "flow"]
    assert main([*arguments, "--model", "mp_20-crystal_flow_csp-fourier", "--out", str(tmp_path)]) == 0
    candidates = read_crystals(tmp_path).crystals
    assert [c.formula for c in candidates] == ["NaCl"] * 2
