"""Batches of problems (spec ot.md §8.3): a leading batch axis and POT's several-b form."""

import numpy as np
import pytest
import torch

from optkit.ot import sinkhorn


def _masses(rng, k, n):
    v = rng.random((k, n)) + 0.1
    return v / v.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("method", ["sns", "sinkhorn"])
def test_leading_batch_axis_equals_the_per_problem_results(method):
    rng = np.random.default_rng(0)
    a, b, C = _masses(rng, 3, 30), _masses(rng, 3, 25), rng.random((3, 30, 25))
    res = sinkhorn(a, b, C, 0.02, method=method, tol=1e-11)
    assert res.success and res.f.shape == (3, 30) and res.cost.shape == (3,)
    for i in range(3):
        one = sinkhorn(a[i], b[i], C[i], 0.02, method=method, tol=1e-11)
        np.testing.assert_array_equal(res.f[i], one.f)
        np.testing.assert_array_equal(res.g[i], one.g)
        assert res.cost[i] == one.cost and res.nit[i] == one.nit
    assert res.plan.shape == (3, 30, 25)
    # torch batch with shared masses and batched point clouds
    x, y = torch.rand(2, 20, 2, dtype=torch.float64), torch.rand(2, 15, 2, dtype=torch.float64)
    tres = sinkhorn(None, None, x=x, y=y, reg=0.05, method=method, tol=1e-10)
    assert tres.success and tres.f.shape == (2, 20) and isinstance(tres.f, torch.Tensor)
    one = sinkhorn(None, None, x=x[1], y=y[1], reg=0.05, method=method, tol=1e-10)
    assert torch.equal(tres.f[1], one.f) and tres.cost[1] == one.cost


def test_several_b_columns_give_pot_sinkhorn2_costs():
    """POT's several-b form: b (m, k) with one C gives k costs, POT's sinkhorn2 the oracle."""
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(1)
    a = _masses(rng, 1, 30)[0]
    B = _masses(rng, 4, 25).T
    C = rng.random((30, 25))
    res = sinkhorn(a, B, C, 0.05, tol=1e-11)
    ref = ot.sinkhorn2(a, B, C, 0.05, method="sinkhorn_log", stopThr=1e-14, numItermax=100000)
    assert res.success and res.cost.shape == (4,)
    np.testing.assert_allclose(res.cost, ref, rtol=1e-9)
    np.testing.assert_allclose(res.cost[2], sinkhorn(a, B[:, 2], C, 0.05, tol=1e-11).cost,
                               rtol=0)


def test_batch_stops_per_problem_and_rejects_mismatched_sizes():
    rng = np.random.default_rng(2)
    C = rng.random((2, 20, 20))
    C[1] *= 40  # a much harder second problem
    res = sinkhorn(None, None, C, 0.05, method="sinkhorn", tol=1e-9, maxiter=200)
    assert res.successes.tolist() == [True, False] and not res.success
    assert res.nit[0] < 200 and res.nit[1] == 200 and "[1]" in res.message
    with pytest.raises(ValueError, match="batch dimensions"):
        sinkhorn(_masses(rng, 3, 20), None, C, 0.05)
