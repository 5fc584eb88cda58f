"""The scipy-style faces: :func:`minimize`, :func:`solve` and :func:`get_method`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .oracle import MissingOracleError
from .problem import Problem
from .registry import LOOP_OPTIONS, MethodInfo, get_method_info
from .result import OptimizeResult
from .rng import check_rng
from .solver import run
from .validate import check_int, is_torch_tensor

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


def _scipy_arguments(info: MethodInfo, x0, jac, hess, hessp, bounds, constraints) -> dict:
    """scipy's handling of the arguments a method does (not) use: warn and drop, never fail.

    ``jac=None`` on a method that needs the gradient means counted forward differences
    (``'2-point'``), as scipy, except for a torch ``x0``, where autograd supplies it.
    """
    name = info.name

    def unused(what: str) -> None:
        warnings.warn(f"Method {name} does not use {what}.", RuntimeWarning, stacklevel=4)

    uses_grad = "grad" in info.requires
    uses_hess = "hvp" in info.requires or "hess" in info.supports
    if jac is not None and jac is not False and not uses_grad:
        unused("gradient information (jac)")
        if jac is not True:  # jac=True: fun still returns (f, g); only f is used
            jac = None
    if jac is None and uses_grad and not is_torch_tensor(x0):
        jac = "2-point"
    if hess is not None and hessp is not None:
        warnings.warn("hess and hessp are both given; hessp is ignored, as scipy does.",
                      RuntimeWarning, stacklevel=3)
        hessp = None
    if (hess is not None or hessp is not None) and not uses_hess:
        unused("Hessian information (hess, hessp)")
        hess = hessp = None
    if bounds is not None and "bounds" not in info.supports:
        warnings.warn(f"Method {name} cannot handle bounds.", RuntimeWarning, stacklevel=3)
        bounds = None
    has_constraints = constraints is not None and not (
        isinstance(constraints, (list, tuple)) and len(constraints) == 0)
    if has_constraints and not info.supports & {"eq_constraints", "ineq_constraints"}:
        warnings.warn(f"Method {name} cannot handle constraints.", RuntimeWarning, stacklevel=3)
        constraints = ()
    return dict(jac=jac, hess=hess, hessp=hessp, bounds=bounds, constraints=constraints)


def _problem(info: MethodInfo, fun, x0, args, jac, hess, hessp, bounds, constraints) -> Problem:
    kw = _scipy_arguments(info, x0, jac, hess, hessp, bounds, constraints)
    if is_torch_tensor(x0) and all(kw[k] is None for k in ("jac", "hess", "hessp")):
        if kw["constraints"]:
            raise TypeError("constraints with a torch x0 need jac= (autograd covers the objective "
                            "only); pass a numpy x0 or the constraint derivatives")
        return Problem.from_torch(fun, x0, args=args, bounds=kw["bounds"])
    return Problem.from_scipy(fun, x0, args=args, **kw)


def minimize(fun, x0, args=(), method: str = "gd", jac=None, hess=None, hessp=None, bounds=None,
             constraints=(), tol: float | None = None, callback: Callable | None = None,
             options: Mapping[str, Any] | None = None) -> OptimizeResult:
    """Minimize a scalar function with an optkit method, in scipy's calling convention.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``. It receives a copy of ``x`` and may modify it.
    x0 : array_like or torch.Tensor, shape (n,)
        Start point; never modified. A torch tensor with no ``jac``/``hess``/``hessp``
        gets its gradient and Hessian-vector products from autograd (``fun`` must then
        be written in torch), and ``res.x`` is a tensor on ``x0``'s device.
    args : tuple
        Extra arguments passed to ``fun``, ``jac``, ``hess`` and ``hessp``.
    method : str
        A name from :func:`optkit.list_methods` (case-insensitive, ``_`` same as ``-``).
    jac : callable, bool, str or None
        Gradient: a callable, ``True`` if ``fun`` returns ``(f, g)``, or
        ``'2-point'``/``'3-point'``/``'cs'`` finite differences. ``None`` on a method that
        needs the gradient means ``'2-point'`` (its evaluations count in ``nfev``), as scipy.
    hess, hessp : callable, optional
        Hessian matrix or Hessian-vector product, for methods that use them (``hess``
        wins when both are given). Arguments a method does not use are dropped with a
        ``RuntimeWarning``, as scipy does (also bounds and constraints).
    bounds : Bounds or sequence of (min, max), optional
    constraints : dict, NonlinearConstraint, LinearConstraint or a sequence of them
    tol : float, optional
        Sets the method's main tolerance (see :func:`optkit.show_options`); a method
        without one warns and ignores it.
    callback : callable, optional
        ``callback(intermediate_result)`` (or legacy ``callback(xk)``) after each
        iteration; raising ``StopIteration`` ends the run with status 99.
    options : dict, optional
        Method options; unknown names raise ``TypeError``. ``maxiter`` may be a float
        (its ceiling is used, as scipy's ``k < maxiter``).

    Returns
    -------
    OptimizeResult
        scipy's fields plus ``nhev``, ``trace`` (per-iteration history) and
        ``execution_time``.
    """
    info = get_method_info(method)
    problem = _problem(info, fun, x0, args, jac, hess, hessp, bounds, constraints)
    return solve(problem, info.name, tol=tol, callback=callback, options=options)


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
        problem = _problem(info, fun, x0, args, jac, hess, hessp, bounds, constraints)
        return solve(problem, info.name, tol=tol, callback=callback, options=options,
                     strict_options=False)

    custom_method.__name__ = f"optkit_{info.name.replace('-', '_')}"
    custom_method.__doc__ = f"optkit method {info.name!r}: {info.summary}"
    return custom_method
