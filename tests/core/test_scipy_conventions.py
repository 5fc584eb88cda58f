"""specs/api.md §6: scipy's and torch's conventions in ``optkit.minimize``, as contract tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as so
import torch

import optkit

D = np.array([1.0, 2.0, 5.0])


def quad(x):
    return 0.5 * float(D @ x**2)


def test_user_function_gets_a_copy_it_may_modify():
    def fun(x):
        value = quad(x)
        x[:] = 1e6  # scipy allows this: the solver's iterate must not change
        return value

    def jac(x):
        g = D * x
        x[:] = -1e6
        return g

    res = optkit.minimize(fun, np.ones(3), jac=jac, options={"maxiter": 500})
    ref = optkit.minimize(quad, np.ones(3), jac=lambda x: D * x, options={"maxiter": 500})
    assert res.success
    np.testing.assert_array_equal(res.x, ref.x)


def test_jac_none_means_counted_finite_differences():
    res = optkit.minimize(quad, np.ones(3), method="gd", options={"maxiter": 500})
    assert res.success and res.fun < 1e-9
    assert res.njev >= 1 and res.nfev >= res.njev * (3 + 1)  # '2-point': n + 1 values each
    ref = so.minimize(quad, np.ones(3), method="BFGS")
    np.testing.assert_allclose(res.x, ref.x, atol=1e-4)


def test_hess_and_hessp_together_warn_and_hess_wins():
    with pytest.warns(RuntimeWarning, match="hessp is ignored"):
        optkit.minimize(quad, np.ones(3), method="al-newton", jac=lambda x: D * x,
                        hess=lambda x: np.diag(D), hessp=lambda x, v: D * v,
                        constraints={"type": "eq", "fun": lambda x: np.array([x.sum() - 1.0])},
                        options={"rng": 0})


@pytest.mark.parametrize("kwargs, match", [
    ({"hess": lambda x: np.diag(D)}, "does not use Hessian"),
    ({"hessp": lambda x, v: D * v}, "does not use Hessian"),
    ({"bounds": [(0, 1)] * 3, "method": "lion"}, "cannot handle bounds"),
    ({"constraints": {"type": "eq", "fun": lambda x: x[0]}}, "cannot handle constraints"),
])
def test_arguments_a_method_does_not_use_warn_never_fail(kwargs, match):
    kwargs = {"jac": lambda x: D * x, **kwargs}
    with pytest.warns(RuntimeWarning, match=match):
        res = optkit.minimize(quad, np.ones(3), options={"maxiter": 5}, **kwargs)
    assert np.all(np.isfinite(res.x))


def test_jac_on_a_gradient_free_method_warns():
    with pytest.warns(RuntimeWarning, match="does not use gradient"):
        res = optkit.minimize(quad, np.ones(3), method="cbo", jac=lambda x: D * x,
                              options={"maxiter": 3, "rng": 0})
    assert res.nit == 3


def test_float_maxiter_and_tol_without_a_method_tolerance():
    res = optkit.minimize(quad, np.ones(3), jac=lambda x: D * x, options={"maxiter": 3.0})
    assert res.nit == 3
    with pytest.warns(RuntimeWarning, match="not an integer"):
        res = optkit.minimize(quad, np.ones(3), jac=lambda x: D * x, options={"maxiter": 2.5})
    assert res.nit == 3
    with pytest.warns(so.OptimizeWarning, match="takes no tol"):
        optkit.minimize(quad, np.ones(3), method="spsa", tol=1e-3,
                        options={"maxiter": 2, "rng": 0})


def test_method_names_are_case_insensitive_and_typos_get_a_suggestion():
    a = optkit.minimize(quad, np.ones(3), method="GD", jac=lambda x: D * x)
    b = optkit.minimize(quad, np.ones(3), method="gd", jac=lambda x: D * x)
    np.testing.assert_array_equal(a.x, b.x)
    assert optkit.get_method("AL_NEWTON").__name__ == "optkit_al_newton"
    with pytest.raises(ValueError, match="did you mean 'al-newton'"):
        optkit.minimize(quad, np.ones(3), method="al-netwon", jac=lambda x: D * x)
    with pytest.raises(TypeError, match="did you mean 'maxiter'"):
        optkit.minimize(quad, np.ones(3), jac=lambda x: D * x, options={"max_iter": 3})


def test_bounds_length_mismatch_is_a_sentence():
    with pytest.raises(ValueError, match=r"bounds\.lb must have 3 entries"):
        optkit.minimize(quad, np.ones(3), jac=lambda x: D * x,
                        bounds=so.Bounds([0, 0], [1, 1]))


@pytest.mark.parametrize("method", ["gd", "lion"])
def test_torch_function_gets_autograd_and_a_tensor_back(method):
    d = torch.tensor(D)

    def fun(x):
        return 0.5 * (d * x**2).sum()

    x0 = torch.ones(3, dtype=torch.float64)
    options = {"maxiter": 3000} if method == "gd" else {"maxiter": 3000, "lr": 1e-3}
    res = optkit.minimize(fun, x0, method=method, options=options)
    assert isinstance(res.x, torch.Tensor) and res.x.device == x0.device
    assert res.x.dtype == x0.dtype and res.fun < 1e-6
    assert res.njev >= 1 and torch.equal(x0, torch.ones(3, dtype=torch.float64))


def test_torch_function_hessian_vector_products_from_autograd():
    prob = optkit.Problem.from_torch(lambda x: (x**4).sum() + (x**2).sum(),
                                     torch.tensor([1.0, 0.5], dtype=torch.float64))
    hv = prob.objective.hvp(prob.x0, torch.tensor([1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(hv, torch.tensor([12.0 + 2.0, 0.0], dtype=torch.float64))


def test_run_hands_a_solver_its_max_time_deadline_on_every_run():
    """``core.run`` sets ``solver.deadline`` (perf_counter time at which max_time runs out)
    before ``init`` on every run, ``inf`` without max_time: a solver object run again keeps
    no stale deadline from the previous run."""
    import time
    from types import SimpleNamespace

    from optkit.core import run

    class Recorder:
        deadline = np.inf

        def __init__(self):
            self.seen = []

        def init(self, problem, x0, rng):
            self.seen.append(self.deadline)
            return SimpleNamespace(x=x0, fun=0.0, counts=dict)

        def step(self, problem, state):
            return state

        def terminate(self, problem, state):
            return True, 0, "done"

        def result(self, problem, state):
            return {}

    solver, start = Recorder(), time.perf_counter()
    run(solver, None, maxiter=1, x0=np.zeros(1), max_time=5.0)
    run(solver, None, maxiter=1, x0=np.zeros(1))
    assert start + 5.0 <= solver.seen[0] <= time.perf_counter() + 5.0
    assert solver.seen[1] == np.inf
