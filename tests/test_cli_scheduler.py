"""``autoperi evaluate`` and ``autoperi relax`` with ``--scheduler``: the same results as without, the work
done as tasks on that Dask cluster (here an in-process one), one-line errors for an unreachable address."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from autoperi.cli.main import main
from autoperi.io.pymatgen_adapter import write_cif
from autoperi.metrics.reference import load_reference
from physics_structures import perturbed, rocksalt, silicon


@pytest.fixture
def cluster():
    """Two one-thread workers in this process; torch's thread count is restored afterwards."""
    import torch
    from distributed import LocalCluster

    threads = torch.get_num_threads()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as local:
        yield local
    torch.set_num_threads(threads)


def _task_prefixes(cluster) -> set[str]:
    return set(cluster.scheduler.task_prefixes)


def test_evaluate_on_a_scheduler_gives_the_default_metrics(tmp_path, shared_data_root, cluster, monkeypatch):
    folder = tmp_path / "perov_5"
    folder.mkdir()
    reference_path = folder / "small.csv"
    rows = pd.read_csv(shared_data_root / "perov_5" / "test.csv", index_col=0).iloc[:10]
    rows.iloc[:6].to_csv(reference_path)
    rows.iloc[4:].to_csv(tmp_path / "generated.csv")  # two of the reference crystals and four others
    generated = tmp_path / "generated"
    generated.mkdir()
    for crystal in load_reference(str(tmp_path / "generated.csv")).crystals:
        write_cif(crystal, generated / f"{crystal.id}.cif")
    metrics = {}
    engines = (("default", ["--workers", "1"]), ("cluster", ["--scheduler", cluster.scheduler_address]))
    for engine, extra in engines:  # one process: matminer's featurizer is set up once, not once per fork
        monkeypatch.setenv("AUTOPERI_CACHE_DIR", str(tmp_path / f"cache-{engine}"))  # both compute everything
        out = tmp_path / engine
        argv = ["evaluate", str(generated), "--reference", str(reference_path), "--out", str(out), *extra]
        assert main(argv) == 0
        metrics[engine] = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["cluster"] == metrics["default"]
    assert 0 < metrics["default"]["novel"] < 1 and metrics["default"]["n_generated"] == 6
    prefixes = _task_prefixes(cluster)
    assert any("validity" in name for name in prefixes) and any("fingerprint" in name for name in prefixes)


def test_relax_on_a_scheduler_gives_the_default_relaxations(tmp_path, cluster, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_cif(perturbed(silicon(), seed=0), folder / "Si.cif")
    write_cif(perturbed(rocksalt(), seed=1), folder / "NaCl.cif")
    tables = {}
    for engine, extra in (("default", []), ("cluster", ["--scheduler", cluster.scheduler_address])):
        out = tmp_path / engine
        assert main(["relax", str(folder), "--out", str(out), "--steps", "5", *extra]) == 0
        tables[engine] = pd.read_csv(out / "relax.csv")
    pd.testing.assert_frame_equal(tables["cluster"], tables["default"], rtol=1e-6)
    assert any("relax" in name for name in _task_prefixes(cluster))


@pytest.mark.parametrize("command", ["evaluate", "relax"])
def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path, capsys, command):
    path = write_cif(silicon(), tmp_path / "Si.cif")
    argv = [command, str(path), "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"]
    argv += ["--reference", str(path)] if command == "evaluate" else []
    assert main(argv) == 2
    stderr = capsys.readouterr().err
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in stderr and "Traceback" not in stderr
