"""The one parallel map: order-preserving, with progress.

Inside ``autoperi.distributed.on_cluster(scheduler)`` (``--scheduler``) every map runs as tasks on that
Dask cluster: the engine of ``autoperi screen``. Otherwise workers are forked (fast, they share the
parent's imports) unless they run torch: forking a process whose torch thread pool is running can
deadlock, so ``uses_torch=True`` work (CHGNet relaxations) runs on a local Dask cluster of fresh
interpreters. Torch work runs one item per task, on one torch thread; other work in chunks of items.
"""

from __future__ import annotations

import os
import uuid
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


def chunk_size(num_items: int, workers: int) -> int:
    """Items per task: about 16 tasks per worker, at most 16 items each."""
    return max(1, min(16, num_items // (workers * 16)))


def run_chunk(function: Callable[[Item], Result], chunk: Sequence[Item], one_torch_thread: bool) -> list[Result]:
    """``[function(item) for item in chunk]``: one task on a worker that may run many (torch on one thread)."""
    if one_torch_thread:
        import torch

        torch.set_num_threads(1)
    return [function(item) for item in chunk]


def _dask_map(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    client,
    uses_torch: bool,
    description: str,
    unit: str,
    progress: bool,
) -> list[Result]:
    from autoperi.distributed import cluster_threads, stream_results

    size = 1 if uses_torch else chunk_size(len(items), cluster_threads(client))
    named = getattr(function, "func", function)  # a functools.partial is named after its function
    prefix = f"{getattr(named, '__name__', 'task')}-{uuid.uuid4().hex[:12]}"  # a shared scheduler keeps keys
    chunks = {
        f"{prefix}-{index}": items[start : start + size] for index, start in enumerate(range(0, len(items), size))
    }
    jobs = {key: (function, chunk, uses_torch) for key, chunk in chunks.items()}
    sizes = {key: len(chunk) for key, chunk in chunks.items()}
    results = dict(stream_results(client, run_chunk, jobs, description, unit, progress, sizes))
    return [result for key in jobs for result in results[key]]


def parallel_map(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    workers: int | None = None,
    description: str = "",
    unit: str = "crystal",
    uses_torch: bool = False,
    progress: bool = True,
) -> list[Result]:
    """``[function(item) for item in items]`` over ``workers`` processes (or the cluster of an enclosing
    ``on_cluster``), in order, with a progress bar.

    ``function`` must be a module-level function (it is pickled by reference).
    """
    from autoperi.distributed import active_client, dask_client

    if not items:
        return []
    if (client := active_client()) is not None:
        return _dask_map(function, items, client, uses_torch, description, unit, progress)
    workers = min(default_workers(workers), len(items))
    if workers > 1 and uses_torch:
        with dask_client(workers=workers) as client:
            return _dask_map(function, items, client, uses_torch, description, unit, progress)
    bar = progress_bar(len(items), description, unit, enabled=progress, leave=False)
    try:
        if workers == 1:
            return list(_with_progress(map(function, items), bar))
        with get_context("fork").Pool(workers) as pool:
            results = pool.imap(function, items, chunksize=chunk_size(len(items), workers))
            return list(_with_progress(results, bar))
    finally:
        bar.close()


def _with_progress(results: Iterator[Result], bar) -> Iterator[Result]:
    for result in results:
        bar.update(1)
        yield result
