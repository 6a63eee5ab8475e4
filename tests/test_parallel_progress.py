"""The one process pool (order, worker count, torch-safe start) and progress lines when stderr is a log."""

from __future__ import annotations

import os

import pytest

from autoperi import progress
from autoperi.parallel import parallel_map


def _pid_threads_and_square(item: int) -> tuple[int, int, int]:
    import torch

    return os.getpid(), torch.get_num_threads(), item * item


@pytest.mark.parametrize("uses_torch", [False, True])
def test_parallel_map_keeps_order_and_uses_the_workers(uses_torch):
    results = parallel_map(_pid_threads_and_square, list(range(12)), workers=2, uses_torch=uses_torch)
    assert [r[2] for r in results] == [i * i for i in range(12)]
    assert os.getpid() not in {r[0] for r in results}
    if uses_torch:  # spawned workers run one torch thread each
        assert {r[1] for r in results} == {1}
    assert [r[2] for r in parallel_map(_pid_threads_and_square, [3, 1], workers=1)] == [9, 1]
    many = parallel_map(_pid_threads_and_square, list(range(12)), workers=99)  # never more than the cores
    assert len({r[0] for r in many}) <= len(os.sched_getaffinity(0))


def test_progress_is_logged_as_lines_when_stderr_is_not_a_terminal(capsys, monkeypatch):
    parallel_map(_pid_threads_and_square, list(range(5)), workers=1, description="quick")
    assert capsys.readouterr().err == ""  # shorter than LOG_INTERVAL_S: nothing, as before
    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    results = parallel_map(_pid_threads_and_square, list(range(5)), workers=1, description="squaring")
    assert len(results) == 5
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and lines and all(line.startswith("squaring:") for line in lines)
    assert "5/5" in lines[-1]
    parallel_map(_pid_threads_and_square, [1], workers=1, progress=False)
    assert capsys.readouterr().err == ""
