"""Population evaluation: one batch of points per step through the problem's oracle.

A swarm method needs every energy of a step before its consensus (a synchronous barrier), so
each step sends one batch of points to ``value_batch``. This module builds that call from the
``vectorized`` / ``workers`` / ``chunksize`` options: the objective's own ``value_batch`` (a
loop over rows), a vectorized function, or a map over a process pool, an executor or a
``dask.distributed`` client. All randomness stays in the calling process, so the choice of
evaluator never changes a run.
"""

from __future__ import annotations

from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from optkit.core.oracle import Counted, FunctionOracle, dask_map

__all__ = ["population_evaluator", "takes_chunksize", "OwnedPool"]

#: Attempts of one batch on a process pool started by the run (each after the first on a
#: fresh pool).
POOL_ATTEMPTS = 3


class OwnedPool:
    """The process pool of an int ``workers``: started and shut down by the run.

    A worker process that dies (killed, out of memory) breaks a ``ProcessPoolExecutor`` for
    good (``BrokenProcessPool``). This pool then starts a fresh one and evaluates the whole
    batch again, at most ``POOL_ATTEMPTS`` times; a batch's values depend only on its points
    (the randomness stays in the calling process), so the run goes on unchanged. After that
    a ``RuntimeError`` names the cause. (A user's ``Executor`` is not restarted: its
    ``BrokenProcessPool`` reaches the caller.)
    """

    def __init__(self, size: int, chunksize: int):
        self.size, self.chunksize = size, chunksize
        self.pool = ProcessPoolExecutor(max_workers=size)

    def map(self, fn, xs):
        xs = list(xs)
        for attempt in range(1, POOL_ATTEMPTS + 1):
            try:
                return list(self.pool.map(fn, xs, chunksize=self.chunksize))
            except BrokenProcessPool as exc:
                self.pool.shutdown(wait=True, cancel_futures=True)
                if attempt == POOL_ATTEMPTS:
                    raise RuntimeError(
                        f"CBO workers={self.size}: a process of the pool died during "
                        f"{POOL_ATTEMPTS} evaluations of the same batch in a row ({exc})") from exc
                self.pool = ProcessPoolExecutor(max_workers=self.size)

    def shutdown(self):
        self.pool.shutdown()


def _is_dask_client(workers) -> bool:
    return all(hasattr(workers, name) for name in ("gather", "map", "submit"))


def takes_chunksize(workers) -> bool:
    """Whether ``chunksize`` is used with these ``workers`` (a process pool or an Executor)."""
    return isinstance(workers, (int, Executor)) and not isinstance(workers, bool)


def _mapper(workers, chunksize):
    """A ``map``-like callable from ``workers``, and the pool to shut down afterwards (or None)."""
    if isinstance(workers, int):
        pool = OwnedPool(workers, chunksize)
        return pool.map, pool
    if isinstance(workers, Executor):
        return partial(workers.map, chunksize=chunksize), None
    if _is_dask_client(workers):
        return dask_map(workers), None
    return workers, None


def population_evaluator(objective, vectorized, workers, chunksize):
    """``(evaluate, pool)``: ``evaluate(X)`` maps points (n, d) to values (n,) in one call.

    Without ``vectorized``/``workers`` this is the objective's own ``value_batch`` (its
    :class:`~optkit.core.Counted` wrapper counts every point). Otherwise the plain function is
    rewrapped in a :class:`~optkit.core.FunctionOracle` with a vectorized ``value_batch`` or a
    map, and the points are charged to the same counter. ``pool`` is the process pool started
    for an int ``workers`` (shut it down when the run ends), else None.
    """
    if not vectorized and workers is None:
        return objective.value_batch, None
    inner = objective.oracle if isinstance(objective, Counted) else objective
    if not isinstance(inner, FunctionOracle):
        raise TypeError("vectorized=/workers= need an objective built from a function "
                        "(FunctionOracle); pass value_batch= or workers= to the oracle instead")
    mapper, pool = (None, None) if workers is None else _mapper(workers, chunksize)
    oracle = inner.with_population(value_batch=inner.fun if vectorized else None, workers=mapper)

    def evaluate(X):
        if isinstance(objective, Counted):
            objective.nfev += int(X.shape[0])
        return oracle.value_batch(X)

    return evaluate, pool
