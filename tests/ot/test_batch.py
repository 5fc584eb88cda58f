"""Batches of problems (spec ot.md §8.3): a leading batch axis and POT's several-b form."""

import numpy as np
import pytest
import torch

from optkit.ot import cost_matrix, sinkhorn


def _masses(rng, k, n):
    v = rng.random((k, n)) + 0.1
    return v / v.sum(axis=1, keepdims=True)


def test_leading_batch_axis_equals_the_per_problem_results():
    """SNS batches are solved problem by problem: bitwise the unbatched results."""
    rng = np.random.default_rng(0)
    a, b, C = _masses(rng, 3, 30), _masses(rng, 3, 25), rng.random((3, 30, 25))
    res = sinkhorn(a, b, C, 0.02, method="sns", tol=1e-11)
    assert res.success and res.f.shape == (3, 30) and res.cost.shape == (3,)
    for i in range(3):
        one = sinkhorn(a[i], b[i], C[i], 0.02, method="sns", tol=1e-11)
        np.testing.assert_array_equal(res.f[i], one.f)
        np.testing.assert_array_equal(res.g[i], one.g)
        assert res.cost[i] == one.cost and res.nit[i] == one.nit
    assert res.plan.shape == (3, 30, 25)
    # torch batch with shared masses and batched point clouds
    x, y = torch.rand(2, 20, 2, dtype=torch.float64), torch.rand(2, 15, 2, dtype=torch.float64)
    tres = sinkhorn(None, None, x=x, y=y, reg=0.05, method="sns", tol=1e-10)
    assert tres.success and tres.f.shape == (2, 20) and isinstance(tres.f, torch.Tensor)
    one = sinkhorn(None, None, x=x[1], y=y[1], reg=0.05, method="sns", tol=1e-10)
    assert torch.equal(tres.f[1], one.f) and tres.cost[1] == one.cost


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_vectorised_sinkhorn_batch_gives_pot_per_problem(backend):
    """method="sinkhorn" solves the batch as one tensor program; every problem's plan is POT's
    sinkhorn_log plan (L1 < 1e-8), its potentials the unbatched solve's (1e-12) with the same
    number of sweeps."""
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(0)
    a, b, C = _masses(rng, 4, 30), _masses(rng, 4, 25), rng.random((4, 30, 25))
    inputs = (a, b, C) if backend == "numpy" else tuple(map(torch.from_numpy, (a, b, C)))
    res = sinkhorn(*inputs, 0.05, method="sinkhorn", tol=1e-11)
    assert res.vectorised and res.success and res.status.tolist() == [0] * 4
    assert res.f.shape == (4, 30) and res.plan.shape == (4, 30, 25)
    f, g, plan = (np.asarray(v) for v in (res.f, res.g, res.plan))
    for k in range(4):
        ref = ot.sinkhorn(a[k], b[k], C[k], 0.05, method="sinkhorn_log", stopThr=1e-14,
                          numItermax=100000)
        assert np.abs(plan[k] - ref).sum() < 1e-8
        np.testing.assert_allclose(res.cost[k], np.sum(ref * C[k]), rtol=1e-9)
        one = sinkhorn(a[k], b[k], C[k], 0.05, method="sinkhorn", tol=1e-11)
        np.testing.assert_allclose(f[k], one.f, rtol=0, atol=1e-12)
        np.testing.assert_allclose(g[k], one.g, rtol=0, atol=1e-12)
        assert res.nit[k] == one.nit and res.results[k].nit == one.nit
        np.testing.assert_allclose(res.results[k].plan, plan[k], rtol=0, atol=0)


def test_vectorised_batch_shared_cost_and_clouds_on_torch():
    """A shared 2-D cost with several b (POT's form) and batched clouds, on torch; the clouds'
    batch equals the per-problem solves on their cost matrices."""
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(3)
    a = torch.from_numpy(_masses(rng, 1, 20)[0])
    B = torch.from_numpy(_masses(rng, 3, 15).T.copy())
    C = torch.from_numpy(rng.random((20, 15)))
    res = sinkhorn(a, B, C, 0.05, method="sinkhorn", tol=1e-11)
    ref = ot.sinkhorn2(a.numpy(), B.numpy(), C.numpy(), 0.05, method="sinkhorn_log",
                       stopThr=1e-14, numItermax=100000)
    assert res.vectorised and res.success
    np.testing.assert_allclose(res.cost, ref, rtol=1e-9)
    x, y = torch.rand(3, 20, 2, dtype=torch.float64), torch.rand(3, 15, 2, dtype=torch.float64)
    cres = sinkhorn(None, None, x=x, y=y, reg=0.05, method="sinkhorn", tol=1e-10)
    for k in range(3):
        one = sinkhorn(None, None, cost_matrix(x[k], y[k]), 0.05, method="sinkhorn", tol=1e-10)
        torch.testing.assert_close(cres.f[k], one.f, rtol=0, atol=1e-12)


def test_vectorised_batch_envelope_gradient():
    """The batch's dual carries the envelope gradient of every problem: equal to the
    unbatched envelope gradients (C, a, b and points) and to central finite differences."""
    rng = np.random.default_rng(4)
    a = torch.from_numpy(_masses(rng, 3, 12)).requires_grad_()
    x = torch.from_numpy(rng.random((3, 12, 2))).requires_grad_()
    y = torch.from_numpy(rng.random((10, 2)))
    weights = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    res = sinkhorn(a, None, x=x, y=y.expand(3, 10, 2), reg=0.1, method="sinkhorn", tol=1e-13)
    assert res.vectorised
    (res.dual * weights).sum().backward()
    for k in range(3):
        ak, xk = a[k].detach().clone().requires_grad_(), x[k].detach().clone().requires_grad_()
        one = sinkhorn(ak, None, x=xk, y=y, reg=0.1, method="sinkhorn", tol=1e-13)
        (weights[k] * one.dual).backward()
        torch.testing.assert_close(x.grad[k], xk.grad, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(a.grad[k], ak.grad, rtol=1e-9, atol=1e-12)

    # a cost shared by several b (POT's form) receives the sum of the problems' plans
    C = torch.from_numpy(rng.random((12, 10))).requires_grad_()
    cols = torch.from_numpy(_masses(rng, 3, 10).T.copy())
    shared = sinkhorn(None, cols, C, 0.1, method="sinkhorn", tol=1e-13)
    assert shared.vectorised
    (shared.dual * weights).sum().backward()
    expected = sum(float(weights[k]) * sinkhorn(None, cols[:, k], C.detach(), 0.1,
                                                method="sinkhorn", tol=1e-13).plan
                   for k in range(3))
    torch.testing.assert_close(C.grad, expected, rtol=1e-9, atol=1e-13)

    def value(xv):
        r = sinkhorn(a.detach(), None, x=xv, y=y.expand(3, 10, 2), reg=0.1, method="sinkhorn",
                     tol=1e-13)
        return float((torch.as_tensor(r.dual) * weights).sum())

    h = 1e-6
    for idx in [(0, 3, 1), (2, 7, 0)]:
        xp_, xm = x.detach().clone(), x.detach().clone()
        xp_[idx] += h
        xm[idx] -= h
        fd = (value(xp_) - value(xm)) / (2 * h)
        assert abs(fd - float(x.grad[idx])) < 1e-6 * max(1.0, abs(fd))


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
    with pytest.warns(UserWarning, match="did not converge"):
        res = sinkhorn(None, None, C, 0.05, method="sinkhorn", tol=1e-9, maxiter=200)
    assert res.successes.tolist() == [True, False] and not res.success
    assert res.nit[0] < 200 and res.nit[1] == 200 and "[1]" in res.message
    assert res.status.tolist() == [0, 1]
    # the first problem stops at its own sweep whatever check_every is
    one = sinkhorn(None, None, C[0], 0.05, method="sinkhorn", tol=1e-9)
    sparse = sinkhorn(None, None, C, 0.05, method="sinkhorn", tol=1e-9, maxiter=200,
                      check_every=7, warn=False)
    assert sparse.nit[0] == one.nit and np.allclose(sparse.f[0], one.f, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="batch dimensions"):
        sinkhorn(_masses(rng, 3, 20), None, C, 0.05)
