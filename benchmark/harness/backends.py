"""Where cells are computed: in this process, in local worker processes, or on a Dask cluster.

Every backend only *computes*: it calls a pure function on each job and yields the results as
they finish; the driver (the `run` process) writes every result file itself. So a cluster
needs no write access to the results directory and a run gives the same files whichever
backend computed it.

Backends:
  local, -j 1   serially, in this process
  local, -j N   N loky worker processes on this machine (joblib)
  dask          a Dask distributed cluster: the one at ``--scheduler tcp://HOST:PORT``, or a
                ``LocalCluster`` of N single-threaded worker processes started for the run

Dask workers must run the same version of this package and see the data directory
(``--data-dir``) at the same path; one thread per worker (``dask worker --nthreads 1``), since a
cell seeds process-wide random generators.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import nullcontext

BACKENDS = ("local", "dask")


class BackendError(ValueError):
    """An unknown backend, or a scheduler given where it has no meaning."""


def check(backend: str, scheduler: str | None) -> None:
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if scheduler and backend != "dask":
        raise BackendError("--scheduler needs --backend dask")


def imap_unordered(function: Callable, jobs: list[tuple], backend: str = "local", n_jobs: int = 1,
                   scheduler: str | None = None) -> Iterator:
    """function(*job) for every job, yielded in the order they finish."""
    check(backend, scheduler)
    if backend == "dask":
        yield from _dask(function, jobs, n_jobs, scheduler)
    elif n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            yield function(*job)
    else:
        yield from _loky(function, jobs, n_jobs)


def _loky(function: Callable, jobs: list[tuple], n_jobs: int) -> Iterator:
    from joblib import Parallel, delayed, parallel_config

    threads = max(1, (os.cpu_count() or 1) // n_jobs)
    with parallel_config(backend="loky", inner_max_num_threads=threads), warnings.catch_warnings():
        # loky replaces a worker whose memory grew by a large fit (its leak guard) and says so; the worker
        # finishes its job first and the queued jobs go to the others, so nothing is lost and nothing to act on
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given to the executor",
                                category=UserWarning)
        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(function)(*job) for job in jobs)


def _dask(function: Callable, jobs: list[tuple], n_jobs: int, scheduler: str | None) -> Iterator:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as error:
        raise BackendError("--backend dask needs the dask extra: pip install -e '.[dask]'") from error
    cluster = nullcontext(scheduler) if scheduler else LocalCluster(
        n_workers=n_jobs, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster as address, Client(address) as client:
        crowded = {worker: n for worker, n in client.nthreads().items() if n > 1}
        if crowded:
            warnings.warn(f"Dask workers with more than one thread ({len(crowded)}): cells share process-wide "
                          "random seeds; start workers with --nthreads 1 for reproducible results", stacklevel=2)
        futures = [client.submit(function, *job, pure=False) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
            future.release()
