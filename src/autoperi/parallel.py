"""The one parallel map: order-preserving, with progress.

Workers are forked (fast, they share the parent's imports) unless they run torch: forking a process whose
torch thread pool is running can deadlock, so ``uses_torch=True`` work (CHGNet relaxations) runs as tasks
on the Dask engine of ``autoperi.distributed`` (a local cluster of fresh interpreters), each task on one
torch thread: the same engine as ``autoperi screen``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import get_context
from typing import TypeVar

from autoperi.progress import progress_bar

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_workers(workers: int | None = None) -> int:
    """``workers`` (default: every core this process may use), at most that many cores."""
    cores = len(os.sched_getaffinity(0))
    return max(1, min(workers or cores, cores))


def on_one_torch_thread(function: Callable[[Item], Result], item: Item) -> Result:
    """``function(item)`` with torch limited to one thread (a task on a worker that may run many)."""
    import torch

    torch.set_num_threads(1)
    return function(item)


def _dask_map(
    function: Callable[[Item], Result], items: Sequence[Item], workers: int, description: str, unit: str, progress: bool
) -> list[Result]:
    from autoperi.distributed import dask_client, stream_results

    name = getattr(function, "__name__", "task")
    jobs = {f"{name}-{index}": (function, item) for index, item in enumerate(items)}
    with dask_client(workers=workers) as client:
        results = dict(stream_results(client, on_one_torch_thread, jobs, description, unit, progress))
    return [results[key] for key in jobs]


def parallel_map(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    workers: int | None = None,
    description: str = "",
    unit: str = "crystal",
    uses_torch: bool = False,
    progress: bool = True,
) -> list[Result]:
    """``[function(item) for item in items]`` over ``workers`` processes, in order, with a progress bar.

    ``function`` must be a module-level function (it is pickled by reference).
    """
    workers = min(default_workers(workers), max(1, len(items)))
    if workers > 1 and uses_torch:
        return _dask_map(function, items, workers, description, unit, progress)
    bar = progress_bar(len(items), description, unit, enabled=progress, leave=False)
    try:
        if workers == 1:
            return list(_with_progress(map(function, items), bar))
        chunk_size = max(1, min(16, len(items) // (workers * 16)))
        with get_context("fork").Pool(workers) as pool:
            return list(_with_progress(pool.imap(function, items, chunksize=chunk_size), bar))
    finally:
        bar.close()


def _with_progress(results: Iterator[Result], bar) -> Iterator[Result]:
    for result in results:
        bar.update(1)
        yield result
