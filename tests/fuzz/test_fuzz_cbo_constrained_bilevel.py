"""Fuzzing ``optkit.cbo.CBO`` (through ``optkit.core.run``), ``optkit.constrained.al_newton``,
the sketch solvers ``sketch.solve`` / ``sketch.lstsq``, and ``optkit.bilevel.solve``
(issue 16, item 1). One argument is fuzzed at a time, the others stay valid."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optkit.bilevel import solve as bilevel_solve
from optkit.bilevel import toys
from optkit.cbo import CBO
from optkit.constrained import al_newton, sketch
from optkit.constrained.hs import BY_NAME
from optkit.core import Problem, run
from optkit.core.rng import check_rng

from ._inputs import budgets, numeric_arrays, outcome, scalars, sizes, wrong_values

pytestmark = pytest.mark.timeout(180)

CENTER = np.array([0.5, -0.25, 1.0])
CBO_OPTIONS = ["n_particles", "n_runs", "sigma", "lam", "dt", "alpha", "xtol", "spread",
               "variant"]


def _sphere(X):
    return np.sum((np.asarray(X) - CENTER) ** 2, axis=-1)


def _cbo(x0=None, fun=_sphere, **options):
    problem = Problem.from_scipy(fun, np.zeros(3) if x0 is None else x0).counted()
    return run(CBO(vectorized=True, n_particles=20, **options), problem, maxiter=80,
               rng=check_rng(0), method="cbo")


@given(x0=numeric_arrays((3,)))
def test_cbo_start_point(x0):
    outcome("cbo.x0", lambda: _cbo(x0=x0), ["x0"])


@given(data=st.data())
def test_cbo_options(data):
    option = data.draw(st.sampled_from(CBO_OPTIONS), label="option")
    strategy = {"variant": wrong_values(), "n_particles": sizes(), "n_runs": sizes()}
    value = data.draw(strategy.get(option, scalars()), label=option)
    outcome(f"cbo.{option}", lambda: _cbo(**{option: value}), [option])


@given(bad=st.sampled_from([np.nan, np.inf, -np.inf]), threshold=st.floats(-2.0, 2.0),
       scale=st.sampled_from([1e-300, 1e-8, 1.0, 1e8, 1e300]))
def test_cbo_objective_non_finite_on_part_of_the_domain(bad, threshold, scale):
    def fun(X):
        X = np.asarray(X)
        return np.where(X[..., 0] > threshold, bad, scale * _sphere(X))

    outcome("cbo.fun", lambda: _cbo(fun=fun), ["fun"])


A_SYS = np.random.default_rng(7).standard_normal((12, 4))
B_SYS = A_SYS @ np.ones(4)


@pytest.mark.parametrize("entry", ["solve", "lstsq"])
@given(data=st.data())
def test_sketch_solvers(entry, data):
    arg = data.draw(st.sampled_from(["A", "b", "tol", "maxiter", "block_size", "sketch", "x0"]),
                    label="arg")
    strategy = {"A": numeric_arrays(A_SYS.shape, torch_too=False),
                "b": numeric_arrays(B_SYS.shape, torch_too=False),
                "x0": numeric_arrays((4,), torch_too=False),
                "sketch": wrong_values(), "maxiter": budgets()}.get(arg, scalars())
    kw = dict(A=A_SYS, b=B_SYS, maxiter=300, rng=0, sketch="block-gaussian", block_size=3)
    kw[arg] = data.draw(strategy, label=arg)
    solver = getattr(sketch, entry)
    outcome(f"sketch.{entry}.{arg}", lambda: solver(kw.pop("A"), kw.pop("b"), **kw), [arg])


@given(data=st.data())
def test_al_newton(data):
    arg = data.draw(st.sampled_from(["tol", "maxiter", "kappa", "theta", "block_size", "sketch",
                                     "lam0", "x0"]), label="arg")
    kw = dict(maxiter=40, rng=0)
    if arg == "x0":
        scipy_kw = BY_NAME["HS7"].scipy_kwargs()
        scipy_kw["x0"] = data.draw(numeric_arrays(scipy_kw["x0"].shape, torch_too=False,
                                                  keep_shape=True),
                                   label="x0")
        call = lambda: al_newton(Problem.from_scipy(**scipy_kw), **kw)  # noqa: E731
    else:
        problem = BY_NAME["HS7"].problem()
        strategy = {"lam0": numeric_arrays((1,), torch_too=False), "sketch": wrong_values(),
                    "maxiter": budgets()}.get(arg, scalars())
        kw[arg] = data.draw(strategy, label=arg)
        call = lambda: al_newton(problem, **kw)  # noqa: E731
    outcome(f"al_newton.{arg}", call, [arg])


BILEVEL = {"penalty": dict(sigma=0.1, lr_x=0.5), "aid": dict(lr_x=0.5),
           "vpbgd": dict(gamma=10.0, lr_x=0.3), "bome": {}, "penalty-sl": dict(sigma=0.1)}


@pytest.mark.parametrize("method", list(BILEVEL))
@given(data=st.data())
def test_bilevel(method, data):
    arg = data.draw(st.sampled_from(["maxiter", "tol", "lr_x", "x0"]), label="arg")
    problem = toys.quadratic() if method != "bome" else toys.many_solutions()
    kw = {**BILEVEL[method], "maxiter": 60}
    if arg == "x0":
        x0 = data.draw(numeric_arrays(np.shape(problem.x0), torch_too=False, keep_shape=True),
                       label="x0")
        call = lambda: bilevel_solve(replace(problem, x0=x0), method, **kw)  # noqa: E731
    else:
        kw[arg] = data.draw(budgets() if arg == "maxiter" else scalars(), label=arg)
        call = lambda: bilevel_solve(problem, method, **kw)  # noqa: E731
    outcome(f"bilevel[{method}].{arg}", call, [arg])
