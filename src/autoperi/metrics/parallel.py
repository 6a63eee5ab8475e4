"""Order-preserving parallel map over all cores with a tqdm progress bar (fork start method)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import get_context
from typing import TypeVar

from tqdm.auto import tqdm

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_workers(workers: int | None = None) -> int:
    return max(1, workers or len(os.sched_getaffinity(0)))


def parallel_map(
    function: Callable[[Item], Result],
    items: Sequence[Item],
    workers: int | None = None,
    description: str = "",
    unit: str = "crystal",
) -> list[Result]:
    """``[function(item) for item in items]`` over ``workers`` processes, in order, with a progress bar.

    ``function`` must be a module-level function (it is pickled by reference).
    """
    workers = min(default_workers(workers), max(1, len(items)))
    progress = tqdm(total=len(items), desc=description, unit=unit, disable=None, leave=False)
    try:
        if workers == 1:
            return list(_with_progress(map(function, items), progress))
        chunk_size = max(1, min(16, len(items) // (workers * 16)))
        with get_context("fork").Pool(workers) as pool:
            return list(_with_progress(pool.imap(function, items, chunksize=chunk_size), progress))
    finally:
        progress.close()


def _with_progress(results: Iterator[Result], progress: tqdm) -> Iterator[Result]:
    for result in results:
        progress.update(1)
        yield result
