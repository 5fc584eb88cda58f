import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from optkit import Problem
from optkit.core import Counted, FunctionOracle, MissingOracleError, dask_map
from optkit.core.oracle import GradOracle, PopulationOracle, ValueOracle


def test_counted_counts_each_oracle_exactly():
    oracle = Counted(FunctionOracle(lambda x: float(x @ x), grad=lambda x: 2 * x,
                                    hvp=lambda x, v: 2 * v, n_samples=10))
    x = np.ones(3)
    oracle.value(x)
    oracle.grad(x)
    oracle.value_and_grad(x)
    oracle.hvp(x, x)
    oracle.value_batch(np.ones((4, 3)))
    assert oracle.snapshot() == {"n_value": 6, "n_grad": 2, "n_hvp": 1, "n_samples": 0}
    assert isinstance(oracle.oracle, GradOracle) and isinstance(oracle.oracle, PopulationOracle)


def test_minibatch_counts_samples():
    data = np.arange(10.0)
    oracle = Counted(FunctionOracle(lambda x, batch=None: float(np.sum((x - data[batch]) ** 2)),
                                    n_samples=10))
    batch = oracle.sample_batch(np.random.default_rng(0), 4)
    oracle.value(np.zeros(1), batch=batch)
    assert oracle.nsamples == 4 and oracle.nfev == 1


def test_missing_gradient_is_a_clear_error():
    oracle = FunctionOracle(lambda x: 0.0)
    assert isinstance(oracle, ValueOracle) and not oracle.has_grad
    with pytest.raises(MissingOracleError, match="jac"):
        oracle.value_and_grad(np.zeros(2))
    with pytest.raises(MissingOracleError, match="hess"):
        oracle.hvp(np.zeros(2), np.zeros(2))


def test_bad_outputs_raise_naming_the_argument():
    oracle = FunctionOracle(lambda x: x, grad=lambda x: np.ones(5))
    with pytest.raises(ValueError, match="fun must return a scalar"):
        oracle.value(np.zeros(2))
    with pytest.raises(ValueError, match=r"jac must have shape \(2,\)"):
        oracle.grad(np.zeros(2))
    with pytest.raises(TypeError, match="fun must be callable"):
        FunctionOracle(3.0)


def test_value_batch_through_a_map_and_vectorized():
    f = lambda x: float(np.sum(x**2))  # noqa: E731
    X = np.arange(6.0).reshape(3, 2)
    looped = FunctionOracle(f, workers=map).value_batch(X)
    vec = FunctionOracle(f, value_batch=lambda X: np.sum(X**2, axis=1)).value_batch(X)
    np.testing.assert_array_equal(looped, vec)
    with pytest.raises(ValueError, match="shape"):
        FunctionOracle(f, value_batch=lambda X: np.zeros(2)).value_batch(X)


def test_dask_map_keeps_order_and_does_not_merge_calls():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:
        rng_calls = dask_map(client)(lambda x: float(x[0]) + np.random.rand() * 0, [np.array([i]) for i in range(5)])
        assert list(rng_calls) == [0.0, 1.0, 2.0, 3.0, 4.0]
        draws = dask_map(client)(lambda x: np.random.rand(), [np.zeros(1)] * 3)
        assert len(set(draws)) == 3


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, 4, elements=st.floats(-3, 3)))
def test_finite_difference_gradients_match_analytic(x):
    p2 = Problem.from_scipy(so.rosen, x, jac="2-point")
    p3 = Problem.from_scipy(so.rosen, x, jac="3-point")
    ref = so.rosen_der(x)
    scale = 1 + np.abs(ref).max()
    np.testing.assert_allclose(p2.objective.grad(x), ref, atol=2e-5 * scale * (1 + np.abs(x).max() ** 2))
    np.testing.assert_allclose(p3.objective.grad(x), ref, atol=1e-7 * scale * (1 + np.abs(x).max() ** 2))


def test_from_scipy_conventions_and_counts():
    x0 = np.array([1.0, 2.0])
    calls = []

    def fun_and_grad(x, a):
        calls.append(1)
        return a * float(x @ x), 2 * a * x

    p = Problem.from_scipy(fun_and_grad, x0, args=(3.0,), jac=True, hess="2-point")
    c = Counted(p.objective)
    f, g = c.value_and_grad(x0)
    assert f == 15.0 and np.allclose(g, [6.0, 12.0]) and len(calls) == 1
    np.testing.assert_allclose(c.hvp(x0, np.array([1.0, 0.0])), [6.0, 0.0], atol=1e-5)
    assert c.snapshot()["n_grad"] == 3  # 1 + the two gradients of the finite-difference hvp
    fd = Counted(Problem.from_scipy(so.rosen, x0, jac="2-point").objective)
    fd.grad(x0)
    assert fd.nfev == 3 and fd.ngev == 1  # forward differences: n + 1 evaluations
    with pytest.raises(ValueError, match="jac must be"):
        Problem.from_scipy(so.rosen, x0, jac="5-point")
    with pytest.raises(ValueError, match="at most one"):
        Problem.from_scipy(so.rosen, x0, hess=so.rosen_hess, hessp=so.rosen_hess_prod)


def test_from_scipy_does_not_mutate_and_validates_x0():
    x0 = np.array([1.0, 2.0])
    p = Problem.from_scipy(so.rosen, x0)
    p.x0[0] = 5.0
    assert x0[0] == 1.0
    for bad, err in ((np.array([np.nan]), ValueError), (np.zeros((2, 2)), ValueError),
                     (np.array([1 + 2j]), TypeError), ("abc", TypeError), (np.zeros(0), ValueError)):
        with pytest.raises(err, match="x0"):
            Problem.from_scipy(so.rosen, bad)
    assert Problem.from_scipy(so.rosen, [1, 2]).x0.dtype == np.float64
    assert Problem.from_scipy(so.rosen, np.ones(2, np.float32)).x0.dtype == np.float32


def test_from_torch_gradients_and_hvp_match_closed_form():
    torch = pytest.importorskip("torch")
    A = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    p = Problem.from_torch(lambda x: 0.5 * x @ A @ x + x.sum(), torch.tensor([1.0, -1.0], dtype=torch.float64))
    f, g = p.objective.value_and_grad(p.x0)
    torch.testing.assert_close(g, A @ p.x0 + 1)
    torch.testing.assert_close(p.objective.hvp(p.x0, torch.tensor([1.0, 0.0], dtype=torch.float64)), A[:, 0])
    assert float(f) == pytest.approx(0.5 * float(p.x0 @ A @ p.x0))


def test_from_closure_matches_autograd():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    X, y = torch.randn(8, 3), torch.randn(8, 1)

    def closure():
        model.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), y)
        loss.backward()
        return loss

    p = Problem.from_closure(closure, model.parameters())
    x = p.x0 + 0.1
    f, g = p.objective.value_and_grad(x)
    w, b = x[:3].reshape(1, 3), x[3:]
    ref = torch.nn.functional.mse_loss(X @ w.T + b, y)
    assert float(f) == pytest.approx(float(ref))
    assert g.shape == x.shape
