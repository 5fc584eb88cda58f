"""``solve`` on the core loop: reusable solvers, one option table per method, budgets, counts."""

import numpy as np
import pytest

from optkit.bilevel import BilevelProblem, BilevelResult, solve, toys
from optkit.bilevel.aid import AID
from optkit.bilevel.base import RunView
from optkit.bilevel.penalty import Penalty
from optkit.bilevel.penalty_sl import PenaltySL
from optkit.core import STATUS, run

from .test_penalty import finite_sum_bilevel


def no_lipschitz_quadratic():
    p = toys.quadratic()
    return BilevelProblem(p.f, p.g, grad_f=p.grad_f, grad_g=p.grad_g, x0=p.x0, y0=p.y0)


PENALTY = dict(sigma=0.01, sigma_schedule="constant", sigma_min=None, sigma_every=100, lr_x=0.25,
               lr_y=None, lr_z=None, inner_tol=None, tol=1e-6)


@pytest.mark.parametrize("make, problem, rng", [
    # backtracking: the accepted inner steps are run state (they used to live on the solver)
    (lambda: Penalty(inner_steps=20, batch_size=(None, None), **PENALTY), no_lipschitz_quadratic,
     None),
    (lambda: PenaltySL(estimator="storm", momentum=0.5, batch_size=(8, 5),
                       **{**PENALTY, "lr_x": 0.05, "lr_y": 0.1, "lr_z": 0.1, "sigma": 0.1}),
     lambda: finite_sum_bilevel()[0], 3),
    (lambda: AID(cg_steps=10, cg_tol=1e-10, lr_x=0.25, lr_y=0.1, lr_inner=0.1, inner_steps=5,
                 tol=1e-9), toys.quadratic, None),
])
def test_one_solver_instance_drives_two_runs_identically(make, problem, rng):
    solver = make()
    p = problem()
    runs = [run(solver, RunView(p), maxiter=40, rng=np.random.default_rng(rng)) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].x, runs[1].x)
    assert runs[0].nfev == runs[1].nfev and runs[0].nit == runs[1].nit
    fresh = run(make(), RunView(p), maxiter=40, rng=np.random.default_rng(rng))
    np.testing.assert_array_equal(runs[1].x, fresh.x)


def test_two_interleaved_runs_of_one_solver_match_separate_runs():
    """Backtracking steps of one run do not leak into another run of the same instance."""
    solver = Penalty(inner_steps=20, batch_size=(None, None), **PENALTY)
    ms = toys.many_solutions()
    problems = [no_lipschitz_quadratic(),
                BilevelProblem(ms.f, ms.g, grad_f=ms.grad_f, grad_g=ms.grad_g, x0=ms.x0, y0=ms.y0)]
    views = [RunView(q) for q in problems]
    states = [solver.init(v, v.x0, None) for v in views]
    for _ in range(10):
        states = [solver.step(v, s) for v, s in zip(views, states)]
    for q, s in zip(problems, states):
        alone = run(solver, RunView(q), maxiter=10)
        np.testing.assert_array_equal(s.x, alone.x)


def test_solver_holds_configuration_only():
    solver = Penalty(inner_steps=20, batch_size=(None, None), **PENALTY)
    before = dict(vars(solver))
    run(solver, RunView(no_lipschitz_quadratic()), maxiter=5, rng=np.random.default_rng(0))
    assert vars(solver) == before


@pytest.mark.parametrize("method, option, value", [
    ("penalty", "momentum", 0.5),
    ("penalty", "estimator", "ema"),
    ("penalty-sl", "inner_steps", 5),
    ("penalty", "cg_steps", 5),
    ("aid", "sigma", 0.1),
    ("bome", "gamma", 10.0),
    ("vpbgd", "eta", 0.5),
    ("penalty", "sigma_every", 10),  # only with sigma_schedule="geometric"
    ("penalty", "sigma_min", 1e-3),
])
def test_option_that_does_not_apply_raises_naming_it(method, option, value):
    with pytest.raises(ValueError, match=option):
        solve(toys.quadratic(), method, **{option: value}, maxiter=2)


def test_unknown_option_is_a_type_error_with_a_suggestion():
    with pytest.raises(TypeError, match="did you mean 'maxiter'"):
        solve(toys.quadratic(), "penalty", max_iter=3)
    with pytest.raises(TypeError, match="seed"):
        solve(toys.quadratic(), "penalty", seed=0)


def test_rng_only_with_mini_batches():
    for method in ("penalty", "aid", "bome", "vpbgd"):
        with pytest.raises(TypeError, match="rng"):
            solve(toys.quadratic(), method, rng=0, maxiter=2)
    p, _ = finite_sum_bilevel()
    with pytest.raises(ValueError, match="tol"):
        solve(p, sigma=0.1, lr_x=0.1, lr_y=0.1, lr_z=0.1, batch_size=5, tol=1e-3, rng=0)


@pytest.mark.parametrize("method", ["penalty", "penalty-sl"])
def test_spent_stochastic_budget_is_a_failure(method):
    p, _ = finite_sum_bilevel()
    res = solve(p, method, sigma=0.1, lr_x=0.05, lr_y=0.1, lr_z=0.1, batch_size=5, maxiter=10,
                rng=0)
    assert res.status == STATUS["maxiter"] and res.success is False and res.nit == 10


@pytest.mark.parametrize("method", ["penalty", "penalty-sl", "aid", "bome", "vpbgd"])
def test_maxfev_and_counts(method):
    p = toys.quadratic()
    full = solve(p, method, maxiter=30, tol=0.0)
    assert isinstance(full, BilevelResult)
    assert full.nfev == full.n_outer_value + full.n_inner_value
    assert full.njev == full.n_outer_grad + full.n_inner_grad
    assert full.nhev == full.n_inner_hvp and (full.nhev > 0) == (method == "aid")
    res = solve(p, method, maxiter=30, tol=0.0, maxfev=full.nfev // 2)
    assert res.status == STATUS["maxfev"] and not res.success
    assert full.nfev // 2 <= res.nfev < full.nfev


def test_max_time_status():
    res = solve(toys.quadratic(), "penalty", max_time=1e-9, maxiter=100)
    assert res.status == STATUS["max_time"] and not res.success
