"""``autoperi screen`` on a real Dask cluster (a scheduler and two worker processes on localhost tcp): a worker
killed with SIGKILL mid-run, and the screen process itself killed and rerun, each leave every candidate done
exactly once, with the same results as an undisturbed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autoperi.cli.main import main
from screen_fixtures import cheap_screen_argv, write_candidates

CANDIDATES = 8
ENV = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(condition, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def _records(out: Path) -> list[dict]:
    path = out / "relaxations.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


class Cluster:
    """``dask scheduler`` and ``dask worker`` processes (no nanny: a killed worker stays dead)."""

    def __init__(self, folder: Path) -> None:
        self.scheduler_file = folder / "scheduler.json"
        dask = str(Path(sys.executable).with_name("dask"))
        self.processes = [_start([dask, "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file",
                                  str(self.scheduler_file)])]  # fmt: skip
        _wait_for(self.scheduler_file.exists, what="the scheduler did not start")
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        worker = [dask, "worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1", "--no-nanny"]
        self.workers = [_start([*worker, "--no-dashboard"]) for _ in range(2)]
        self.processes += self.workers
        _wait_for(lambda: self.connected_workers() == 2, what="the workers did not connect")

    def connected_workers(self) -> int:
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return len(client.scheduler_info()["workers"])

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One cluster for the module (its workers stay warm); the worker-kill test leaves one worker."""
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory, cluster):
    """The candidates and the records of a screen of them that nothing interrupted."""
    folder = tmp_path_factory.mktemp("undisturbed")
    candidates = write_candidates(folder, CANDIDATES)
    assert main(_screen_argv(folder, candidates, cluster.address)) == 0
    return candidates, {record["id"]: record for record in _records(folder / "out")}


def _screen_argv(tmp_path: Path, candidates: Path, address: str) -> list[str]:
    return cheap_screen_argv(candidates, tmp_path / "out", tmp_path, candidates, scheduler=address)


def _assert_complete_and_identical(out: Path, undisturbed: dict[str, dict]) -> None:
    records = _records(out)
    assert sorted(record["id"] for record in records) == sorted(undisturbed), "each candidate exactly once"
    assert {record["id"]: record for record in records} == undisturbed


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, cluster, undisturbed):
    candidates, expected = undisturbed
    argv = _screen_argv(tmp_path, candidates, cluster.address)
    victim = cluster.workers[0]
    assert cluster.connected_workers() == 2
    done_at_kill: list[int] = []

    def kill_after_first_result() -> None:
        _wait_for(lambda: len(_records(tmp_path / "out")) >= 1, timeout=120, what="no result")
        done_at_kill.append(len(_records(tmp_path / "out")))
        victim.send_signal(signal.SIGKILL)

    killer = threading.Thread(target=kill_after_first_result)
    killer.start()
    assert main(argv) == 0
    killer.join()
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert done_at_kill[0] < CANDIDATES, "the worker died before the screen ended"
    _assert_complete_and_identical(tmp_path / "out", expected)


@pytest.mark.slow  # a second interpreter loads torch and CHGNet; test_screen.py covers resuming in-process
def test_the_screen_process_killed_and_rerun_resumes(tmp_path, cluster, undisturbed):
    candidates, expected = undisturbed
    argv = _screen_argv(tmp_path, candidates, cluster.address)
    screen = subprocess.Popen([sys.executable, "-m", "autoperi.cli.main", *argv], env=ENV, stderr=subprocess.DEVNULL)
    _wait_for(lambda: len(_records(tmp_path / "out")) >= 2, timeout=120, what="no results")
    screen.send_signal(signal.SIGKILL)
    screen.wait()
    finished_before = len(_records(tmp_path / "out"))
    assert finished_before < CANDIDATES and not (tmp_path / "out" / "screen.csv").exists()
    assert main(argv) == 0
    _assert_complete_and_identical(tmp_path / "out", expected)
