"""Faults on CBO's parallel evaluators: a worker process killed in the middle of a run.

A CBO step's values depend only on its points (all randomness stays in the calling
process), so a lost evaluation can be redone without changing the run: the tests kill a
real worker (SIGKILL) mid-run and compare with the serial run, bit for bit.
"""

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

import optkit
from optkit.cbo import population

from .._processes import is_dead

OPTS = dict(maxiter=25, rng=0, n_particles=16)


def slow_sphere(x):
    """The sphere, slowed down so that the kill lands while points are being evaluated."""
    time.sleep(0.002)
    return float(np.sum(x * x))


def _pool_killer(at_iteration):
    """A callback that SIGKILLs one process of the run's own pool after ``at_iteration``."""
    before = {p.pid for p in multiprocessing.active_children()}
    killed = []

    def callback(intermediate_result):
        if intermediate_result.nit == at_iteration and not killed:
            pool_pids = [p.pid for p in multiprocessing.active_children() if p.pid not in before]
            os.kill(pool_pids[0], signal.SIGKILL)
            killed.append(pool_pids[0])

    return callback, killed


@pytest.mark.timeout(120)
def test_a_killed_pool_process_changes_nothing():
    serial = optkit.minimize(slow_sphere, np.ones(2), method="cbo", options=OPTS)
    callback, killed = _pool_killer(5)
    res = optkit.minimize(slow_sphere, np.ones(2), method="cbo", options=dict(OPTS, workers=2),
                          callback=callback)
    assert killed and is_dead(killed[0]), "the fault was not injected"
    assert res.nit == serial.nit == OPTS["maxiter"]
    assert np.array_equal(res.x, serial.x) and res.fun == serial.fun
    assert res.nfev == serial.nfev  # the redone batch is not charged twice


@pytest.mark.timeout(120)
def test_a_pool_that_keeps_breaking_raises(monkeypatch):
    monkeypatch.setattr(population, "POOL_ATTEMPTS", 1)
    callback, killed = _pool_killer(3)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="a process of the pool died"):
        optkit.minimize(slow_sphere, np.ones(2), method="cbo", options=dict(OPTS, workers=2),
                        callback=callback)
    assert killed and time.monotonic() - start < 60


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_killed_dask_worker_changes_nothing():
    distributed = pytest.importorskip("dask.distributed")
    serial = optkit.minimize(slow_sphere, np.ones(2), method="cbo", options=OPTS)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        victim = min(client.run(os.getpid).values())
        killed = []

        def callback(intermediate_result):
            if intermediate_result.nit == 5 and not killed:
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        res = optkit.minimize(slow_sphere, np.ones(2), method="cbo",
                              options=dict(OPTS, workers=client), callback=callback)
    assert killed and is_dead(victim), "the fault was not injected"
    assert res.nit == serial.nit
    assert np.array_equal(res.x, serial.x) and res.fun == serial.fun


class Interrupted(Exception):
    pass


def _raises_after(n_calls_ok):
    """A callback that raises (as a KeyboardInterrupt would) after ``n_calls_ok`` iterations."""

    def callback(intermediate_result):
        if intermediate_result.nit > n_calls_ok:
            raise Interrupted

    return callback


def population_raiser(x):
    """An objective that fails on every point (a worker raises; the pool re-raises it)."""
    raise RuntimeError("objective failed")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", ["objective at x0", "callback mid-run"])
def test_the_runs_own_pool_is_shut_down_when_the_run_raises(where):
    """An int ``workers`` starts a process pool; a run that raises (here an exception from the
    objective during init, or from the callback after 3 iterations) must not leave its
    worker processes behind."""
    before = {p.pid for p in multiprocessing.active_children()}
    if where == "objective at x0":
        fun, callback = population_raiser, None
    else:
        fun, callback = slow_sphere, _raises_after(3)
    with pytest.raises((Interrupted, RuntimeError)):
        optkit.minimize(fun, np.ones(2), method="cbo", options=dict(OPTS, workers=2),
                        callback=callback)
    left = [p for p in multiprocessing.active_children() if p.pid not in before]
    assert not left, f"the pool's processes are still alive: {[p.pid for p in left]}"
