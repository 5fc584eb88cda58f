"""One Newton (KKT) system of al-newton per sketch, against numpy.linalg.solve and MINRES.

pytest-benchmark (one group per system)::

    OPENBLAS_NUM_THREADS=1 pytest bench/micro/test_constrained.py --benchmark-only \\
        -p no:cacheprovider

Systems: the first KKT matrix K = [[B, G^T], [G, 0]] of HS100LNP (N = 9) and of the
constrained logistic regression on breast_cancer (N = 30 + 11), right-hand side -grad L,
solved to the relative residual 1e-10 of the paper accuracy condition.

Ratio (issue 18, ``ratio`` fixture, budget in ``bench/micro/budgets.toml``): a whole
al-newton run (sparse path, ``sketch="direct"``: one LDL^T per Newton step with the
symbolic analysis reused, ``optkit.constrained._ldl``) on the semilinear PDE control
(``optkit.constrained.large.semilinear_control``: 71 x 71 grid, n 10082, m 5041 in
"full"; 40 x 40 in "ci") over scipy's trust-constr on the same problem with the same
sparse Hessians::

    OPTKIT_MICRO_CONFIG=ci OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD python -m pytest \
        -p no:cacheprovider bench/micro/test_constrained.py -k ratio --benchmark-json=/tmp/c.json
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import scipy.optimize

from optkit.constrained import sketch
from optkit.constrained._kkt import dense_kkt
from optkit.constrained.hs import BY_NAME
from optkit.constrained.large import semilinear_control
from optkit.constrained.logreg import constrained_logreg, load_breast_cancer_pm1
from optkit.core import get_method_info, solve

PDE_GRID = {"ci": 40, "full": 71}


def _kkt(problem, **options):
    info = get_method_info("al-newton")
    solver = info.make_solver(info.resolve_options(options))
    counted = problem.counted()
    state = solver.init(counted, counted.x0, np.random.default_rng(0))
    K = dense_kkt(solver, counted, state).K
    return K, -np.concatenate([state.gl, state.c])


@pytest.fixture(scope="module", params=["HS100LNP", "logreg"])
def system(request):
    if request.param == "HS100LNP":
        return request.param, *_kkt(BY_NAME["HS100LNP"].problem())
    X, y = load_breast_cancer_pm1()
    problem = constrained_logreg(X, y, n_linear=10, sphere=True, rng=0)
    return request.param, *_kkt(problem, **problem.metadata["options"])


@pytest.mark.parametrize("name", ["rk", "gaussian", "block-rk", "direct", "minres"])
def test_kkt_solve(benchmark, system, name):
    label, K, b = system
    benchmark.group = f"KKT solve {label} (N={b.size})"
    res = benchmark(sketch.solve, K, b, sketch=name, block_size=4, tol=1e-10,
                    maxiter=2_000_000 // b.size, rng=0)
    assert res.success
    assert np.linalg.norm(K @ res.x - b) <= 1e-10 * np.linalg.norm(b) * 1.001


def test_numpy_solve(benchmark, system):
    label, K, b = system
    benchmark.group = f"KKT solve {label} (N={b.size})"
    x = benchmark(np.linalg.solve, K, b)
    assert np.linalg.norm(K @ x - b) <= 1e-10 * np.linalg.norm(b)


def _kkt_residual(problem, x, lam):
    cons = problem.constraints
    c = cons.c(x) - cons.lb
    gl = problem.objective.grad(x) + cons.jac(x).T @ lam
    return float(np.sqrt(gl @ gl + c @ c))


def test_ratio_alnewton_pde_vs_trust_constr(ratio):
    """al-newton (sparse direct path) / trust-constr wall time on the PDE control problem."""
    problem = semilinear_control(PDE_GRID[os.environ.get("OPTKIT_MICRO_CONFIG", "full")])
    obj, cons = problem.objective, problem.constraints
    constraint = scipy.optimize.NonlinearConstraint(cons.c, cons.lb, cons.ub, jac=cons.jac,
                                                    hess=cons.lagrangian_hess)

    def ours():
        return solve(problem, "al-newton", options={"sketch": "direct", "tol": 1e-6, "rng": 0})

    def peer():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # trust-constr's "delta_grad == 0.0" warning
            return scipy.optimize.minimize(obj.value, problem.x0, jac=obj.grad, hess=obj.hess,
                                           method="trust-constr", constraints=[constraint],
                                           options={"gtol": 1e-8, "xtol": 1e-12})

    r = ratio("al-newton-pde-vs-trust-constr", ours, peer,
              peer_name="scipy.optimize.minimize(method='trust-constr')", repeats=9)
    mine, theirs = ours(), peer()
    assert mine.success and mine.n_kkt_analyses == 1
    assert _kkt_residual(problem, mine.x, mine.multipliers) <= 1e-6
    assert abs(mine.fun - theirs.fun) <= 1e-6 * max(1.0, abs(theirs.fun))
    assert r > 0
