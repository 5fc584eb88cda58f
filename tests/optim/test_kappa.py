"""Lion-κ: the invariant dual ball (spec §1.4) and the limits against cvxpy / closed forms."""

import math

import numpy as np
import pytest
import torch

from optkit.optim import Lion
from optkit.optim.kappa import KAPPAS, dual_norm

C = np.array([3.0, -2.5, 0.2, 1.5, -0.1, 4.0])
E = 0.5
SMOOTH = {"huber", "tanh", "relativistic", "softsign"}


def _options(kappa):
    if kappa in SMOOTH:
        return {"e": E}
    if kappa == "lp":
        return {"p": 3.0}
    if kappa == "sorted":
        return {"weights": [2.0, 1.0, 0.5]}
    return None


def _limit(kappa, c, lam=1.0, steps=1000, lr0=0.05, options=None):
    """Lion-κ on f = ½‖x − c‖² with exact gradients and lr decayed linearly to 0."""
    c = torch.as_tensor(c, dtype=torch.float64)
    x = torch.nn.Parameter(torch.zeros_like(c))
    opt = Lion([x], lr=lr0, weight_decay=lam, kappa=kappa,
               kappa_options=options if options is not None else _options(kappa))
    for t in range(steps):
        opt.param_groups[0]["lr"] = lr0 * (1 - t / steps)
        x.grad = x.detach() - c
        opt.step()
    return x.detach().numpy()


def _cvx(kappa, c, lam=1.0):
    cp = pytest.importorskip("cvxpy")
    x = cp.Variable(c.shape)
    y = lam * x
    f = 0.5 * cp.sum_squares(x - c)
    cons = []
    if kappa == "sign":
        cons = [cp.norm_inf(y) <= 1]
    elif kappa == "l2":
        cons = [cp.norm(y, 2) <= 1]
    elif kappa == "linf":
        cons = [cp.norm1(y) <= 1]
    elif kappa == "lp":
        cons = [cp.pnorm(y, 1.5) <= 1]
    elif kappa == "sorted":
        w = np.cumsum([2.0, 1.0, 0.5])
        cons = [cp.sum_largest(cp.abs(y), k + 1) <= w[min(k, 2)] for k in range(c.size)]
    elif kappa == "nuclear":
        cons = [cp.sigma_max(y) <= 1]
    elif kappa == "huber":
        f = f + (1 / lam) * (E / 2) * cp.sum_squares(y)
        cons = [cp.norm_inf(y) <= 1]
    elif kappa == "tanh":
        f = f - (1 / lam) * (E / 2) * cp.sum(cp.entr(1 + y) + cp.entr(1 - y))
    elif kappa == "relativistic":
        f = f - (1 / lam) * E * cp.sum(cp.sqrt(1 - cp.square(y)))
    else:
        raise AssertionError(kappa)
    cp.Problem(cp.Minimize(f), cons).solve()
    return x.value


@pytest.mark.parametrize("kappa", ["sign", "l2", "linf", "lp", "sorted", "huber", "tanh",
                                   "relativistic"])
def test_limit_matches_cvxpy(kappa):
    lam = 1.0 if kappa != "l2" else 0.5
    np.testing.assert_allclose(_limit(kappa, C, lam=lam), _cvx(kappa, C, lam=lam), atol=1e-3)


@pytest.mark.parametrize("kappa,expected", [
    ("sign", np.clip(C, -1, 1)),
    ("l2", C / np.linalg.norm(C)),
    ("linf", np.array([0, 0, 0, 0, 0, 1.0])),
    ("quadratic", C / 2),
    ("huber", np.clip(C / (1 + E), -1, 1)),
])
def test_limit_closed_forms(kappa, expected):
    np.testing.assert_allclose(_limit(kappa, C), expected, atol=1e-4)


def test_softsign_limit_is_the_fixed_point_root():
    from scipy.optimize import brentq

    # λx + ∇κ(x − c) = 0 per coordinate, ∇κ(z) = z/(|z| + e), λ = 1
    root = [brentq(lambda x, ci=ci: x + (x - ci) / (abs(x - ci) + E), -1, 1) for ci in C]
    np.testing.assert_allclose(_limit("softsign", C), root, atol=1e-4)


def test_scale_multiplies_the_radius():
    x = _limit("sign", C, lr0=0.025, options={"scale": 2.0})
    np.testing.assert_allclose(x, np.clip(C, -2, 2), atol=1e-3)


def test_nuclear_limit_clips_singular_values():
    rng = np.random.default_rng(0)
    cmat = rng.standard_normal((3, 4)) * 2
    cm = torch.tensor(cmat)
    x = torch.nn.Parameter(torch.zeros_like(cm))
    opt = Lion([x], lr=0.05, weight_decay=1.0, kappa="nuclear")
    steps = 1500
    for t in range(steps):
        opt.param_groups[0]["lr"] = 0.05 * (1 - t / steps)
        x.grad = x.detach() - cm
        opt.step()
    u, s, vt = np.linalg.svd(cmat, full_matrices=False)
    expected = (u * np.minimum(s, 1.0)) @ vt
    np.testing.assert_allclose(x.detach().numpy(), expected, atol=2e-3)
    np.testing.assert_allclose(x.detach().numpy(), _cvx("nuclear", cmat), atol=2e-3)


@pytest.mark.parametrize("shape", [(4, 6), (6, 4)])
def test_newton_schulz_approaches_the_polar_factor_from_inside(shape):
    c = torch.randn(shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    u, _, vh = torch.linalg.svd(c, full_matrices=False)
    fn = KAPPAS["nuclear"].single
    few = fn(c.clone(), {"method": "newton_schulz", "ns_steps": 3})
    many = fn(c.clone(), {"method": "newton_schulz", "ns_steps": 40})
    assert torch.linalg.matrix_norm(few, ord=2) <= 1 + 1e-12
    torch.testing.assert_close(many, u @ vh, rtol=0, atol=1e-8)


def test_sorted_weights_reduce_to_sign_and_linf():
    w = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
    for other, weights in [("sign", [1.0] * 6), ("linf", [1.0])]:
        a = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
        b = torch.nn.Parameter(torch.zeros(6, dtype=torch.float64))
        opt_a = Lion([a], lr=0.05, weight_decay=1.0, kappa="sorted",
                     kappa_options={"weights": weights})
        opt_b = Lion([b], lr=0.05, weight_decay=1.0, kappa=other)
        for _ in range(50):
            a.grad = a.detach() - torch.tensor(C)
            b.grad = b.detach() - torch.tensor(C)
            opt_a.step()
            opt_b.step()
        assert torch.equal(a, b), other
    del w


def _dual(kappa, x):
    return dual_norm(x, kappa, {"p": 3.0, "weights": [2.0, 1.0, 0.5]})


BALL = [k for k in KAPPAS if k != "quadratic"]


@pytest.mark.parametrize("kappa", BALL)
def test_dual_ball_is_invariant(kappa):
    """From inside ‖λθ‖_* ≤ 1, random and adversarial gradients never leave (ηλ ≤ 1)."""
    lam, lr = 2.0, 0.05
    gen = torch.Generator().manual_seed(0)
    shape = (3, 4) if kappa == "nuclear" else (12,)
    x = torch.nn.Parameter(torch.zeros(shape))
    opt = Lion([x], lr=lr, weight_decay=lam, kappa=kappa, kappa_options=_options(kappa))
    bound = (1 / lam) * (1 + 8 * torch.finfo(torch.float32).eps)
    worst = 0.0
    for t in range(1000):
        g = torch.randn(shape, generator=gen)
        if t % 2:  # adversarial: push outwards along the current iterate
            g = -torch.sign(x.detach()) * 10 - (x.detach() == 0) * g.abs()
        x.grad = g
        opt.step()
        worst = max(worst, _dual(kappa, x))
    assert worst <= bound
    assert worst >= 0.5 / lam  # the gradients do push it to the boundary region


@pytest.mark.parametrize("kappa", ["sign", "l2", "nuclear", "tanh"])
def test_contraction_from_outside(kappa):
    """‖θ_t‖_* − 1/λ ≤ (1 − ηλ)ᵗ (‖θ_0‖_* − 1/λ)."""
    lam, lr = 1.0, 0.1
    gen = torch.Generator().manual_seed(1)
    x = torch.nn.Parameter(10 * torch.randn(3, 4, generator=gen, dtype=torch.float64))
    gap0 = _dual(kappa, x) - 1 / lam
    assert gap0 > 1
    opt = Lion([x], lr=lr, weight_decay=lam, kappa=kappa, kappa_options=_options(kappa))
    for t in range(1, 40):
        x.grad = torch.randn(3, 4, generator=gen, dtype=torch.float64)
        opt.step()
        assert _dual(kappa, x) - 1 / lam <= (1 - lr * lam) ** t * gap0 + 1e-12


@pytest.mark.parametrize("kappa", list(KAPPAS))
def test_directions_are_odd_and_zero_at_zero(kappa):
    gen = torch.Generator().manual_seed(2)
    c = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    opts = {"scale": 1.0, "method": "svd", "ns_steps": 5, **(_options(kappa) or {})}
    fn = KAPPAS[kappa].single
    torch.testing.assert_close(fn(-c.clone(), opts), -fn(c.clone(), opts))
    out = fn(torch.zeros(3, 5, dtype=torch.float64), opts)
    assert torch.equal(out, torch.zeros_like(out))


def test_lp_large_inputs_do_not_overflow():
    c = torch.tensor([1e30, -2e30, 3.0], dtype=torch.float32)
    d = KAPPAS["lp"].single(c.clone(), {"p": 4.0})
    assert torch.isfinite(d).all()
    assert math.isclose(float(torch.linalg.vector_norm(d, ord=4 / 3)), 1.0, rel_tol=1e-5)
