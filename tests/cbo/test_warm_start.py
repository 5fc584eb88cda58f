"""CBO ``warm_start``: a run interrupted by its callback and resumed from its result (or from
the swarm a callback saved) repeats the uninterrupted run when it gets the same Generator."""

import pickle

import numpy as np
import pytest

import optkit


def rastrigin(x):
    x = np.asarray(x)
    return float(10 * x.size + np.sum(x ** 2 - 10 * np.cos(2 * np.pi * x)))


def _stop_at(k):
    def callback(intermediate_result):
        if intermediate_result.nit == k:
            raise StopIteration
    return callback


def _cbo(opts, **kw):
    return optkit.minimize(rastrigin, np.full(3, 2.0), method="cbo", options=opts, **kw)


@pytest.mark.parametrize("variant_opts", [
    dict(variant="hopping"),
    dict(variant="cbo", batch_size=6),
    dict(variant="cbo", batch_size=6, batch_partial=True, n_runs=3),
], ids=["hopping", "cbo-batch", "cbo-partial-batch-3-runs"])
def test_resumed_run_repeats_the_uninterrupted_one(variant_opts):
    opts = dict(variant_opts, n_particles=16)
    full = _cbo(dict(opts, maxiter=60, rng=np.random.default_rng(5)))
    gen = np.random.default_rng(5)
    part = _cbo(dict(opts, maxiter=60, rng=gen), callback=_stop_at(25))
    assert part.status == 99 and part.nit == 25
    res = _cbo(dict(opts, maxiter=35, rng=gen, warm_start=part))
    np.testing.assert_array_equal(res.x, full.x)
    np.testing.assert_array_equal(res.x_runs, full.x_runs)
    assert res.fun == full.fun and part.nfev + res.nfev == full.nfev


def test_a_pickled_checkpoint_resumes_the_run(tmp_path):
    """The callback pickles the swarm and the Generator's state; a new process would load
    both (the swarm travels as host numpy arrays)."""
    path = tmp_path / "swarm.pkl"

    def checkpoint(intermediate_result):
        with open(path, "wb") as fh:
            pickle.dump((intermediate_result.swarm, gen.bit_generator.state), fh)
        if intermediate_result.nit == 12:
            raise StopIteration  # stands for the process being stopped

    opts = dict(n_particles=20, maxiter=30)
    full = _cbo(dict(opts, rng=np.random.default_rng(3)))
    gen = np.random.default_rng(3)
    _cbo(dict(opts, rng=gen), callback=checkpoint)
    with open(path, "rb") as fh:
        swarm, rng_state = pickle.load(fh)
    fresh = np.random.default_rng()
    fresh.bit_generator.state = rng_state
    res = _cbo(dict(opts, maxiter=18, rng=fresh, warm_start=swarm))
    np.testing.assert_array_equal(res.x, full.x)
    assert res.fun == full.fun


def test_a_mismatched_warm_start_raises():
    part = _cbo(dict(n_particles=16, maxiter=3, rng=0))
    with pytest.raises(ValueError, match="warm_start holds swarms of shape"):
        _cbo(dict(n_particles=20, maxiter=3, warm_start=part))
    with pytest.raises(ValueError, match="batch_size"):
        _cbo(dict(variant="cbo", n_particles=16, batch_size=4, maxiter=3, warm_start=part))
    with pytest.raises(TypeError, match="warm_start must be a CBO result"):
        _cbo(dict(maxiter=3, warm_start=np.zeros(3)))
