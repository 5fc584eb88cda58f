"""One Newton (KKT) system of al-newton per sketch, against numpy.linalg.solve and MINRES.

pytest-benchmark (one group per system)::

    OPENBLAS_NUM_THREADS=1 pytest bench/micro/test_constrained.py --benchmark-only \\
        -p no:cacheprovider

Systems: the first KKT matrix K = [[B, G^T], [G, 0]] of HS100LNP (N = 9) and of the
constrained logistic regression on breast_cancer (N = 30 + 11), right-hand side -grad L,
solved to the relative residual 1e-10 of the paper accuracy condition.
"""

from __future__ import annotations

import numpy as np
import pytest

from optkit.constrained import sketch
from optkit.constrained._kkt import dense_kkt
from optkit.constrained.hs import BY_NAME
from optkit.constrained.logreg import constrained_logreg, load_breast_cancer_pm1
from optkit.core import get_method_info


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
