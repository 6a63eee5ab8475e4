"""benchmarks/run_table.py without training: its scale presets, output parsing, staleness and the table."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_table.py"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("run_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def fake_result(dataset: str, scale: str = "full", device: str = "cpu") -> dict:
    """What collect() returns, with made-up numbers."""
    steps = {"autoencoder": 4000, "latent_flow": 3000, "crystal_flow": 3000, "crystal_flow_csp": 4000}
    dng_metrics = {
        "n_generated": 1000,
        "struct_valid": 0.991,
        "comp_valid": 0.85,
        "cov_recall": 0.9,
        "cov_precision": 0.955,
        "unique": 0.98,
        "novel": 0.75,
        "wdist_density": 0.1234,
        "wdist_num_elements": 0.05,
    }
    dng_settings = {"reference": f"{dataset}:test", "n_reference": 3785, "novelty_reference": f"{dataset}:val"}
    csp = {"n_targets": 3785, "match_rate": 0.6513, "rmse": 0.39712, "candidate_struct_valid": 0.9915}
    return {
        "dataset": dataset,
        "scale": scale,
        "settings": {"sampling_steps": 50, "speed_num": 64, "dng_reference_count": 0},
        "device": device,
        "seed": 0,
        "command": f"python benchmarks/run_table.py --scale {scale}",
        "protocol": "low-data: val + train_partial",
        "models": {name: {"steps": value, "train_split": "lowdata_train"} for name, value in steps.items()},
        "reconstruction": {
            part: {"split": split, "crystals": 3785, "decode_seconds": 30.0, "match_rate": 0.9169, "rmse": 0.2559}
            for part, split in (("train", "lowdata_train"), ("test", "test"))
        },
        "csp": {
            "k1": csp | {"candidates_per_target": 1, "crystals_per_second": 27.2},
            "k20": csp | {"n_targets": 200, "candidates_per_target": 20, "crystals_per_second": 26.4},
        },
        "dng": {g: {"metrics": dng_metrics, "settings": dng_settings} for g in ("latent_flow", "crystal_flow")},
        "speed": {
            g: [{"steps": 10, "crystals_per_second": 99.0}, {"steps": 50, "crystals_per_second": 12.5}]
            for g in ("latent_flow", "crystal_flow")
        },
    }


def table_rows(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")]


def test_full_scale_is_the_published_protocol(table):
    full = table.SCALES["full"]
    steps = {"autoencoder": 4000, "latent_flow": 3000, "crystal_flow": 3000, "crystal_flow_csp": 4000}
    assert full.train_steps == steps
    assert (full.recon_count, full.csp_k1_count, full.csp_k20_count) == (0, 0, 200)  # 0: the whole test split
    assert (full.dng_samples, full.sampling_steps, full.dng_reference_count) == (1000, 50, 0)


@pytest.mark.parametrize("name", ["smoke", "full"])
def test_presets_cover_every_stage(table, name):
    scale = table.SCALES[name]
    assert set(scale.train_steps) == set(table.MODELS)
    assert scale.sampling_steps in scale.speed_steps  # the DNG rows' crystals/s come from this measurement
    assert 0.0 in scale.tune_values and len(scale.tune_values) >= 2


def test_smoke_scale_is_small_everywhere(table):
    smoke, full = table.SCALES["smoke"], table.SCALES["full"]
    assert all(0 < smoke.train_steps[m] <= full.train_steps[m] / 100 for m in table.MODELS)
    for count in ("recon_count", "csp_k1_count", "csp_k20_count", "dng_reference_count", "tune_count"):
        assert 0 < getattr(smoke, count) <= 64, count  # never 0, which would mean a whole split
    assert smoke.dng_samples <= 32 and smoke.sampling_steps <= 10 and smoke.speed_num <= 8


def test_baselines_agree_with_the_figures_quoted_in_the_benchmarks_document(table):
    # The script's constants and docs/BENCHMARKS.md are written separately; every baseline of a dataset the
    # document covers must appear there with the same match rate and RMSE, on a line naming its method.
    lines = (SCRIPT.parents[1] / "docs" / "BENCHMARKS.md").read_text().splitlines()
    covered = [b for b in table.BASELINES if b.dataset in ("perov_5", "mp_20")]
    assert len(covered) >= 6
    for baseline in covered:
        quoted = f"{baseline.match_rate_percent:.2f} %", f"{baseline.rmse:.4f}"
        assert any(baseline.method in line and all(q in line for q in quoted) for line in lines), baseline
    assert {b.task for b in table.BASELINES} == {"reconstruction", "csp_k1"}  # no DNG figure is quoted
    assert all(b.source for b in table.BASELINES)


def test_table_puts_autoperi_rows_next_to_baselines(table):
    rows = table_rows(table.render_dataset(fake_result("perov_5")))
    assert rows[0] == list(table.COLUMNS)
    body = rows[2:]
    assert [r[0] for r in body] == [
        "Reconstruction (test)",
        "Reconstruction (train)",
        "Reconstruction (test)",
        "CSP k=1",
        "CSP k=20",
        "CSP k=1",
        "CSP k=1",
        "DNG",
        "DNG",
    ]
    column = {name: i for i, name in enumerate(table.COLUMNS)}
    baselines = [r for r in body if "(published)" in r[column["Method"]]]
    assert [r[column["Method"]] for r in baselines] == [f"{m} (published)" for m in ("CDVAE", "DiffCSP", "FlowMM")]
    assert all(r[column["Training"]] == "full train split" for r in baselines)
    assert baselines[0][column["Match rate"]] == "97.52 %" and baselines[0][column["RMSE"]] == "0.0156"
    ours = [r for r in body if r[column["Method"]].startswith("AutoPeri")]
    assert len(ours) == 6
    assert all(r[column["Training"]].startswith("low-data: val + train_partial, ") for r in ours)
    assert all("this CPU" in r[column["Training"]] for r in ours)
    csp_k1 = body[3]
    assert csp_k1[column["Training"]] == "low-data: val + train_partial, 4,000 steps, this CPU"
    assert (csp_k1[column["Match rate"]], csp_k1[column["RMSE"]], csp_k1[column["Count"]]) == (
        "65.13 %",
        "0.3971",
        "3,785 targets",
    )
    latent = body[7]
    assert latent[column["Method"]] == "AutoPeri latent flow"
    assert latent[column["Training"]].endswith("3,000 steps, this CPU (autoencoder 4,000 steps)")
    assert latent[column["Valid (struct / comp)"]] == "99.10 % / 85.00 %"
    assert latent[column["COV-R / COV-P"]] == "90.00 % / 95.50 %"
    assert latent[column["Unique / novel"]] == "98.00 % / 75.00 %"
    assert latent[column["Crystals/s"]] == "12.5"  # the speed at the DNG sampling steps (50), not at 10


def test_table_baselines_follow_the_dataset(table):
    column = table.COLUMNS.index("Method")
    for dataset, expected in (
        ("mp_20", ["CDVAE (published)", "DiffCSP (published)", "FlowMM (published)"]),
        ("carbon_24", ["CDVAE (published)"]),
    ):
        rows = table_rows(table.render_dataset(fake_result(dataset)))[2:]
        assert [r[column] for r in rows if "(published)" in r[column]] == expected
    text = table.render_dataset(fake_result("mp_20", device="gpu"))
    assert "## MP-20" in text and "45.43 %" in text and "61.39 %" in text and ", GPU" in text


def test_document_marks_smoke_scale(table):
    smoke = table.render_document([fake_result("perov_5", "smoke"), fake_result("mp_20", "smoke")])
    assert smoke.startswith("# Benchmark table, smoke scale")
    assert "say nothing of quality" in smoke and "## Perov-5" in smoke and "## MP-20" in smoke
    assert "say nothing of quality" not in table.render_document([fake_result("perov_5")])


def test_benchmark_output_parsing(table):
    speed = (
        "model perov_5-latent_flow (20 training steps), 8 crystals, mean 5.0 atoms, method euler, 2 threads\n"
        "steps  network calls  seconds  crystals/s  structurally valid\n"
        "   10             10      0.1       81.34  100.0%\n"
        "   50             50      0.6       13.02  87.5%\n"
    )
    rows = table.parse_speed(speed)
    assert [r["steps"] for r in rows] == [10, 50]
    assert rows[1]["crystals_per_second"] == 13.02 and rows[1]["structurally_valid"] == pytest.approx(0.875)
    assert table.last_json('loading {model}\n{\n  "match_rate": 0.5,\n  "rmse": null\n}\n') == {
        "match_rate": 0.5,
        "rmse": None,
    }


def test_stage_freshness(table, tmp_path):
    done, source = tmp_path / "done", tmp_path / "input"
    assert not table._fresh(done)
    source.write_text("a")
    done.write_text("b")
    os.utime(source, (1000, 1000))
    os.utime(done, (2000, 2000))
    assert table._fresh(done, (source, tmp_path / "missing"))
    os.utime(source, (3000, 3000))
    assert not table._fresh(done, (source,))


def test_logged_commands_read_as_typed(table):
    command = [sys.executable, "-m", "autoperi.cli.main", "train", "--config", "a b.yaml"]
    assert table._display(command) == "autoperi train --config 'a b.yaml'"
    assert table._display([sys.executable, "x.py"]) == "python x.py"
