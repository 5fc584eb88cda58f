"""Every ``grad=`` mode on lazy costs (``sinkhorn(x=, y=, lazy=True)``, issue 14): gradcheck
(finite differences) in the points and masses, equality with the dense path (autograd through
the formed cost), the implicit gradient of plan-dependent losses against central differences,
and the size of the autodiff tape."""

import pytest
import torch
from torch.autograd import gradcheck

from optkit.ot import _torch_kernels, sinkhorn

REG = 0.5
TIGHT = 1e-13


def _data(n=5, m=4, d=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, dtype=torch.float64, generator=gen)
    y = torch.rand(m, d, dtype=torch.float64, generator=gen)
    a = torch.rand(n, dtype=torch.float64, generator=gen) + 0.5
    b = torch.rand(m, dtype=torch.float64, generator=gen) + 0.5
    return x, y, a / a.sum(), b / b.sum()


def _value(res, grad, W):
    """The differentiable value of each mode: the dual for the envelope; otherwise the cost
    plus a loss of the plan through the lazy operator."""
    if grad == "envelope":
        return res.dual
    return res.cost + res.lazy_plan.apply(lambda P, C, rows, W: (P * W[rows]).sum(), W)


@pytest.mark.parametrize("grad, method", [("envelope", "sinkhorn"), ("implicit", "sinkhorn"),
                                          ("implicit", "sns"), ("autodiff", "sinkhorn")])
def test_gradcheck_lazy_points_and_masses(grad, method):
    x, y, a, b = _data()
    W = torch.rand(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))

    def solve(a, b, x, y):
        return _value(sinkhorn(a, b, x=x, y=y, reg=REG, method=method, grad=grad, tol=TIGHT,
                               lazy=True), grad, W)

    def of_masses(da, db):  # zero-total perturbations keep sum(a) = sum(b)
        return solve(a + da - da.mean(), b + db - db.mean(), x, y)

    zeros = (torch.zeros(5, dtype=torch.float64, requires_grad=True),
             torch.zeros(4, dtype=torch.float64, requires_grad=True))
    assert gradcheck(lambda x, y: solve(a, b, x, y),
                     (x.clone().requires_grad_(), y.clone().requires_grad_()), atol=1e-6)
    assert gradcheck(of_masses, zeros, atol=1e-6)


def _gradients(grad, cost, lazy, seed=2, device="cpu"):
    """Gradients w.r.t. (x, y, a) of a loss that uses every differentiable field of the mode."""
    x0, y0, a0, _ = _data(n=23, m=17, seed=seed)
    gen = torch.Generator().manual_seed(seed + 10)
    W, w = (torch.rand(*s, dtype=torch.float64, generator=gen).to(device)
            for s in ((23, 17), (23,)))
    x, y, a = (v.to(device).requires_grad_() for v in (x0, y0, a0))
    res = sinkhorn(a, None, x=x, y=y, cost=cost, reg=0.2, method="sinkhorn", tol=1e-12,
                   grad=grad, lazy=lazy)
    loss = 2.0 * res.dual - res.ent_reg_cost
    if grad != "envelope":
        plan_loss = (res.lazy_plan.apply(lambda P, C, rows, W: (P * W[rows]).sum(), W)
                     if lazy else (res.plan * W).sum())
        loss = loss + res.cost + plan_loss + (res.f * w).sum() + res.g.sum() ** 2
    return torch.autograd.grad(loss, (x, y, a))


@pytest.mark.parametrize("grad", ["envelope", "implicit", "autodiff"])
@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean", "l1"])
def test_lazy_gradients_equal_the_dense_ones(grad, cost, monkeypatch):
    """Lazy (5-row blocks, so every backward streams over several blocks) = dense (autograd
    through the formed C) to 1e-8 relative, for each mode and named cost."""
    dense = _gradients(grad, cost, lazy=False)
    monkeypatch.setattr(_torch_kernels, "_LAZY_BLOCK_BYTES", 5 * 17 * 8 * (2 * 2 + 4))
    lazy = _gradients(grad, cost, lazy=True)
    for name, u, v in zip("xya", lazy, dense):
        err = float((u - v).abs().max() / v.abs().max())
        assert err < 1e-8, (name, err)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("grad", ["envelope", "implicit", "autodiff"])
def test_lazy_gradients_on_cuda_equal_the_dense_cpu_ones(grad):
    dense = _gradients(grad, "sqeuclidean", lazy=False)
    lazy = _gradients(grad, "sqeuclidean", lazy=True, device="cuda")
    for name, u, v in zip("xya", lazy, dense):
        assert u.device.type == "cuda"
        err = float((u.cpu() - v).abs().max() / v.abs().max())
        assert err < 1e-8, (name, err)


def test_lazy_implicit_plan_losses_match_finite_differences():
    """sum(P * W) + <w, P v> + <P^T u, s> through the lazy operator (apply, matvec, rmatvec):
    the implicit gradient in the points and the masses against central differences along a
    random direction (the finite-difference side reads the dense plan)."""
    x0, y0, a0, b0 = _data(n=14, m=11, seed=3)
    gen = torch.Generator().manual_seed(4)
    W = torch.rand(14, 11, dtype=torch.float64, generator=gen)
    v, s = torch.rand(11, dtype=torch.float64, generator=gen), torch.rand(11, dtype=torch.float64, generator=gen)
    w, u = torch.rand(14, dtype=torch.float64, generator=gen), torch.rand(14, dtype=torch.float64, generator=gen)
    Ex, Ey = (torch.randn(k, 2, dtype=torch.float64, generator=gen) for k in (14, 11))
    Ea = torch.randn(14, dtype=torch.float64, generator=gen)
    Ea -= Ea.mean()

    def loss_of(res, lazy):
        if lazy:
            P = res.lazy_plan
            return (P.apply(lambda Pb, C, rows, W: (Pb * W[rows]).sum(), W)
                    + (w * P.matvec(v)).sum() + (P.rmatvec(u) * s).sum())
        P = res.plan
        return (P * W).sum() + (w * (P @ v)).sum() + ((P.T @ u) * s).sum()

    def solve(x, y, a, **kw):
        return sinkhorn(a, b0, x=x, y=y, reg=0.1, tol=TIGHT, lazy=True, maxiter=5000, **kw)

    x, y, a = (t.clone().requires_grad_() for t in (x0, y0, a0))
    gx, gy, ga = torch.autograd.grad(loss_of(solve(x, y, a, grad="implicit"), True), (x, y, a))
    h = 1e-5
    with torch.no_grad():
        plus = loss_of(solve(x0 + h * Ex, y0 + h * Ey, a0 + h * Ea), False)
        minus = loss_of(solve(x0 - h * Ex, y0 - h * Ey, a0 - h * Ea), False)
    fd = float(plus - minus) / (2 * h)
    got = float((gx * Ex).sum() + (gy * Ey).sum() + (ga * Ea).sum())
    assert got == pytest.approx(fd, rel=1e-6)


def _saved_numel(grad, lazy, n):
    """Elements saved for the backward by a solve (``saved_tensors_hooks``), and its sweeps."""
    x, y, _, _ = _data(n=n, m=n, seed=5)
    x.requires_grad_()
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        res = sinkhorn(None, None, x=x, y=y, reg=REG, method="sinkhorn", tol=1e-10,
                       grad=grad, lazy=lazy)
    return saved, res.nit


def test_lazy_autodiff_tape_grows_with_n_plus_m_not_n_times_m():
    """Per sweep the lazy tape holds O((n + m) d) elements; the dense unrolled tape (the
    control: the count sees n x m tensors when there are some) holds at least n m."""
    n = 200
    lazy, nit = _saved_numel("autodiff", True, n)
    dense, dense_nit = _saved_numel("autodiff", False, n)
    assert nit == dense_nit and nit >= 5
    assert max(lazy) <= 2 * n
    assert sum(lazy) <= 30 * (2 * n) * nit
    assert sum(dense) >= n * n * nit


def test_lazy_plan_operator_equals_the_dense_plan():
    """result.lazy_plan (every torch lazy result) against the formed plan, with a zero mass."""
    x, y, a, b = _data(n=12, m=9, seed=6)
    a = torch.cat([a[:11], torch.zeros(1, dtype=torch.float64)])
    a = a / a.sum()
    res = sinkhorn(a, b, x=x, y=y, reg=0.1, tol=1e-12, lazy=True)
    P, op = res.plan, res.lazy_plan
    v, u = torch.rand(9, dtype=torch.float64), torch.rand(12, dtype=torch.float64)
    torch.testing.assert_close(op.matvec(v), P @ v, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(op.rmatvec(u), P.T @ u, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(op.sum(), P.sum(), rtol=1e-12, atol=0)
    torch.testing.assert_close(op.dense(), P, rtol=1e-12, atol=1e-15)
    assert float(op.matvec(v)[11]) == 0.0


def test_lazy_gradient_modes_reject_what_they_cannot_do():
    x, y, a, b = _data()
    x.requires_grad_()
    a0 = torch.cat([a[:4], torch.zeros(1, dtype=torch.float64)])
    with pytest.raises(ValueError, match="positive masses"):
        sinkhorn(a0 / a0.sum(), b, x=x, y=y, reg=REG, grad="implicit", lazy=True)
    with pytest.raises(ValueError, match="method='sinkhorn'"):
        sinkhorn(a, b, x=x, y=y, reg=REG, grad="autodiff", method="sns", lazy=True)


def test_pot_lazy_empirical_sinkhorn2_is_differentiable():
    """``compat.empirical_sinkhorn2(isLazy=True)`` (POT's lazy form, which asks for the
    implicit gradient) gives the gradient of its dense form ``isLazy=False``."""
    from optkit.ot import compat

    x0, y0, _, _ = _data(n=12, m=9, seed=7)
    grads = []
    for lazy in (True, False):
        x, y = x0.clone().requires_grad_(), y0.clone().requires_grad_()
        compat.empirical_sinkhorn2(x, y, 0.5, isLazy=lazy, stopThr=1e-12).backward()
        grads.append((x.grad, y.grad))
    for u, v in zip(*grads):
        torch.testing.assert_close(u, v, rtol=1e-8, atol=1e-14)
