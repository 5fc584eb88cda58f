"""The scipy-style faces: :func:`minimize`, :func:`solve` and :func:`get_method`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .oracle import MissingOracleError
from .problem import Problem
from .registry import LOOP_OPTIONS, MethodInfo, get_method_info
from .result import OptimizeResult
from .rng import check_rng
from .solver import run
from .validate import check_int

__all__ = ["minimize", "solve", "get_method"]


def _check_capabilities(info: MethodInfo, problem: Problem) -> None:
    obj = problem.objective
    needs = info.requires
    if "grad" in needs and not getattr(obj, "has_grad", True):
        raise MissingOracleError(
            f"method {info.name!r} needs the gradient: pass jac= (a callable, True or '2-point')"
        )
    if "hvp" in needs and not getattr(obj, "has_hvp", True):
        raise MissingOracleError(f"method {info.name!r} needs Hessian-vector products: pass hess= or hessp=")
    if "stochastic" in needs and not getattr(obj, "is_stochastic", True):
        raise MissingOracleError(f"method {info.name!r} needs a finite-sum objective with mini-batches")
    if "constraints" in needs and problem.constraints is None:
        raise ValueError(f"method {info.name!r} solves constrained problems: pass constraints=")
    if problem.bounds is not None and "bounds" not in info.supports:
        raise ValueError(f"method {info.name!r} does not support bounds")
    cons = problem.constraints
    if cons is not None:
        if "eq_constraints" not in info.supports and "ineq_constraints" not in info.supports:
            raise ValueError(f"method {info.name!r} does not support constraints")
        if cons.has_inequalities and "ineq_constraints" not in info.supports:
            raise ValueError(f"method {info.name!r} supports equality constraints only (lb == ub)")
    if not isinstance(problem.x0, np.ndarray) and "torch" not in info.supports:
        raise TypeError(f"method {info.name!r} takes numpy arrays, got x0 of type {type(problem.x0).__name__}")


def solve(problem: Problem, method: str = "gd", *, tol: float | None = None,
          callback: Callable | None = None, options: Mapping[str, Any] | None = None,
          strict_options: bool = True) -> OptimizeResult:
    """Run a registered method on a :class:`Problem` and return an :class:`OptimizeResult`.

    The result has scipy's fields (``x, fun, jac, nit, nfev, njev, nhev, status,
    success, message``) plus ``trace`` and ``execution_time``. The problem's
    objective is wrapped in a fresh :class:`~optkit.core.Counted`, so counts start at 0.
    """
    info = get_method_info(method)
    _check_capabilities(info, problem)
    opts = info.resolve_options(options, tol, strict=strict_options)
    loop = {k: opts[k] for k in LOOP_OPTIONS}
    loop["maxiter"] = check_int(loop["maxiter"], "maxiter", minimum=0)
    return run(info.make_solver(opts), problem.counted(), rng=check_rng(opts.get("rng")),
               callback=callback, method=info.name, **loop)


def minimize(fun, x0, args=(), method: str = "gd", jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol: float | None = None, callback: Callable | None = None,
             options: Mapping[str, Any] | None = None) -> OptimizeResult:
    """Minimize a scalar function with an optkit method, in scipy's calling convention.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``.
    x0 : array_like, shape (n,)
        Start point; never modified.
    args : tuple
        Extra arguments passed to ``fun``, ``jac``, ``hess`` and ``hessp``.
    method : str
        A name from :func:`optkit.list_methods`.
    jac : callable, bool, str or None
        Gradient: a callable, ``True`` if ``fun`` returns ``(f, g)``, or
        ``'2-point'``/``'3-point'``/``'cs'`` finite differences.
    hess, hessp : callable, optional
        Hessian matrix or Hessian-vector product, for methods that use them.
    bounds : Bounds or sequence of (min, max), optional
    constraints : dict, NonlinearConstraint, LinearConstraint or a sequence of them
    tol : float, optional
        Sets the method's main tolerance (see :func:`optkit.show_options`).
    callback : callable, optional
        ``callback(intermediate_result)`` (or legacy ``callback(xk)``) after each
        iteration; raising ``StopIteration`` ends the run with status 99.
    options : dict, optional
        Method options; unknown names raise ``TypeError``.

    Returns
    -------
    OptimizeResult
        scipy's fields plus ``nhev``, ``trace`` (per-iteration history) and
        ``execution_time``.
    """
    problem = Problem.from_scipy(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp, bounds=bounds,
                                 constraints=constraints)
    return solve(problem, method, tol=tol, callback=callback, options=options)


def get_method(name: str) -> Callable[..., OptimizeResult]:
    """A callable for ``scipy.optimize.minimize(fun, x0, method=optkit.get_method(name))``.

    It accepts scipy's raw arguments (bounds as pairs or ``Bounds``, constraint
    dicts or objects, ``tol`` arriving inside the options) and ignores unknown
    keywords with an ``OptimizeWarning``, as scipy's own methods do.
    """
    info = get_method_info(name)

    def custom_method(fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
                      constraints=(), callback=None, **options):
        tol = options.pop("tol", None)
        problem = Problem.from_scipy(fun, x0, args=args, jac=jac, hess=hess, hessp=hessp,
                                     bounds=bounds, constraints=constraints)
        return solve(problem, info.name, tol=tol, callback=callback, options=options,
                     strict_options=False)

    custom_method.__name__ = f"optkit_{info.name.replace('-', '_')}"
    custom_method.__doc__ = f"optkit method {info.name!r}: {info.summary}"
    return custom_method
