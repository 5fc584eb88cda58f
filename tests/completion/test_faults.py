"""Faults on the dask cluster of ``altmin(parallel=client)``: a worker killed mid-run.

Each test kills a real worker process (SIGKILL) of a two-process ``LocalCluster`` while the
run is going and checks the outcome against the serial run: the same factors, or (when the
cluster keeps losing workers) a ``RuntimeError`` within a bounded time. Before the fix the
run died with ``CommClosedError`` (a worker killed between half-steps) or hung in the
scheduler's replication loop (a worker killed during the factor's broadcast).
"""

import os
import signal
import threading
import time

import numpy as np
import pytest

from optkit.completion import _solver, altmin
from optkit.completion.datasets import low_rank_problem

from .._processes import is_dead

distributed = pytest.importorskip("dask.distributed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

KW = dict(maxiter=6, tol=0, rng=3, reg=0.01)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.fixture
def cluster_client(cluster):
    """The two-process cluster with both workers up (a killed one is restarted by its nanny)."""
    cluster.wait_for_workers(2, timeout=60)
    return cluster


@pytest.fixture(scope="module")
def observed():
    return low_rank_problem(240, 180, 4, 0.3, rng=0)[0]


def _worker_pids(client):
    return sorted(client.run(os.getpid).values())


def _killer(client, at_iteration, delay):
    """A callback killing one worker after iteration ``at_iteration``, at once
    (``delay=None``: between two half-steps) or ``delay`` seconds later from a thread
    (during the next half-step)."""
    victim = _worker_pids(client)[0]
    killed = []

    def kill():
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    def callback(intermediate_result):
        if intermediate_result.nit == at_iteration and not killed:
            if delay is None:
                kill()
            else:
                threading.Timer(delay, kill).start()

    return callback, killed


@pytest.mark.parametrize("solver, delay", [("exact", None), ("exact", 0.05), ("sketch", 0.05),
                                           ("cg", 0.05)],
                         ids=["exact-between-half-steps", "exact-during-half-step",
                              "sketch-during-half-step", "cg-during-half-step"])
def test_a_killed_worker_changes_nothing(cluster_client, observed, solver, delay, monkeypatch):
    monkeypatch.setattr("optkit.completion._blocks.MEMORY_CAP", 2**15)  # ~10 blocks per side
    serial = altmin(observed, 4, solver=solver, **KW)
    callback, killed = _killer(cluster_client, 2, delay)
    start = time.monotonic()
    res = altmin(observed, 4, solver=solver, parallel=cluster_client, callback=callback, **KW)
    assert killed and is_dead(killed[0]), "the fault was not injected"
    assert time.monotonic() - start < 120
    assert res.nit == KW["maxiter"] and res.status == 1
    assert np.array_equal(res.U, serial.U) and np.array_equal(res.V, serial.V)


def test_a_cluster_that_keeps_losing_workers_raises(cluster_client, observed, monkeypatch):
    monkeypatch.setattr("optkit.completion._blocks.MEMORY_CAP", 2**15)  # blocks on both workers
    monkeypatch.setattr(_solver, "CLUSTER_ATTEMPTS", 1)  # no second chance: the error path
    callback, killed = _killer(cluster_client, 1, None)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="lost workers during a half-step"):
        altmin(observed, 4, parallel=cluster_client, callback=callback, **KW)
    assert killed and time.monotonic() - start < 60
