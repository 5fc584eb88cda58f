"""``altmin(x0=...)``: a run interrupted by its callback and resumed from its result repeats
the uninterrupted run (the property a checkpoint needs)."""

import numpy as np
import pytest

from optkit.completion import altmin
from optkit.completion.datasets import low_rank_problem


@pytest.fixture(scope="module")
def observed():
    return low_rank_problem(120, 90, 3, 0.3, rng=0)[0]


def _stop_at(k):
    def callback(intermediate_result):
        if intermediate_result.nit == k:
            raise StopIteration
    return callback


@pytest.mark.parametrize("solver, biases", [("exact", False), ("exact", True), ("cg", True),
                                            ("sketch", False)])
def test_resumed_run_repeats_the_uninterrupted_one(observed, solver, biases):
    kw = dict(solver=solver, tol=0, biases=biases, reg=0.01 if biases else 0.0)
    full = altmin(observed, 3, maxiter=8, rng=np.random.default_rng(1), **kw)
    gen = np.random.default_rng(1)  # the sketches draw from it: the resumed run continues it
    part = altmin(observed, 3, maxiter=8, rng=gen, callback=_stop_at(3), **kw)
    assert part.status == 99 and part.nit == 3
    x0 = part.x.copy()
    res = altmin(observed, 3, maxiter=5, rng=gen, x0=part, **kw)
    np.testing.assert_array_equal(part.x, x0)  # the warm start is not modified
    np.testing.assert_array_equal(res.x, full.x)
    assert res.fun == full.fun and part.nfev + res.nfev == full.nfev


def test_a_checkpoint_saved_by_the_callback_resumes(observed, tmp_path):
    path = tmp_path / "factors.npy"

    def checkpoint(intermediate_result):
        np.save(path, intermediate_result.x)
        if intermediate_result.nit == 4:
            raise StopIteration  # stands for the process being stopped

    full = altmin(observed, 3, maxiter=9, tol=0, rng=2)
    altmin(observed, 3, maxiter=9, tol=0, rng=2, callback=checkpoint)
    res = altmin(observed, 3, maxiter=5, tol=0, x0=np.load(path))
    np.testing.assert_allclose(res.x, full.x, rtol=0, atol=1e-12)


def test_bad_warm_starts_raise(observed):
    m, n = observed[3]
    with pytest.raises(ValueError, match="x0 must be the stacked factors"):
        altmin(observed, 3, x0=np.zeros((m, 3)))
    with pytest.raises(ValueError, match=r"x0 must be the stacked factors .* \(210, 4\)"):
        altmin(observed, 3, biases=True, x0=np.zeros((m + n, 3)))
    with pytest.raises(ValueError, match="x0 must be finite"):
        altmin(observed, 3, x0=np.full((m + n, 3), np.nan))
    with pytest.raises(ValueError, match="split_samples"):
        altmin(observed, 3, split_samples=True, x0=np.zeros((m + n, 3)))
