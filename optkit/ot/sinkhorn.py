r"""Entropic optimal transport in the log domain: Sinkhorn and Sinkhorn–Newton–Sparse.

Convention (spec ``ot.md`` §1): with masses :math:`a \in \mathbb{R}^n_+`,
:math:`b \in \mathbb{R}^m_+` of equal totals, a cost :math:`C` and ``reg`` :math:`= \varepsilon
= 1/\eta_{\mathrm{SNS}}`,

.. math::

    \min_{P \ge 0,\ P1 = a,\ P^\top 1 = b} \langle C, P\rangle
        + \varepsilon \sum_{ij} P_{ij}(\log P_{ij} - 1)
    \;=\; \max_{f, g}\ D(f, g) = \langle a, f\rangle + \langle b, g\rangle
        - \varepsilon \sum_{ij} e^{(f_i + g_j - C_{ij})/\varepsilon},

with the plan :math:`P_{ij} = e^{(f_i + g_j - C_{ij})/\varepsilon}`. ``reg`` is POT's ``reg``
(``f = reg * log_u``, ``g = reg * log_v`` in ``ot.sinkhorn(..., log=True)``) and OTT's
``epsilon``; the SNS paper's :math:`\eta` is ``1/reg`` (its potentials are ``x = f + reg``,
``y = g``). Convergence is the L1 marginal error
:math:`\mathrm{err} = (\|P1 - a\|_1 + \|P^\top 1 - b\|_1)/\sum_i a_i = \|\nabla D\|_1/\sum a`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from optkit.core.backend import namespace, to_numpy
from optkit.core.registry import Option, budget_options, resolve_options
from optkit.core.solver import run
from optkit.core.validate import check_bool, check_in, check_int, check_positive, optional

from .costs import COSTS, cost_matrix
from .problem import (
    check_cost,
    check_reg,
    embed,
    extend,
    host_vector,
    kernels,
    make_problem,
    masses,
    submatrix,
)
from .result import OTResult

__all__ = ["OTResult", "sinkhorn", "cost_matrix", "COSTS", "OPTIONS", "SNS_OPTIONS"]

METHODS = ("sns", "sinkhorn")


def _kappa(value, name):
    if check_positive(value, name) < 2:
        raise ValueError(f"{name} must be >= 2, got {value}")
    return float(value)


def _count(value, name):
    return check_int(value, name, minimum=0)


def _sns(default, doc, check):
    return Option(default, doc, check=check, applies=("method", ("sns",)))


#: SNS settings, given as ``options=`` (spec ``ot.md`` §3.5).
SNS_OPTIONS = {
    "n_init": _sns(20, "int\n    Sinkhorn sweeps before the first Newton step.", _count),
    "kappa": _sns(10.0, "float >= 2\n    Initial kept entries per row of the sparsified "
                        "Hessian, adapted in [2, ceil(m/4)].", _kappa),
    "adaptive": _sns(True, "bool\n    Adapt kappa after each Newton step.", check_bool),
    "polish": _sns(True, "bool\n    One sweep after each Newton step while err > 1e-6.",
                   check_bool),
    "n_fallback": _sns(20, "int\n    Sinkhorn sweeps after a rejected step or a stall.", _count),
    "max_stalls": _sns(20, "int\n    Stalls after which SNS continues with Sinkhorn only.",
                       _count),
}

#: Every option of :func:`sinkhorn`, checked by :func:`optkit.core.registry.resolve_options`.
OPTIONS = {
    "method": Option("sns", "{'sns', 'sinkhorn'}", check=lambda v, n: check_in(v, n, METHODS)),
    "tol": Option(None, "float\n    Target L1 marginal error.", check=optional(check_positive)),
    "maxiter": Option(1000, "int\n    Budget of sweeps + Newton steps.",
                      check=lambda v, n: check_int(v, n, minimum=1)),
    **budget_options(),
    "check_every": Option(1, "int\n    Host reads of the stopping test every k iterations.",
                          check=lambda v, n: check_int(v, n, minimum=1)),
    "cost": Option("sqeuclidean", "str or callable\n    Cost of the point clouds x, y.",
                   check=lambda v, n: v if callable(v) else check_in(v, n, COSTS),
                   applies=("input", ("points",))),
    "input": Option("C", "internal: 'C' or 'points'"),
    **SNS_OPTIONS,
}


def sinkhorn(a, b, C=None, reg=None, *, eta=None, method="sns", tol=None, maxiter=1000,
             maxfev=None, max_time=None, check_every=1, init=None, x=None, y=None, cost=None,
             options=None, callback: Callable | None = None) -> OTResult:
    r"""Balanced entropic optimal transport, log domain, by Sinkhorn or Sinkhorn–Newton–Sparse.

    Solves :math:`\max_{f,g} \langle a,f\rangle + \langle b,g\rangle - \varepsilon\sum_{ij}
    e^{(f_i+g_j-C_{ij})/\varepsilon}` (module docstring) until the L1 marginal error is
    ``<= tol``, on :func:`optkit.core.run`.

    - ``method="sinkhorn"``: log-domain Sinkhorn (Cuturi, NeurIPS 2013; Peyré & Cuturi,
      *Computational Optimal Transport*, §4.4), the alternating exact block maximizations
      of :class:`~optkit.ot.log_sinkhorn.SinkhornSolver`; D never decreases. On torch input
      the potentials stay on ``C``'s device and the host reads the error every
      ``check_every`` sweeps only.
    - ``method="sns"``: Sinkhorn–Newton–Sparse (Tang et al., ICLR 2024, arXiv 2401.12253,
      Algorithm 1): ``n_init`` Sinkhorn sweeps, then Newton ascent steps on the reduced dual
      with a sparsified Hessian; see :class:`~optkit.ot.sns.SNSSolver`. It is driven from
      the host (numpy potentials; on torch input the passes over ``C`` run on its device).

    Parameters
    ----------
    a, b : array (n,), (m,) or None
        Non-negative masses with equal totals (any common total); None means uniform 1/n.
        Zero entries are allowed: their rows/columns are dropped (zero in the plan) and their
        potentials are the soft c-transforms, e.g. :math:`f_i = -\varepsilon\,
        \mathrm{LSE}_j((g_j - C_{ij})/\varepsilon)`.
    C : array (n, m), optional
        Cost, float32 or float64 (numpy or torch; float32 is upcast in registers). Give
        either ``C`` or the point clouds ``x``, ``y``.
    reg : float
        :math:`\varepsilon > 0` (POT's ``reg``, OTT's ``epsilon``). Exactly one of ``reg``
        and ``eta`` (:math:`= 1/\varepsilon`, the SNS paper's :math:`\eta`).
    method : {"sns", "sinkhorn"}
    tol : float, optional
        Target L1 marginal error; default 1e-9 (1e-5 for Sinkhorn on a float32 cost), or
        twice :math:`|\sum a - \sum b| / \sum a` when that is larger (no plan has a smaller
        error: float32 masses summing to 1 differ by ~1e-9).
    maxiter : int
        Budget of Sinkhorn sweeps + Newton steps (status 1 when spent).
    maxfev : int, optional
        Budget of passes over ``C`` (a sweep is two, a line-search trial one; status 6).
    max_time : float, optional
        Wall-time budget in seconds (status 9).
    check_every : int
        Read the marginal error on the host (stopping test, trace) every ``check_every``
        iterations; with torch tensors on a GPU a larger value saves synchronizations.
    init : (f, g), optional
        Warm start potentials (default zeros).
    x, y : arrays (n, d), (m, d), optional
        Point clouds instead of ``C``.
    cost : str or callable, optional
        Cost of the point clouds (see :func:`cost_matrix`; default ``"sqeuclidean"``). Giving
        it with ``C`` raises ``ValueError``.
    options : dict, optional
        SNS settings (``ValueError`` with ``method="sinkhorn"``): ``n_init`` (20), ``kappa``
        (10: kept entries per row, adapted in [2, ceil(m/4)]), ``adaptive`` (True),
        ``polish`` (True), ``n_fallback`` (20), ``max_stalls`` (20).
    callback : callable, optional
        ``callback(intermediate_result)`` after every iteration with an ``OptimizeResult``
        holding ``x`` (the potentials ``(f, g)`` concatenated), ``fun`` (the dual), ``nit``
        and ``nfev``; raising ``StopIteration`` ends the run (status 99, as scipy).

    Returns
    -------
    OTResult
        Non-convergence is not an exception: ``success=False`` with the error in ``message``.
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    options = dict(options or {})
    clash = sorted(set(options) - set(SNS_OPTIONS))
    if clash:  # raises TypeError naming them
        resolve_options(SNS_OPTIONS, {k: options[k] for k in clash}, owner="sinkhorn(options=...)")
    given = {"method": method, "tol": tol, "maxiter": maxiter, "maxfev": maxfev,
             "max_time": max_time, "check_every": check_every,
             "input": "C" if C is not None else "points", **options}
    if cost is not None:
        given["cost"] = cost
    opts = resolve_options(OPTIONS, given, owner="sinkhorn")
    eps = check_reg(reg, eta)
    if C is None:
        if x is None or y is None:
            raise TypeError("give either C or both point clouds x and y")
        C = cost_matrix(x, y, opts["cost"])
    elif x is not None or y is not None:
        raise TypeError("give either C or the point clouds x, y, not both")
    C, torch_in = check_cost(C)
    n, m = C.shape
    device = C.device if torch_in else None
    a = masses(a, "a", n, torch_in, device)
    b = masses(b, "b", m, torch_in, device)
    if a.shape[0] != n or b.shape[0] != m:
        raise ValueError(f"C has shape {(n, m)} but (len(a), len(b)) = {(a.shape[0], b.shape[0])}")
    sa, sb = float(a.sum()), float(b.sum())
    if sa == 0 or abs(sa - sb) > 1e-6 * max(sa, sb):
        raise ValueError(f"a and b must have equal positive totals, got sum(a)={sa!r}, "
                         f"sum(b)={sb!r}")
    method = opts["method"]
    f32 = str(C.dtype) in ("float32", "torch.float32")
    # No plan meets both marginals closer than |sum a - sum b| / sum a (float32 masses that
    # sum to 1 differ by ~1e-9): the default tol stays above that floor.
    floor = 2.0 * abs(sa - sb) / sa
    tol = opts["tol"] if opts["tol"] is not None else max(
        1e-5 if f32 and method == "sinkhorn" else 1e-9, floor)
    if init is None:
        f0, g0 = np.zeros(n), np.zeros(m)
    else:
        f0, g0 = (host_vector(v, name, k) for v, name, k in zip(init, ("init[0]", "init[1]"), (n, m)))
    rows, cols = a > 0, b > 0
    full = bool(rows.all() and cols.all())
    on_device = torch_in and method == "sinkhorn"
    kern = kernels(C if full else submatrix(C, rows, cols), torch_in, host=not on_device)
    problem = make_problem(kern, a[rows], b[cols], eps, tol, f0[rows], g0[cols],
                           device=device if on_device else None)
    if method == "sinkhorn":
        from .log_sinkhorn import SinkhornSolver

        solver = SinkhornSolver()
    else:
        from .sns import SNSSolver

        solver = SNSSolver(**{k: opts[k] for k in SNS_OPTIONS})
    with kern.threads():
        res = run(solver, problem, maxiter=opts["maxiter"], maxfev=opts["maxfev"],
                  max_time=opts["max_time"], check_every=opts["check_every"], callback=callback,
                  method=method, result_type=OTResult, x0=problem.x0)
    if not res.success:
        rel = "<=" if res.marginal_error <= tol else ">"
        res.message = f"{res.message} Marginal error {res.marginal_error:.3e} {rel} tol {tol:.1e}."
    f, g = res.f, res.g
    if not full:
        res.f, res.g = extend(C, to_numpy(f), to_numpy(g), rows, cols, eps)
    if torch_in:
        res.f, res.g = kern.output(res.f), kern.output(res.g)
    res.x = namespace(res.f).concat([res.f, res.g])
    kind = C.dtype

    def plan_fn():
        with kern.threads():
            P = kern.plan(f, g, problem.inv_eps)
        if not full:
            P = embed(P, rows, cols, (n, m))
        return namespace(P).astype(P, kind, copy=False)

    res.set_plan(plan_fn)
    res.reg = eps
    return res

