"""``autoperi csp``: strategies, a CSV of formulas, candidates.csv, CHGNet ranking, domain checks."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher

from autoperi.batch import CrystalBatch
from autoperi.cli.main import main
from autoperi.data import load_split
from autoperi.generative.crystal_flow import CrystalFlow, CrystalFlowConfig
from autoperi.io import read_one_crystal
from autoperi.io.pymatgen_adapter import structure_from_crystal
from autoperi.nn.painn import PaiNNConfig
from autoperi.training.config import DataConfig, TrainConfig
from autoperi.training.export import save_model

NETWORK = PaiNNConfig(hidden_dim=16, num_layers=1, num_radial=8, cutoff=5.0, max_neighbors=12, time_dim=8)


def tiny_csp_model(path, dataset: str, crystals) -> str:
    torch.manual_seed(0)
    model = CrystalFlow(CrystalFlowConfig(mode="csp", network=NETWORK, max_atoms=20))
    model.fit_statistics(CrystalBatch.from_crystals(crystals))
    config = TrainConfig(name=f"tiny-{dataset}-csp", model=model.config, data=DataConfig(dataset=dataset))
    return str(save_model(model, config, path, {"dataset": dataset, "train_split": "lowdata_train", "steps": 0}))


@pytest.fixture(scope="module")
def perov_model(tmp_path_factory, shared_data_root):
    crystals = list(load_split("perov_5", "lowdata_train"))[:64]
    return tiny_csp_model(tmp_path_factory.mktemp("perov") / "model.pt", "perov_5", crystals)


@pytest.fixture(scope="module")
def mp20_model(tmp_path_factory, shared_data_root):
    crystals = list(load_split("mp_20", "lowdata_train"))[:64]
    return tiny_csp_model(tmp_path_factory.mktemp("mp20") / "model.pt", "mp_20", crystals)


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_hybrid_default_puts_the_lowest_energy_near_template_first(mp20_model, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["csp", "--formula", "LiFePO4", "-k", "5", "--steps", "2", "--model", mp20_model]
    code, _, err = run([*argv, "--rank-pool", "0", "--out", str(out)], capsys)
    assert code == 0, err
    assert pd.read_csv(out / "candidates.csv")["static_energy_per_atom"].isna().all()
    code, _, err = run([*argv, "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "candidates.csv")
    assert list(table["id"]) == ["LiFePO4"] * 5 and list(table["rank"]) == [1, 2, 3, 4, 5]
    assert table["static_energy_per_atom"].notna().all()  # the 5 nearest templates, scored
    assert list(table["static_energy_per_atom"]) == sorted(table["static_energy_per_atom"])
    candidates = [read_one_crystal(out / name) for name in table["file"]]
    assert all(c.formula == "LiFePO4" and c.num_atoms == 7 for c in candidates)
    assert table["source"].iloc[0] == "template"
    pool = {c.id: c for c in load_split("mp_20", "lowdata_train")}
    template = structure_from_crystal(pool[table["template_id"].iloc[0]])
    assert sorted(template.composition.values()) == [1, 1, 1, 4]
    assert StructureMatcher().fit_anonymous(structure_from_crystal(candidates[0]), template)


def test_formulas_csv_writes_one_row_per_candidate(perov_model, tmp_path, capsys):
    targets = tmp_path / "targets.csv"
    targets.write_text("material_id,formula\nA,SrTiO3\nB,Ba2Ti2O6\nC,KNbO3\n")
    out = tmp_path / "out"
    argv = ["csp", "--formulas", str(targets), "-k", "2", "--strategy", "template", "--templates", "perov_5"]
    code, _, err = run([*argv, "--out", str(out)], capsys)
    assert code == 0, err
    assert "B: no perov_5 training crystal has its anonymous formula" in err
    table = pd.read_csv(out / "candidates.csv")
    assert list(table["id"]) == ["A", "A", "C", "C"] and list(table["rank"]) == [1, 2, 1, 2]
    formulas = [read_one_crystal(out / name).formula for name in table["file"]]
    assert formulas == ["SrTiO3", "SrTiO3", "KNbO3", "KNbO3"]
    assert (table["template_distance"].diff().fillna(0)[table["rank"] == 2] >= 0).all()
    code, _, err = run(
        [*argv, "--strategy", "hybrid", "--model", perov_model, "--steps", "2", "--out", str(out)], capsys
    )
    assert code == 0, err
    table = pd.read_csv(out / "candidates.csv")
    assert list(table[table["id"] == "B"]["source"]) == ["flow", "flow"]


def test_rank_pool_orders_templates_by_static_energy_for_every_formula(tmp_path, capsys, shared_data_root):
    targets = tmp_path / "targets.csv"
    targets.write_text("material_id,formula\nA,SrTiO3\nC,KNbO3\n")
    out = tmp_path / "out"
    argv = ["csp", "--formulas", str(targets), "-k", "3", "--strategy", "template", "--templates", "perov_5"]
    code, _, err = run([*argv, "--rank-pool", "4", "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "candidates.csv")
    assert list(table["id"]) == ["A"] * 3 + ["C"] * 3 and list(table["rank"]) == [1, 2, 3] * 2
    for _, group in table.groupby("id"):
        assert group["static_energy_per_atom"].notna().all()
        assert list(group["static_energy_per_atom"]) == sorted(group["static_energy_per_atom"])
    code, _, err = run([*argv, "--rank-pool", "4", "--rank-by", "learned", "--out", str(out)], capsys)
    assert code == 0, err
    for _, group in pd.read_csv(out / "candidates.csv").groupby("id"):
        assert list(group["template_score"]) == sorted(group["template_score"], reverse=True)
    with pytest.raises(SystemExit):
        run([*argv, "--rank-pool", "4", "--rank-by", "lowest", "--out", str(out)], capsys)
    assert "argument --rank-by: invalid choice" in capsys.readouterr().err
    code, _, err = run([*argv, "--strategy", "flow", "--rank-pool", "4", "--out", str(out)], capsys)
    assert code == 2 and "--rank-pool ranks templates" in err


def test_refined_templates_keep_their_template(perov_model, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["csp", "--formula", "SrTiO3", "-k", "2", "--model", perov_model, "--steps", "10", "--refine-t0", "0.9"]
    code, _, err = run([*argv, "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "candidates.csv")
    assert list(table["source"]) == ["refined", "refined"] and table["template_id"].notna().all()
    assert all(read_one_crystal(out / name).formula == "SrTiO3" for name in table["file"])


def test_rank_relaxes_and_orders_by_energy(perov_model, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["csp", "--formula", "SrTiO3", "-k", "3", "--strategy", "template", "--templates", "perov_5", "--rank"]
    code, stdout, err = run([*argv, "--relax-steps", "3", "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "candidates.csv")
    assert list(table["rank"]) == [1, 2, 3]
    distinct = table[table["duplicate_of"].isna()]
    duplicates = table[table["duplicate_of"].notna()]
    assert len(distinct) >= 1 and list(distinct["rank"]) == list(range(1, len(distinct) + 1))
    assert list(distinct["energy_per_atom"]) == sorted(distinct["energy_per_atom"])
    assert set(duplicates["duplicate_of"]) <= set(distinct["raw_file"]) and duplicates["energy_per_atom"].isna().all()
    assert all(name.startswith("relaxed/") for name in distinct["file"])
    assert f"({len(duplicates)} duplicates not relaxed)" in stdout
    for relaxed_name, raw_name in zip(distinct["file"], distinct["raw_file"], strict=True):
        relaxed, raw = read_one_crystal(out / relaxed_name), read_one_crystal(out / raw_name)
        assert relaxed.formula == raw.formula == "SrTiO3"
        assert not (relaxed.frac_coords == raw.frac_coords).all()
    assert "ranked by CHGNet energy" in stdout


def test_domain_checks(perov_model, tmp_path, capsys):
    common = ["-k", "1", "--steps", "2", "--model", perov_model, "--out", str(tmp_path)]
    code, _, err = run(["csp", "--formula", "Sr8Ti8O24", *common], capsys)
    assert code == 2 and "at most 20 atoms" in err and err.count("\n") == 1
    code, _, err = run(["csp", "--formula", "LiFePO4", *common], capsys)
    assert code == 0 and "never saw a 7-atom cell" in err
    code, _, err = run(["csp", "--formula", "SrTiNe3", *common], capsys)
    assert code == 0 and "Ne never occur in the perov_5 training crystals" in err


@pytest.mark.parametrize(
    "content", ["name,formula\nA,SrTiO3\n", "id,formula\n", "id,formula\nA,SrTiO3\nA,KNbO3\n", "id,formula\nA,Qq3\n"]
)
def test_bad_formula_tables_are_one_line(perov_model, tmp_path, capsys, content):
    targets = tmp_path / "targets.csv"
    targets.write_text(content)
    code, _, err = run(["csp", "--formulas", str(targets), "--model", perov_model, "--out", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("autoperi: error:") and err.count("\n") == 1


def test_an_empty_formula_is_one_line(perov_model, tmp_path, capsys):
    code, _, err = run(["csp", "--formula", "", "--model", perov_model, "--out", str(tmp_path)], capsys)
    assert code == 2 and "cannot read the formula ''" in err and err.count("\n") == 1
