"""Gradients through ``optkit.ot.sinkhorn`` (spec §8.1): gradcheck (finite differences) for every
``grad=`` mode, POT's autodiff through a converged ``sinkhorn_log`` as the reference, the implicit
gradient of plan-dependent and gauge-dependent losses, and bad inputs."""

import numpy as np
import ot
import pytest
import torch
from torch.autograd import gradcheck

from optkit.ot import cost_matrix, monge_gap, sinkhorn

REG = 0.5
TIGHT = 1e-13
MODES = [("envelope", "sinkhorn"), ("implicit", "sinkhorn"), ("autodiff", "sinkhorn")]


def _data(n=5, m=4, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, dtype=torch.float64, generator=g)
    y = torch.randn(m, d, dtype=torch.float64, generator=g)
    a = torch.rand(n, dtype=torch.float64, generator=g) + 0.5
    b = torch.rand(m, dtype=torch.float64, generator=g) + 0.5
    return x, y, a / a.sum(), b / b.sum()


def _value(res, grad):
    """The differentiable value of each mode: the dual for the envelope, the cost otherwise."""
    return res.dual if grad == "envelope" else res.cost


@pytest.mark.parametrize("grad, method", MODES)
def test_gradcheck_cost_matrix_masses_and_points(grad, method):
    x, y, a, b = _data()
    C = cost_matrix(x, y).requires_grad_()

    def of_C(C):
        return _value(sinkhorn(a, b, C, REG, method=method, grad=grad, tol=TIGHT), grad)

    def of_masses(da, db):  # zero-total perturbations keep sum(a) = sum(b)
        res = sinkhorn(a + da - da.mean(), b + db - db.mean(), C.detach(), REG, method=method,
                       grad=grad, tol=TIGHT)
        return _value(res, grad)

    def of_points(x):
        return _value(sinkhorn(a, b, x=x, y=y, reg=REG, method=method, grad=grad, tol=TIGHT),
                      grad)

    zeros = (torch.zeros(5, dtype=torch.float64, requires_grad=True),
             torch.zeros(4, dtype=torch.float64, requires_grad=True))
    assert gradcheck(of_C, (C,), atol=1e-6)
    assert gradcheck(of_masses, zeros, atol=1e-6)
    assert gradcheck(of_points, (x.clone().requires_grad_(),), atol=1e-6)


def test_gradcheck_implicit_after_sns():
    """The implicit gradient from SNS's potentials (the gradient does not depend on the solver)."""
    x, y, a, b = _data(n=4, m=3)
    C = cost_matrix(x, y).requires_grad_()
    assert gradcheck(lambda C: sinkhorn(a, b, C, REG, grad="implicit", tol=TIGHT).cost, (C,),
                     atol=1e-6)


def test_detach_gives_no_gradient_and_plain_input_plain_floats():
    x, y, a, b = _data()
    C = cost_matrix(x, y).requires_grad_()
    res = sinkhorn(a.requires_grad_(), b, C, REG, grad="detach")
    assert isinstance(res.dual, float) and isinstance(res.cost, float)
    assert not res.plan.requires_grad and not res.f.requires_grad
    plain = sinkhorn(a.detach(), b, C.detach(), REG)
    assert isinstance(plain.dual, float) and plain.dual == pytest.approx(res.dual, rel=1e-12)
    with torch.no_grad():
        assert isinstance(sinkhorn(a, b, C, REG).dual, float)


@pytest.mark.parametrize("grad", ["implicit", "autodiff"])
def test_plan_and_gauge_dependent_losses_match_finite_differences(grad):
    """A loss of the plan, sum(P * W), and one of the potentials, <w1, f> + <w2, g> (implicit
    outputs are gauge-fixed by sum f = sum g), against central differences along a random
    direction of C."""
    x, y, a, b = _data(n=12, m=9, seed=3)
    C0 = cost_matrix(x, y)
    gen = torch.Generator().manual_seed(7)
    W = torch.rand(12, 9, dtype=torch.float64, generator=gen)
    w1 = torch.rand(12, dtype=torch.float64, generator=gen)
    w2 = torch.rand(9, dtype=torch.float64, generator=gen)
    E = torch.randn(12, 9, dtype=torch.float64, generator=gen)

    def losses(C, **kw):
        res = sinkhorn(a, b, C, REG, method="sinkhorn", tol=TIGHT, **kw)
        f, g = res.f, res.g
        if kw.get("grad") is None:  # the finite-difference side fixes the same gauge
            t = (f.sum() - g.sum()) / (12 + 9)
            f, g = f - t, g + t
        return (res.plan * W).sum(), (f * w1).sum() + (g * w2).sum()

    C = C0.clone().requires_grad_()
    plan_loss, gauge_loss = losses(C, grad=grad)
    d_plan = torch.autograd.grad(plan_loss, C, retain_graph=True)[0]
    h = 1e-5
    with torch.no_grad():
        plus, minus = losses(C0 + h * E), losses(C0 - h * E)
    fd_plan = (plus[0] - minus[0]) / (2 * h)
    assert float((d_plan * E).sum()) == pytest.approx(float(fd_plan), rel=1e-6, abs=1e-10)
    if grad == "implicit":
        d_gauge = torch.autograd.grad(gauge_loss, C)[0]
        fd_gauge = (plus[1] - minus[1]) / (2 * h)
        assert float((d_gauge * E).sum()) == pytest.approx(float(fd_gauge), rel=1e-6)


def _pot_autodiff(a, b, C, loss):
    """Gradients of ``loss(P, C)`` w.r.t. (C, a, b) by autograd through POT's converged
    ``sinkhorn_log`` (torch backend), the a, b gradients centred."""
    Ct, at, bt = (v.detach().clone().requires_grad_() for v in (C, a, b))
    P = ot.bregman.sinkhorn_log(at, bt, Ct, REG, stopThr=1e-15, numItermax=20000)
    gC, ga, gb = torch.autograd.grad(loss(P, Ct), (Ct, at, bt))
    return gC, ga - ga.mean(), gb - gb.mean()


def _close(u, v, rel=1e-6):
    return float(torch.linalg.vector_norm(u - v)) <= rel * float(torch.linalg.vector_norm(v))


@pytest.mark.parametrize("grad", ["envelope", "implicit"])
def test_value_gradients_match_pot_autodiff(grad):
    """The regularized value ⟨C,P⟩ + reg ΣP log P (= dual + reg Σa) and, for the implicit mode,
    the linear cost ⟨C,P⟩ and a plan loss, against autograd through POT's sinkhorn_log."""
    x, y, a, b = _data(n=20, m=15, seed=1)
    C = cost_matrix(x, y)
    W = torch.rand(20, 15, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    cases = [("dual", lambda P, C: (C * P).sum() + REG * (P * P.log()).sum())]
    if grad == "implicit":
        cases += [("cost", lambda P, C: (C * P).sum()), ("plan", lambda P, C: (P * W).sum())]
    for field, pot_loss in cases:
        Ct, at, bt = (v.clone().requires_grad_() for v in (C, a, b))
        res = sinkhorn(at, bt, Ct, REG, method="sinkhorn", grad=grad, tol=1e-14)
        mine = res.dual if field == "dual" else res.cost if field == "cost" else (res.plan * W).sum()
        got = torch.autograd.grad(mine, (Ct, at, bt))
        want = _pot_autodiff(a, b, C, pot_loss)
        for name, u, v in zip("Cab", got, want):
            assert _close(u, v), (field, name, float((u - v).abs().max()))


def test_envelope_gradient_reaches_points_and_zero_masses():
    """Envelope gradients in the points (through cost_matrix) equal sum_i P_ij d/dy c(x_i, y_j),
    and zero masses are allowed (their plan rows are zero, so is their gradient)."""
    x, y, a, b = _data(n=8, m=6, seed=4)
    a = torch.cat([a[:7], torch.zeros(1, dtype=torch.float64)])
    a = a / a.sum()
    yg = y.clone().requires_grad_()
    res = sinkhorn(a, b, x=x, y=yg, reg=REG, method="sinkhorn", tol=TIGHT)
    (gy,) = torch.autograd.grad(res.dual, yg)
    P = res.plan
    want = 2 * (y * P.sum(0)[:, None] - P.T @ x)
    assert torch.allclose(gy, want, rtol=1e-10, atol=1e-12)
    assert float(P[7].abs().max()) == 0.0


def test_monge_gap_gradient_uses_envelope():
    """monge_gap's gradient in Tx against central differences (envelope machinery)."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(10, 2, dtype=torch.float64, generator=g)
    Tx = (x @ torch.tensor([[1.1, 0.2], [0.1, 0.9]], dtype=torch.float64)).requires_grad_()
    gap = monge_gap(x, Tx, reg=0.3, tol=TIGHT)
    (gT,) = torch.autograd.grad(gap, Tx)
    E = torch.randn(10, 2, dtype=torch.float64, generator=g)
    h = 1e-5
    with torch.no_grad():
        fd = (monge_gap(x, Tx + h * E, reg=0.3, tol=TIGHT)
              - monge_gap(x, Tx - h * E, reg=0.3, tol=TIGHT)) / (2 * h)
    assert float((gT * E).sum()) == pytest.approx(float(fd), rel=1e-6)


def test_bad_grad_arguments():
    x, y, a, b = _data()
    C = cost_matrix(x, y)
    with pytest.raises(ValueError, match="grad"):
        sinkhorn(a.numpy(), b.numpy(), C.numpy(), REG, grad="implicit")
    with pytest.raises(ValueError, match="grad"):
        sinkhorn(a, b, C, REG, grad="unrolled")
    with pytest.raises(ValueError, match="method='sinkhorn'"):
        sinkhorn(a, b, C.requires_grad_(), REG, grad="autodiff", method="sns")
    a0 = torch.cat([a[:4], torch.zeros(1, dtype=torch.float64)])
    with pytest.raises(ValueError, match="positive masses"):
        sinkhorn(a0 / a0.sum(), b, C, REG, grad="implicit")
    assert np.isfinite(sinkhorn(a.numpy(), b.numpy(), C.detach().numpy(), REG).dual)


def test_kkt_adjoint_sns_preconditioner():
    """The adjoint solve with the SNS sparsified-Hessian preconditioner gives the Jacobi-PCG
    solution in fewer CG iterations (a small reg, where H is ill-conditioned), and solves
    H lambda = Pi u (checked with the dense H)."""
    from optkit.ot.autograd import KKTAdjoint, gauge_fixed

    x, y, a, b = _data(n=80, m=60, seed=6)
    C = cost_matrix(x, y)
    C = C / C.max()
    eps = 2e-3
    res = sinkhorn(a, b, C, eps, tol=1e-12, maxiter=5000)
    f, g = gauge_fixed(res.f, res.g)
    W = torch.rand(80, 60, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    j0 = int(b.argmax())
    sns, jacobi = (KKTAdjoint(C, f, g, eps, j0, preconditioner=k) for k in ("sns", "jacobi"))
    P = sns.plan()
    uf, ug = (W * P).sum(1) / eps, (W * P).sum(0) / eps
    lam_f, lam_g = sns.solve(uf, ug)
    ref_f, ref_g = jacobi.solve(uf, ug)
    assert sns.n_cg < jacobi.n_cg
    assert torch.allclose(lam_f, ref_f, rtol=0, atol=1e-8 * float(ref_f.abs().max()))
    H = torch.cat([torch.cat([torch.diag(P.sum(1)), P], 1),
                   torch.cat([P.T, torch.diag(P.sum(0))], 1)]) / eps
    u = torch.cat([uf, ug])
    u -= (uf.sum() - ug.sum()) / 140 * torch.cat([torch.ones(80), -torch.ones(60)]).double()
    lam = torch.cat([lam_f, lam_g])
    assert float((H @ lam - u).norm()) <= 1e-9 * float(u.norm())
