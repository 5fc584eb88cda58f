"""The penalty methods against closed forms (spec bilevel §5.1-5.3)."""

import numpy as np
import pytest

from optkit.bilevel import BilevelProblem, solve, toys

METHODS = ["penalty", "penalty-sl"]


def closed_forms(p, sigma):
    """y_sigma(x), y*(x), psi_sigma(x) and its gradient for the quadratic toy (spec §5.1)."""
    A, B, yt, rho = (p.data[k] for k in ("A", "B", "y_t", "rho"))
    n = A.shape[0]

    def y_sigma(x):
        return np.linalg.solve(A + sigma * np.eye(n), B @ x + sigma * yt)

    def y_star(x):
        return np.linalg.solve(A, B @ x)

    def f(x, y):
        return 0.5 * np.sum((y - yt) ** 2) + 0.5 * rho * x @ x

    def g(x, y):
        return 0.5 * y @ A @ y - y @ B @ x

    def psi_sigma(x):
        ys, yg = y_sigma(x), y_star(x)
        return f(x, ys) + (g(x, ys) - g(x, yg)) / sigma

    def grad(x):
        return rho * x - B.T @ (y_sigma(x) - y_star(x)) / sigma

    H = rho * np.eye(B.shape[1]) + B.T @ np.linalg.solve(A + sigma * np.eye(n), np.linalg.solve(A, B))
    x_sigma = np.linalg.solve(H, B.T @ np.linalg.solve(A + sigma * np.eye(n), yt))
    return y_sigma, y_star, psi_sigma, grad, x_sigma


def start_at_exact_inner(p, x0, sigma):
    y_sigma, y_star, *_ = closed_forms(p, sigma)
    return BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=x0, y0=y_sigma(x0),
                          z0=y_star(x0), lipschitz=p.lipschitz, psi=p.psi)


@pytest.mark.parametrize("sigma", [1e-1, 1e-2, 1e-3])
def test_direction_matches_closed_form_and_finite_differences(sigma):
    p = toys.quadratic()
    x0 = np.random.default_rng(1).standard_normal(5)
    q = start_at_exact_inner(p, x0, sigma)
    alpha = 1e-3
    # inner loops stop at once (exact y_sigma, y*): x1 = x0 - alpha d
    res = solve(q, sigma=sigma, lr_x=alpha, maxiter=1, inner_tol=1e9)
    d = (x0 - res.x) / alpha
    _, _, psi_sigma, grad, _ = closed_forms(p, sigma)
    np.testing.assert_allclose(d, grad(x0), rtol=0, atol=1e-10)
    h = 1e-5
    fd = np.array([(psi_sigma(x0 + h * e) - psi_sigma(x0 - h * e)) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(d, fd, rtol=1e-5, atol=1e-8)


def test_penalty_gap_is_order_sigma():
    """|psi_sigma - psi| and |grad psi_sigma - grad psi| shrink 8-12x per decade of sigma."""
    p = toys.quadratic()
    x0 = np.random.default_rng(2).standard_normal(5)
    A, B, yt, rho = (p.data[k] for k in ("A", "B", "y_t", "rho"))
    M = np.linalg.solve(A, B)
    grad_psi = M.T @ (M @ x0 - yt) + rho * x0
    gaps, grad_gaps = [], []
    for sigma in [1e-1, 1e-2, 1e-3]:
        q = BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=x0, y0=np.zeros(10),
                           lipschitz=p.lipschitz)
        alpha = 1e-3
        res = solve(q, sigma=sigma, lr_x=alpha, maxiter=1, inner_steps=5000, inner_tol=1e-13)
        first = res.trace.records[0]
        gaps.append(abs(first["psi_sigma"] - p.psi(x0)))
        _, _, _, grad, _ = closed_forms(p, sigma)
        grad_gaps.append(np.linalg.norm(grad(x0) - grad_psi))
    for gap in (gaps, grad_gaps):
        ratios = np.array(gap[:-1]) / np.array(gap[1:])
        assert np.all((ratios > 8) & (ratios < 12)), ratios


@pytest.mark.parametrize("method", METHODS)
def test_quadratic_reaches_x_star(method):
    p = toys.quadratic()
    sigma = 1e-2
    lr_x = 0.25 if method == "penalty" else 3 * sigma
    res = solve(p, method, sigma=sigma, lr_x=lr_x, maxiter=20000, tol=1e-7)
    assert res.success, res.message
    x_sigma = closed_forms(p, sigma)[4]
    np.testing.assert_allclose(res.x, x_sigma, atol=1e-5)
    assert np.linalg.norm(res.x - p.x_star) <= 5 * sigma
    assert abs(res.psi - p.psi_star) <= 5 * sigma


def test_quadratic_x_star_to_1e4_with_geometric_schedule():
    p = toys.quadratic()
    res = solve(p, sigma=1e-2, sigma_schedule="geometric", sigma_min=1e-4, sigma_every=50,
                lr_x=0.25, maxiter=3000, tol=1e-8)
    assert res.success, res.message
    assert res.sigma == 1e-4
    assert np.linalg.norm(res.x - p.x_star) <= 1e-4
    sig = res.trace["sigma"]
    k = np.arange(len(sig))
    np.testing.assert_allclose(sig, np.maximum(1e-4, 1e-2 * 0.5 ** (k // 50)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sigma", [0.1, 0.01])
def test_many_lower_level_solutions(method, sigma):
    p = toys.many_solutions()
    res = solve(p, method, sigma=sigma, lr_x=0.5 if method == "penalty" else 0.1, maxiter=20000,
                tol=1e-9)
    assert res.success, res.message
    assert abs(res.x[0] - 1.0) <= 1e-6
    np.testing.assert_allclose(res.y, [1.0, 1.0], atol=1e-5)


def test_many_solutions_with_box_on_x():
    """psi(x) = (x - 1)^2 / 2 on X = [-1, 0.5]: the constrained minimizer is 0.5."""
    base = toys.many_solutions()
    p = BilevelProblem(base.f, base.g, grad_f=base.grad_f, grad_g=base.grad_g, x0=[-1.0],
                       y0=[0.0, 0.0], bounds_x=(-1.0, 0.5), lipschitz=(1.0, 1.0))
    res = solve(p, sigma=0.01, lr_x=0.5, maxiter=5000, tol=1e-9)
    assert res.success, res.message
    assert res.x[0] == 0.5


def test_vpbgd_toy_sigma_minimizers_match_the_spec_grid():
    np.testing.assert_allclose(toys.vpbgd_psi_minima(), [0.3824, 1.2152, 2.8296], atol=2e-4)
    np.testing.assert_allclose(toys.vpbgd_psi_minima(0.1), [0.367, 1.188, 2.8235], atol=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_vpbgd_toy_every_start_lands_on_a_sigma_minimizer(method):
    minima = toys.vpbgd_psi_minima(0.1)
    rng = np.random.default_rng(0)
    for _ in range(8):
        x0, y0 = np.clip(rng.uniform(0, 3.5), 0, 3), rng.uniform(-5, 8.5)
        res = solve(toys.vpbgd_toy(x0, y0), method, sigma=0.1, lr_x=0.01, lr_y=0.1, lr_z=0.1,
                    maxiter=5000, tol=1e-5)
        assert res.success, res.message
        assert np.min(np.abs(minima - res.x[0])) <= 0.01, res.x


def test_vpbgd_toy_global_minimum_from_documented_start():
    """From x0 = 1, y0 = 0 the run reaches the global minimizer of psi (1.2152) as sigma -> 0."""
    res = solve(toys.vpbgd_toy(1.0, 0.0), sigma=0.01, lr_x=0.005, lr_y=0.1, lr_z=0.1,
                maxiter=20000, tol=1e-6)
    assert res.success, res.message
    assert abs(res.x[0] - toys.vpbgd_psi_minima(0.01)[1]) <= 1e-3
    assert abs(res.x[0] - 1.2152) <= 5e-3
    assert abs(res.psi - 0.19991) <= 1e-4


@pytest.mark.parametrize("T", [1, 7])
def test_counts_exact_double_loop(T):
    base = toys.quadratic()
    p = BilevelProblem(base.f, base.g, grad_f=base.grad_f, grad_g=base.grad_g, x0=np.ones(5),
                       y0=np.ones(10), lipschitz=base.lipschitz)
    res = solve(p, sigma=0.1, lr_x=0.1, inner_steps=T, inner_tol=0.0, maxiter=6, tol=0.0)
    n = res.nit + 1  # inner loops also run at x0
    assert res.nit == 6 and res.status == 1
    assert res.n_outer_grad == res.n_outer_value == (T + 1) * n
    assert res.n_inner_grad == res.n_inner_value == (2 * T + 2) * n
    assert res.njev == res.n_outer_grad + res.n_inner_grad
    assert res.trace["n_outer_grad"][-1] == res.n_outer_grad


def test_counts_exact_single_loop_full_batch():
    res = solve(toys.quadratic(), "penalty-sl", sigma=0.1, lr_x=0.01, maxiter=9, tol=0.0)
    assert res.n_outer_grad == 10 and res.n_inner_grad == 20


def finite_sum_bilevel(rng=0):
    """``toys.finite_sum`` and the minimizer of psi_sigma, from its closed form.

    y* = Cx + e (means), y_sigma = (Cx + e + sigma t) / (1 + sigma), and
    x_sigma = (C'C / (1 + sigma) + rho I)^-1 C'(t - e) / (1 + sigma).
    """
    p = toys.finite_sum(rng=rng)
    Cm, em, tm = (p.data[k].mean(0) for k in ("C", "e", "t"))
    rho = p.data["rho"]

    def x_sigma(sigma):
        return np.linalg.solve(Cm.T @ Cm / (1 + sigma) + rho * np.eye(2), Cm.T @ (tm - em) / (1 + sigma))

    return p, x_sigma


@pytest.mark.parametrize("estimator", ["storm", "ema"])
def test_stochastic_single_loop_counts_seed_and_budget(estimator):
    p, _ = finite_sum_bilevel()
    kw = dict(sigma=0.1, lr_x=0.05, lr_y=0.1, lr_z=0.1, batch_size=(8, 5), maxiter=30,
              estimator=estimator)
    a = solve(p, "penalty-sl", rng=3, **kw)
    b = solve(p, "penalty-sl", rng=np.random.default_rng(3), **kw)
    c = solve(p, "penalty-sl", rng=4, **kw)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    # no stopping test with mini-batches: the spent budget is a failure (status 1)
    assert a.status == 1 and not a.success and a.nit == 30
    per = 2 if estimator == "storm" else 1  # STORM also evaluates the old point
    assert a.n_outer_grad == 1 + per * 30
    assert a.n_inner_grad == 2 * (1 + per * 30)
    assert a.nfev == a.n_outer_value + a.n_inner_value
    assert a.trace["n_samples"][-1] == 8 * a.n_outer_grad + 5 * a.n_inner_grad


def test_stochastic_double_loop_counts_and_closed_form():
    p, x_sigma = finite_sum_bilevel()
    full = solve(p, sigma=0.1, lr_x=0.1, maxiter=3000, tol=1e-9)
    assert full.success, full.message
    np.testing.assert_allclose(full.x, x_sigma(0.1), atol=1e-7)
    res = solve(p, sigma=0.1, lr_x=0.02, lr_y=0.5, lr_z=0.5, batch_size=20, inner_steps=5,
                maxiter=400, rng=0)
    assert res.n_outer_grad == 6 * 401 and res.n_inner_grad == 12 * 401
    assert res.n_samples == 20 * (res.n_outer_grad + res.n_inner_grad)
    assert np.linalg.norm(res.x - x_sigma(0.1)) < 0.3 * np.linalg.norm(x_sigma(0.1))


def test_callback_stop_iteration_and_intermediate_result():
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result)
        if intermediate_result.nit == 3:
            raise StopIteration

    res = solve(toys.quadratic(), sigma=0.1, lr_x=0.1, callback=cb)
    assert res.status == 99 and not res.success and res.nit == 3
    assert {"x", "y", "z", "sigma", "psi_sigma", "n_outer_grad"} <= set(seen[-1])
    legacy = []
    solve(toys.quadratic(), sigma=0.1, lr_x=0.1, maxiter=2, callback=legacy.append)
    assert len(legacy) == 2 and legacy[0].shape == (5,)


def test_backtracking_without_lipschitz():
    p = toys.quadratic()
    q = BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=p.x0, y0=p.y0)
    res = solve(q, sigma=1e-2, lr_x=0.25, maxiter=5000, tol=1e-8)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, closed_forms(p, 1e-2)[4], atol=1e-6)


def test_inner_divergence_is_reported():
    res = solve(toys.quadratic(), sigma=0.1, lr_y=0.5, lr_x=0.1)
    assert res.status == 4 and not res.success
    assert "inner loop in y diverged" in res.message and "lr_y" in res.message


def test_trace_fields_and_gap_nonnegative():
    res = solve(toys.quadratic(), sigma=0.1, lr_x=0.25, maxiter=50)
    for key in ("sigma", "norm_d", "pg_norm", "inner_map_y", "inner_map_z", "gap", "fun", "psi",
                "n_outer_grad", "n_inner_grad", "time"):
        assert key in res.trace.keys()
    assert np.all(res.trace["gap"] >= -1e-8)
    assert res.psi_sigma == pytest.approx(res.fun + res.trace["gap"][-1] / 0.1)


@pytest.mark.slow
def test_vpbgd_toy_landing_fractions_over_100_starts():
    """Spec §5.3 protocol: every run ends within 0.01 of a sigma-minimizer; fractions reported."""
    minima = toys.vpbgd_psi_minima(0.1)
    rng = np.random.default_rng(0)
    landed = []
    for _ in range(100):
        x0, y0 = np.clip(rng.uniform(0, 3.5), 0, 3), rng.uniform(-5, 8.5)
        res = solve(toys.vpbgd_toy(x0, y0), sigma=0.1, lr_x=0.01, lr_y=0.1, lr_z=0.1,
                    maxiter=2000, tol=1e-5)
        dist = np.abs(minima - res.x[0])
        assert res.success and dist.min() <= 0.01, (x0, y0, res.x)
        landed.append(int(np.argmin(dist)))
    fractions = np.bincount(landed, minlength=3) / 100
    print("landing fractions at", minima, ":", fractions)
