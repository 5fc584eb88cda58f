"""``sinkhorn(init=previous_result)``: resuming an interrupted run."""

import numpy as np
import pytest

from optkit.ot import sinkhorn


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(50, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    a, b = rng.random(40), rng.random(50)
    return a / a.sum(), b / b.sum(), C


def _stop_at(k):
    def callback(intermediate_result):
        if intermediate_result.nit == k:
            raise StopIteration
    return callback


def test_log_sinkhorn_resumes_exactly(problem):
    a, b, C = problem
    kw = dict(reg=0.05, method="sinkhorn", tol=1e-300)  # run the whole budget
    full = sinkhorn(a, b, C, maxiter=60, **kw)
    part = sinkhorn(a, b, C, maxiter=60, callback=_stop_at(10), **kw)
    assert part.status == 99 and part.nit == 10
    res = sinkhorn(a, b, C, maxiter=50, init=part, **kw)
    np.testing.assert_array_equal(res.f, full.f)
    np.testing.assert_array_equal(res.g, full.g)
    np.testing.assert_array_equal(res.plan, full.plan)


def test_a_checkpoint_of_the_callback_resumes(problem):
    a, b, C = problem
    n = a.size
    saved = {}

    def checkpoint(intermediate_result):
        saved["x"] = intermediate_result.x.copy()
        if intermediate_result.nit == 7:
            raise StopIteration

    kw = dict(reg=0.05, method="sinkhorn", tol=1e-300)
    full = sinkhorn(a, b, C, maxiter=30, **kw)
    sinkhorn(a, b, C, maxiter=30, callback=checkpoint, **kw)
    res = sinkhorn(a, b, C, maxiter=23, init=(saved["x"][:n], saved["x"][n:]), **kw)
    np.testing.assert_array_equal(res.plan, full.plan)


def test_sns_resumes_to_the_same_solution(problem):
    """SNS restarts its Sinkhorn warm-up and sparsity adaptation: other iterates, the same
    optimum (the plan; the potentials up to the shift (f + c, g - c))."""
    a, b, C = problem
    kw = dict(reg=0.05, method="sns", tol=1e-12, maxiter=300)
    full = sinkhorn(a, b, C, **kw)
    part = sinkhorn(a, b, C, callback=_stop_at(10), **kw)
    res = sinkhorn(a, b, C, init=part, **kw)
    assert full.success and res.success
    np.testing.assert_allclose(res.plan, full.plan, rtol=0, atol=1e-12)
    shift = np.mean(res.f - full.f)
    np.testing.assert_allclose(res.f - shift, full.f, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.g + shift, full.g, rtol=0, atol=1e-8)
