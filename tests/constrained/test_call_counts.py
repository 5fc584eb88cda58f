"""Oracle calls of al-newton's robust configuration (issue 17, wall-time guard): the screened
line search, the feasibility restoration's first evaluation and the first evaluation under
scaling, each against an independent oracle (the unscreened line search, scipy's
``least_squares`` with the same tolerances, the user's own call log)."""

import sys
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.optimize import Bounds, NonlinearConstraint, least_squares

import optkit
from optkit.constrained._box import RESTORATION_PUSH, BoxProblem
from optkit.constrained.al_newton import RESTORATION_MAXFEV, RESTORATION_TARGET, ALNewton
from optkit.core.problem import Problem


class CallLog:
    """A callable that records the points it is called at (copies)."""

    def __init__(self, fn):
        self.fn, self.points = fn, []

    def __call__(self, x, *args):
        self.points.append(np.array(x, dtype=float))
        return self.fn(x, *args)


def _maratos_run(theta, value_and_grad):
    """Nocedal and Wright's Example 15.4 (x* = (1, 0)) from (cos theta, sin theta), with the
    gradient as its own callable or (``value_and_grad``) returned with the value
    (``jac=True``, where a value costs a gradient and the screen is off)."""
    c, cjac = CallLog(lambda x: np.array([x @ x - 1.0])), CallLog(lambda x: 2.0 * x.reshape(1, 2))
    con = NonlinearConstraint(c, 0.0, 0.0, jac=cjac, hess=lambda x, v: 2.0 * v[0] * np.eye(2))

    def fun(x):
        return 2.0 * (x @ x - 1.0) - x[0]

    def grad(x):
        return np.array([4.0 * x[0] - 1.0, 4.0 * x[1]])

    x0 = np.array([np.cos(theta), np.sin(theta)])
    kw = dict(method="al-newton", hess=lambda x: 4.0 * np.eye(2), constraints=[con],
              options={"tol": 1e-10, "rng": 0})
    if value_and_grad:
        res = optkit.minimize(lambda x: (fun(x), grad(x)), x0, jac=True, **kw)
    else:
        res = optkit.minimize(fun, x0, jac=grad, **kw)
    return res, c, cjac


@pytest.mark.parametrize("theta", [1.5, 3.0])
def test_screened_trials_keep_the_iterates_and_save_the_jacobians(theta):
    """Far from x* the merit rejects most trials; the screen f + lam^T c + mu/2 ||c||^2
    (a lower bound on the merit) rejects them without the gradient and Jacobian. Oracle:
    the same run with the screen off (jac=True): the iterates are bit-for-bit the same,
    the constraint values are called as often, and exactly ``n_screened_trials`` Jacobian
    calls fewer are made."""
    screened, c_s, J_s = _maratos_run(theta, value_and_grad=False)
    plain, c_p, J_p = _maratos_run(theta, value_and_grad=True)
    for res in (screened, plain):
        assert res.success, res.message
        np.testing.assert_allclose(res.x, [1.0, 0.0], atol=1e-9)
    assert plain.n_screened_trials == 0 and screened.n_screened_trials > 0
    np.testing.assert_array_equal(screened.x, plain.x)
    assert screened.nit == plain.nit
    np.testing.assert_array_equal(screened.trace["alpha"], plain.trace["alpha"])
    assert len(c_s.points) == len(c_p.points)
    assert len(J_s.points) == len(J_p.points) - screened.n_screened_trials
    assert screened.njev == plain.njev - screened.n_screened_trials


def _cubes(x):
    return x**3


def _cubes_jac(x):
    return np.diag(3.0 * x**2)


def _restoration_state(problem, x, tol=1e-6):
    """A bare solver (``tol``) and a state at ``x`` for ALNewton._restore: the constraints'
    c - lb and G at x, zero multipliers, ``problem`` as the state's box when it is one."""
    solver = ALNewton.__new__(ALNewton)
    solver.tol = tol
    cons = problem.constraints
    s = SimpleNamespace(x=x.copy(), lam=np.zeros(cons.m), k=0, c=cons.c(x) - cons.lb,
                        G=cons.jac(x), n_restoration_nfev=0, n_restorations=0,
                        box=problem if isinstance(problem, BoxProblem) else None)
    return solver, s


def _restoration_setup(tol):
    """A solver, a problem whose constraints c(x) = x**3 (m = n = 2: MINPACK's LM) have a
    singular Jacobian at their only feasible point 0 (least squares converges linearly
    there: each Gauss-Newton step multiplies x by 2/3), and a state at x = (1, 1) for
    ALNewton._restore."""
    c = CallLog(_cubes)
    con = NonlinearConstraint(c, 0.0, 0.0, jac=_cubes_jac)
    problem = Problem.from_scipy(lambda x: x[0] - x[1], np.ones(2),
                                 jac=lambda x: np.array([1.0, -1.0]), constraints=[con])
    solver, s = _restoration_state(problem, np.ones(2), tol)
    c.points.clear()  # building the problem and the state evaluate c(x0) (not _restore)
    return solver, problem, s, c


def test_restoration_passes_the_iterates_values_on():
    """The restoration is scipy's least_squares from the iterate, without evaluating c and
    J again there: the oracle is least_squares itself with the restoration's options from
    the same point (same end point; one c and one J call more, those at the iterate)."""
    solver, problem, s, c = _restoration_setup(1e-6)
    ok, message = solver._restore(problem, s)
    assert ok, message
    assert not any(np.array_equal(p, np.ones(2)) for p in c.points)
    calls = {"c": 0, "J": 0}

    def counted_c(x):
        calls["c"] += 1
        return _cubes(x)

    def counted_J(x):
        calls["J"] += 1
        return _cubes_jac(x)

    full = least_squares(counted_c, np.ones(2), jac=counted_J, method="lm", xtol=1e-15,
                         ftol=1e-15, gtol=1e-15, max_nfev=RESTORATION_MAXFEV * 3)
    np.testing.assert_array_equal(s.x, full.x)
    assert s.n_restoration_nfev == full.nfev
    # c.points: the restoration's calls, then the state's re-evaluation at the end point
    assert len(c.points) == calls["c"] - 1 + 1
    assert np.max(np.abs(s.c)) <= RESTORATION_TARGET * 1e-6


def _sphere(x):
    return np.array([x @ x + 1.0]), 2.0 * x[None, :]


def _rosenbrock(x):
    return (np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]]),
            np.array([[-20.0 * x[0], 10.0], [-1.0, 0.0]]))


@pytest.mark.parametrize("rows, x0, budget, verdict", [
    (_sphere, [3.0, 4.0], RESTORATION_MAXFEV, "look locally infeasible"),
    (_rosenbrock, [-1.2, 1.0], 1, "its evaluation budget ran out")])
def test_failed_restoration_says_whether_its_budget_ran_out(monkeypatch, rows, x0, budget,
                                                             verdict):
    """x1^2 + x2^2 = -1 has no real solution: least squares on ||c||^2/2 stops at its
    stationary point x = 0 (||c|| = 1, G^T c = 0) within the budget, and the constraints
    are called locally infeasible. Rosenbrock's rows 10(x2 - x1^2) = 0, 1 - x1 = 0 from
    (-1.2, 1) are feasible (x = (1, 1)); with a budget of n + 1 = 3 evaluations the
    restoration stops on the way, and the message says so instead."""
    monkeypatch.setattr(sys.modules[ALNewton.__module__], "RESTORATION_MAXFEV", budget)
    x0 = np.array(x0)
    problem = Problem.from_scipy(lambda x: x[0], x0, jac=lambda x: np.eye(2)[0],
                                 constraints=[NonlinearConstraint(
                                     lambda x: rows(x)[0], 0.0, 0.0, jac=lambda x: rows(x)[1])])
    solver, s = _restoration_state(problem, x0)
    monkeypatch.setattr(ALNewton, "_eval", lambda self, p, x, lam: (
        x[0], np.eye(2)[0], *rows(x), np.eye(2)[0]))
    ok, message = solver._restore(problem, s)
    assert not ok and verdict in message, message
    assert s.n_restoration_nfev <= budget * 3


def test_restoration_leaves_the_fixed_variables_out_of_the_least_squares():
    """With bounds the restoration is scipy's trust-region reflective least squares over the
    free variables in the box ``RESTORATION_PUSH`` inside its faces; a fixed variable
    (l = u) is not a least-squares variable (held in an interval of its value's last
    bits it cut the steps with a component along it: 26 evaluations here instead of 7,
    3300 on S2MPJ OPTCNTRL without reaching the target). Oracle: ``least_squares`` on the
    three free variables from the same point, the fixed variable's row x_4 - 1 = 0 kept as a
    zero residual: the restoration ends at the first of its points with ||c||_inf <= tol/10
    (bounded problems; same point and evaluation count); the fixed variable keeps its value
    exactly."""
    def c(x):
        return np.array([np.exp(x[0]) + x[2] - x[3] - 1.0, x[0] + x[1] ** 2 - x[3] - 0.21])

    def c_jac(x):
        return np.array([[np.exp(x[0]), 0.0, 1.0, -1.0], [1.0, 2.0 * x[1], 0.0, -1.0]])

    lo, hi = np.array([-2.0, -2.0, -2.0, 1.0]), np.array([2.0, 2.0, 2.0, 1.0])
    x0 = np.array([1.0, 1.5, 0.5, 1.0])
    problem = Problem.from_scipy(lambda x: x[0], x0, jac=lambda x: np.eye(4)[0],
                                 constraints=[NonlinearConstraint(c, 0.0, 0.0, jac=c_jac)],
                                 bounds=Bounds(lo, hi))
    box = BoxProblem(problem, lo, hi, mu=0.1)
    solver, s = _restoration_state(box, box.start(x0))
    x_entry = s.x.copy()
    ok, message = solver._restore(box, s)
    assert ok, message
    push = RESTORATION_PUSH * 2.0
    points = []

    def residual(y):
        points.append((y.copy(), np.max(np.abs(c(np.r_[y, 1.0])))))
        return np.r_[c(np.r_[y, 1.0]), 0.0]

    least_squares(residual, x_entry[:3],
                  jac=lambda y: np.vstack([c_jac(np.r_[y, 1.0])[:, :3], np.zeros(3)]),
                  bounds=(lo[:3] + push, hi[:3] - push), method="trf", xtol=1e-15,
                  ftol=1e-15, gtol=1e-15, max_nfev=RESTORATION_MAXFEV * 5)
    first = next(i for i, (_, viol) in enumerate(points) if viol <= solver.tol / 10)
    np.testing.assert_allclose(s.x[:3], points[first][0], rtol=1e-14)
    assert s.x[3] == 1.0 and s.n_restoration_nfev == first + 1 <= 10
    assert np.max(np.abs(s.c)) <= RESTORATION_TARGET * solver.tol


def test_scaled_start_evaluates_the_user_functions_once():
    """With scaling active (f * 1e5: s_f < 1) the scaled values at x0 come from the user's
    values: f, grad f, c and J are called once at x0 (the call log is the oracle)."""
    fun, grad, c, cjac = (CallLog(lambda x: 1e5 * (np.log1p(x[0] ** 2) - x[1])),
                          CallLog(lambda x: 1e5 * np.array([2 * x[0] / (1 + x[0] ** 2), -1.0])),
                          CallLog(lambda x: np.array([(1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4])),
                          CallLog(lambda x: np.array([[4 * x[0] * (1 + x[0] ** 2), 2 * x[1]]])))
    con = NonlinearConstraint(c, 0.0, 0.0, jac=cjac,
                              hess=lambda x, v: v[0] * np.array([[4 + 12 * x[0] ** 2, 0.0],
                                                                 [0.0, 2.0]]))
    x0 = np.array([2.0, 2.0])
    res = optkit.minimize(fun, x0, method="al-newton", jac=grad, constraints=[con],
                          hess=lambda x: 1e5 * np.array([[2 * (1 - x[0] ** 2) / (1 + x[0] ** 2) ** 2,
                                                           0.0], [0.0, 0.0]]),
                          options={"rng": 0, "maxiter": 3})
    assert res.scaling[0] < 1.0
    for log in (fun, grad, cjac):
        assert sum(np.array_equal(p, x0) for p in log.points) == 1
    # c is also evaluated once at x0 by optkit.minimize's constraint check
    assert sum(np.array_equal(p, x0) for p in c.points) <= 2
