"""The one Dask adapter: a client on a local or an existing cluster, and tasks whose results stream back.

``autoperi screen`` holds a client for its relaxations; ``on_cluster(scheduler)`` makes every
``parallel_map`` inside it (``autoperi evaluate``, ``autoperi relax``) run as tasks on one client of the
cluster at ``scheduler``, through the same :func:`stream_results`.

By default a ``LocalCluster`` of worker processes (one per core this process may use, one thread each) is
started and stopped with the client. ``scheduler="tcp://HOST:PORT"`` connects to a running cluster instead
(``dask scheduler`` + ``dask worker``, or ``dask-jobqueue`` on SLURM/PBS; see docs/screening.md). A worker
that dies mid-task is Dask's concern: the scheduler reruns its tasks on the other workers, so every task
yields exactly one result here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from autoperi.errors import AutoPeriError
from autoperi.parallel import default_workers
from autoperi.progress import progress_bar

CONNECT_TIMEOUT_S = 5.0
_ACTIVE_CLIENT: ContextVar[Any | None] = ContextVar("autoperi_dask_client", default=None)


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on ``scheduler`` when given, else on a local cluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)  # a killed worker is expected, not news
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as error:
            raise AutoPeriError(f"cannot reach the Dask scheduler {scheduler}: {_first_line(error)}") from None
        with client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=default_workers(workers), threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster) as client:
        yield client


def active_client() -> Any | None:
    """The client of the enclosing :func:`on_cluster` block, else None."""
    return _ACTIVE_CLIENT.get()


@contextlib.contextmanager
def on_cluster(scheduler: str | None) -> Iterator[Any | None]:
    """Within the block every ``parallel_map`` runs as Dask tasks on the cluster at ``scheduler`` (one
    client for the whole block); with ``scheduler`` None nothing changes."""
    if not scheduler:
        yield None
        return
    with dask_client(scheduler) as client:
        token = _ACTIVE_CLIENT.set(client)
        try:
            yield client
        finally:
            _ACTIVE_CLIENT.reset(token)


def cluster_threads(client: Any) -> int:
    """Worker threads the client's cluster has now (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def stream_results(
    client: Any,
    function: Callable[..., Any],
    jobs: Mapping[str, tuple],
    description: str = "",
    unit: str = "crystal",
    progress: bool = True,
    items_per_job: Mapping[str, int] | None = None,
) -> Iterator[tuple[str, Any]]:
    """``(name, function(*jobs[name]))`` for every job, as each finishes (any order), one Dask task per job.

    Task keys are the job names, so a resubmission by a restarted client reuses a task still on the scheduler.
    The progress bar counts ``items_per_job[name]`` per job (default 1).
    """
    from distributed import as_completed

    futures = {client.submit(function, *arguments, key=name, pure=False): name for name, arguments in jobs.items()}
    sizes = items_per_job or {}
    with progress_bar(sum(sizes.get(name, 1) for name in jobs), description, unit, enabled=progress) as bar:
        for future in as_completed(futures):
            name = futures[future]
            result = future.result()
            future.release()
            bar.update(sizes.get(name, 1))
            yield name, result
