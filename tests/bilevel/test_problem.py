"""Oracles (finite differences, numpy vs torch adapters) and bad input of the bilevel API."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optkit.bilevel import BilevelProblem, Level, solve, toys


def central_fd(fun, x, y, h=1e-6):
    gx = np.array([(fun(x + h * e, y) - fun(x - h * e, y)) / (2 * h) for e in np.eye(x.size)])
    gy = np.array([(fun(x, y + h * e) - fun(x, y - h * e)) / (2 * h) for e in np.eye(y.size)])
    return gx, gy


def check_level(level, x, y, rtol=1e-5, atol=1e-6):
    _, (gx, gy) = level.value_and_grad((x, y))
    fx, fy = central_fd(lambda a, b: level.value((a, b)), x, y)
    np.testing.assert_allclose(gx, fx, rtol=rtol, atol=atol)
    np.testing.assert_allclose(gy, fy, rtol=rtol, atol=atol)


def check_hvp(level, x, y, v, h=1e-6):
    """(d/dx <grad_y, v>, d/dy <grad_y, v>) against differences of the gradients."""
    hx, hy = level.hvp((x, y), v)

    def inner(a, b):
        return level.value_and_grad((a, b))[1][1] @ v

    fx, fy = central_fd(inner, x, y, h)
    np.testing.assert_allclose(hx, fx, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hy, fy, rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2 ** 31 - 1))
def test_quadratic_and_many_solutions_oracles(seed):
    rng = np.random.default_rng(seed)
    p = toys.quadratic()
    x, y, v = rng.standard_normal(5), rng.standard_normal(10), rng.standard_normal(10)
    check_level(p.outer, x, y)
    check_level(p.inner, x, y)
    check_hvp(p.inner, x, y, v)
    q = toys.many_solutions()
    x, y, v = rng.standard_normal(1), rng.standard_normal(2), rng.standard_normal(2)
    check_level(q.outer, x, y)
    check_level(q.inner, x, y)
    check_hvp(q.inner, x, y, v)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 3.0), st.floats(-5.0, 8.5), st.floats(-1, 1))
def test_vpbgd_toy_oracles(x, y, v):
    p = toys.vpbgd_toy()
    x, y, v = np.array([x]), np.array([y]), np.array([v])
    check_level(p.outer, x, y, rtol=1e-5, atol=1e-5)
    check_level(p.inner, x, y, rtol=1e-5, atol=1e-5)
    check_hvp(p.inner, x, y, v, h=1e-5)


def test_hyper_cleaning_oracles_on_a_batch():
    """Directional finite differences of values, gradients and second derivatives."""
    p = toys.hyper_cleaning(n_train=60, n_val=60)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(60), 0.1 * rng.standard_normal(650)
    batch = np.arange(0, 60, 3)
    h = 1e-6
    for _ in range(3):
        u, v = rng.standard_normal(60), rng.standard_normal(650)
        for level in (p.outer, p.inner):
            _, (gx, gy) = level.value_and_grad((x, y), batch)
            fd_x = (level.value((x + h * u, y), batch) - level.value((x - h * u, y), batch)) / (2 * h)
            fd_y = (level.value((x, y + h * v), batch) - level.value((x, y - h * v), batch)) / (2 * h)
            assert gx @ u == pytest.approx(fd_x, rel=1e-5, abs=1e-8)
            assert gy @ v == pytest.approx(fd_y, rel=1e-5, abs=1e-8)
        hx, hy = p.inner.hvp((x, y), v, batch)

        def grad_y(a, b):
            return p.inner.value_and_grad((a, b), batch)[1][1]

        np.testing.assert_allclose(hy, (grad_y(x, y + h * v) - grad_y(x, y - h * v)) / (2 * h),
                                   rtol=1e-5, atol=1e-7)
        fd_hx = (grad_y(x + h * u, y) - grad_y(x - h * u, y)) @ v / (2 * h)
        assert hx @ u == pytest.approx(fd_hx, rel=1e-5, abs=1e-8)


def torch_quadratic(p):
    A, B, yt, rho = (torch.as_tensor(p.data[k], dtype=torch.float64)
                     for k in ("A", "B", "y_t", "rho"))

    def f(x, y):
        return 0.5 * torch.sum((y - yt) ** 2) + 0.5 * rho * torch.sum(x ** 2)

    def g(x, y):
        return 0.5 * y @ A @ y - y @ B @ x

    return f, g


def test_torch_autograd_adapter_matches_numpy():
    p = toys.quadratic()
    f, g = torch_quadratic(p)
    rng = np.random.default_rng(0)
    x, y, v = rng.standard_normal(5), rng.standard_normal(10), rng.standard_normal(10)
    q = BilevelProblem(f, g, x0=p.x0, y0=p.y0)
    for a, b in ((p.outer, q.outer), (p.inner, q.inner)):
        va, (gxa, gya) = a.value_and_grad((x, y))
        vb, (gxb, gyb) = b.value_and_grad((x, y))
        assert va == pytest.approx(vb, rel=1e-12)
        np.testing.assert_allclose(gxa, gxb, atol=1e-12)
        np.testing.assert_allclose(gya, gyb, atol=1e-12)
    for ha, hb in zip(p.inner.hvp((x, y), v), q.inner.hvp((x, y), v)):
        np.testing.assert_allclose(ha, hb, atol=1e-12)
    kw = dict(sigma=0.01, lr_x=0.25, maxiter=10, inner_steps=5)
    r_np = solve(p, **kw)
    r_torch = solve(q, **kw)
    r_tensor = solve(BilevelProblem(f, g, x0=torch.zeros(5, dtype=torch.float64),
                                    y0=torch.zeros(10, dtype=torch.float64), lipschitz=(1.0, 10.0)),
                     **kw)
    np.testing.assert_allclose(r_np.x, r_tensor.x, atol=1e-12)
    # dtype and array type in = out: tensors come back as tensors
    assert isinstance(r_tensor.x, torch.Tensor) and isinstance(r_tensor.y, torch.Tensor)
    assert r_tensor.x.dtype == torch.float64
    # without lipschitz the numpy-through-torch problem backtracks: other inner steps
    assert np.linalg.norm(r_torch.x - r_np.x) < 0.05 * np.linalg.norm(r_np.x)


def test_level_object_and_fused_gradient():
    p = toys.quadratic()
    A, B, yt, rho = (p.data[k] for k in ("A", "B", "y_t", "rho"))
    inner = Level(lambda x, y: 0.5 * y @ A @ y - y @ B @ x, name="g",
                  value_and_grad=lambda x, y: (0.5 * y @ A @ y - y @ B @ x,
                                               (-B.T @ y, A @ y - B @ x)))
    q = BilevelProblem(p.f, inner, grad_f=p.grad_f, x0=p.x0, y0=p.y0, lipschitz=p.lipschitz)
    kw = dict(sigma=0.1, lr_x=0.25, maxiter=20)
    np.testing.assert_array_equal(solve(q, **kw).x, solve(p, **kw).x)


def test_inputs_not_mutated():
    p = toys.quadratic()
    x0 = np.ones(5)
    y0 = np.ones(10)
    q = BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=x0, y0=y0, lipschitz=(1, 10))
    solve(q, sigma=0.1, lr_x=0.1, maxiter=5)
    solve(q, "penalty-sl", sigma=0.1, lr_x=0.01, maxiter=5)
    np.testing.assert_array_equal(x0, 1.0)
    np.testing.assert_array_equal(y0, 1.0)


def quad():
    return toys.quadratic()


@pytest.mark.parametrize("kwargs, match", [
    (dict(sigma=0.0), "sigma"),
    (dict(sigma=-1.0), "sigma"),
    (dict(lr_x=0.0), "lr_x"),
    (dict(lr_y=-0.1), "lr_y"),
    (dict(inner_steps=0), "inner_steps"),
    (dict(method="newton"), "method"),
    (dict(method="penalty-sl", estimator="adam"), "estimator"),
    (dict(method="penalty-sl", momentum=0.0), "momentum"),
    (dict(method="penalty-sl", momentum=1.5), "momentum"),
    (dict(sigma_schedule="geometric"), "sigma_min"),
    (dict(sigma_schedule="cosine"), "sigma_schedule"),
    (dict(batch_size=4), "n_samples"),
])
def test_bad_solver_arguments(kwargs, match):
    method = kwargs.pop("method", "penalty")
    with pytest.raises((ValueError, TypeError), match=match):
        solve(quad(), method, **kwargs)


def test_stochastic_needs_steps_and_sizes():
    from tests.bilevel.test_penalty import finite_sum_bilevel

    p, _ = finite_sum_bilevel()
    with pytest.raises(ValueError, match="lr_y, lr_z"):
        solve(p, batch_size=5, lr_x=0.1)
    with pytest.raises(ValueError, match="exceeds n_samples"):
        solve(p, batch_size=500, lr_x=0.1, lr_y=0.1, lr_z=0.1)
    with pytest.raises(ValueError, match="inner_tol"):
        solve(p, batch_size=5, lr_x=0.1, lr_y=0.1, lr_z=0.1, inner_tol=1e-3)


def test_penalty_sl_needs_steps_without_lipschitz():
    p = toys.quadratic()
    q = BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=p.x0, y0=p.y0)
    with pytest.raises(ValueError, match="lr_y and lr_z"):
        solve(q, "penalty-sl")


def test_bad_problem_arguments():
    p = toys.quadratic()
    kw = dict(grad_f=p.grad_f, grad_g=p.grad_g)
    with pytest.raises(ValueError, match="x0"):
        BilevelProblem(p.f, p.g, x0=np.zeros((2, 2)), y0=np.zeros(10), **kw)
    with pytest.raises(ValueError, match="x0"):
        BilevelProblem(p.f, p.g, x0=[np.nan] * 5, y0=np.zeros(10), **kw)
    with pytest.raises(TypeError, match="x0 and y0"):
        BilevelProblem(p.f, p.g, y0=np.zeros(10), **kw)
    with pytest.raises(ValueError, match="z0"):
        BilevelProblem(p.f, p.g, x0=np.zeros(5), y0=np.zeros(10), z0=np.zeros(3), **kw)
    with pytest.raises(TypeError, match="grad_f"):
        BilevelProblem(p.f, p.g, grad_f=(1, 2), x0=np.zeros(5), y0=np.zeros(10))
    with pytest.raises(ValueError, match="L_g"):
        BilevelProblem(p.f, p.g, x0=np.zeros(5), y0=np.zeros(10), lipschitz=(1.0, 0.0), **kw)
    with pytest.raises(TypeError, match="proj_x or bounds_x"):
        BilevelProblem(p.f, p.g, x0=np.zeros(5), y0=np.zeros(10), proj_x=abs,
                       bounds_x=(0, 1), **kw)
    with pytest.raises(TypeError, match="f must be callable"):
        BilevelProblem(3.0, p.g, x0=np.zeros(5), y0=np.zeros(10), **kw)
    with pytest.raises(TypeError, match="BilevelProblem"):
        solve("problem")


def test_shape_mismatch_with_oracles_raises():
    p = toys.quadratic()
    # x0 of the wrong size: the oracles' matrices do not fit it
    q = BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=np.zeros(4), y0=np.zeros(10))
    with pytest.raises(ValueError):
        solve(q, sigma=0.1)
    bad = BilevelProblem(p.f, p.g, grad_f=(lambda x, y: np.zeros(3), p.grad_f[1]),
                         grad_g=p.grad_g, x0=np.zeros(5), y0=np.zeros(10), lipschitz=(1, 10))
    with pytest.raises(ValueError, match=r"grad_f\[0\]"):
        solve(bad, sigma=0.1)


def test_nan_oracle_reports_nonfinite():
    p = toys.quadratic()
    calls = {"n": 0}

    def f(x, y):
        calls["n"] += 1
        return np.nan if calls["n"] > 50 else p.f(x, y)

    q = BilevelProblem(f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=p.x0, y0=p.y0,
                       lipschitz=p.lipschitz)
    res = solve(q, sigma=0.1, lr_x=0.1, inner_tol=0.0)
    assert res.status == 3 and not res.success and "non-finite" in res.message


def torch_many_solutions(device="cpu"):
    def f(x, y):
        return 0.5 * (x[0] - y[1]) ** 2 + 0.5 * (y[0] - 1.0) ** 2

    def g(x, y):
        return 0.5 * y[0] ** 2 - x[0] * y[0]

    kw = dict(dtype=torch.float64, device=device)
    return BilevelProblem(f, g, x0=torch.tensor([-1.0], **kw), y0=torch.zeros(2, **kw),
                          bounds_x=(-1.0, 0.5), lipschitz=(1.0, 1.0))


@pytest.mark.parametrize("method", ["penalty", "penalty-sl"])
def test_torch_tensors_with_box(method):
    """psi(x) = (x - 1)^2 / 2 on X = [-1, 0.5] (torch autograd, tensors, clamp projection)."""
    sigma = 0.5
    res = solve(torch_many_solutions(), method, sigma=sigma, lr_x=0.5, maxiter=150, tol=1e-8)
    assert res.x[0] == 0.5
    assert res.y[0] == pytest.approx((0.5 + sigma) / (1 + sigma), abs=1e-6)  # y_sigma


@pytest.mark.gpu
def test_cuda_tensors():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    p = torch_many_solutions("cuda")
    res = solve(p, sigma=0.5, lr_x=0.5, maxiter=150, tol=1e-8)
    assert res.x[0] == 0.5
    assert res.y[0] == pytest.approx(1.0 / 1.5, abs=1e-6)
    assert res.trace["n_grad"][-1] == res.njev
