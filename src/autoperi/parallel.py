"""The one process pool: an order-preserving parallel map with progress.

Workers are forked (fast, they share the parent's imports) unless they run torch: forking a process whose
torch thread pool is running can deadlock, so ``uses_torch=True`` spawns fresh interpreters, each limited
to one torch thread.
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


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


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
    bar = progress_bar(len(items), description, unit, enabled=progress, leave=False)
    try:
        if workers == 1:
            return list(_with_progress(map(function, items), bar))
        chunk_size = 1 if uses_torch else max(1, min(16, len(items) // (workers * 16)))
        context = get_context("spawn" if uses_torch else "fork")
        with context.Pool(workers, initializer=_one_torch_thread if uses_torch else None) as pool:
            return list(_with_progress(pool.imap(function, items, chunksize=chunk_size), bar))
    finally:
        bar.close()


def _with_progress(results: Iterator[Result], bar) -> Iterator[Result]:
    for result in results:
        bar.update(1)
        yield result
