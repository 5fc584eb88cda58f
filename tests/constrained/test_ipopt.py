"""IPOPT (cyipopt-wheels) as an independent oracle for al-newton on the robust core (spec
constrained.md §9): same optimal value, IPOPT's point feasible."""

import numpy as np
import pytest

from optkit.constrained.hs import BY_NAME, tier
from optkit.core import solve

cyipopt = pytest.importorskip("cyipopt")

CORE = [p.name for p in tier("core")]


def ipopt_hs(p):
    """IPOPT on the sympy derivatives of ``p``: exact Hessian of the Lagrangian, tol 1e-9."""
    kw = p.scipy_kwargs()
    con, hessp, eye = kw["constraints"][0], kw["hessp"], np.eye(p.n)
    return cyipopt.minimize_ipopt(
        kw["fun"], kw["x0"], jac=kw["jac"],
        hess=lambda x: np.column_stack([hessp(x, e) for e in eye]),
        constraints=[{"type": "eq", "fun": con.fun, "jac": con.jac, "hess": con.hess}],
        options={"print_level": 0, "sb": "yes", "tol": 1e-9})


@pytest.mark.peers
@pytest.mark.parametrize("name", CORE)
def test_ipopt_agrees_with_al_newton(name):
    p = BY_NAME[name]
    ref = ipopt_hs(p)
    assert ref.status == 0, ref.message
    c = p.scipy_kwargs()["constraints"][0].fun
    assert np.max(np.abs(c(ref.x))) <= 1e-8
    res = solve(p.problem(), "al-newton", options={"tol": 1e-8, "rng": 0})
    assert res.success, res.message
    assert abs(res.fun - ref.fun) <= 1e-6 * max(1.0, abs(ref.fun))
