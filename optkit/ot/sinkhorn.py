r"""Entropic optimal transport in the log domain: Sinkhorn and Sinkhorn–Newton–Sparse.

Convention (Peyré & Cuturi, *Computational Optimal Transport*, 2019, §4.1): with masses :math:`a \in \mathbb{R}^n_+`,
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

import warnings
from collections.abc import Callable, Mapping

import numpy as np
from scipy.optimize import OptimizeResult

from optkit.core.backend import is_torch_tensor, namespace, to_numpy
from optkit.core.registry import Option, budget_options, resolve_options
from optkit.core.result import STATUS
from optkit.core.solver import run
from optkit.core.validate import (
    check_bool,
    check_in,
    check_int,
    check_nonnegative,
    check_positive,
    optional,
)

from .batch import _ndim, batch_form, solve_batch
from .costs import COSTS, LazyCost, cost_matrix
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

__all__ = ["OTResult", "sinkhorn", "cost_matrix", "COSTS", "GRADS", "OPTIONS", "SNS_OPTIONS"]

METHODS = ("sns", "sinkhorn")

#: The gradient modes (:mod:`optkit.ot.autograd`).
GRADS = ("envelope", "implicit", "autodiff", "detach")


def _kappa(value, name):
    if check_positive(value, name) < 2:
        raise ValueError(f"{name} must be >= 2, got {value}")
    return float(value)


def _count(value, name):
    return check_int(value, name, minimum=0)


def _sns(default, doc, check):
    return Option(default, doc, check=check, applies=("method", ("sns",)))


#: SNS settings, given as ``options=`` (Tang et al., ICLR 2024, Algorithm 1).
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


def _resolved_options(method, C, tol, maxiter, maxfev, max_time, check_every, cost,
                      options=None) -> dict:
    """``sinkhorn``'s keywords checked against its option table (``maxiter`` and ``cost`` only
    when given, so that their defaults depend on the method and the input)."""
    given = {"method": method, "tol": tol, "maxfev": maxfev, "max_time": max_time,
             "check_every": check_every, "input": "C" if C is not None else "points",
             **(options or {})}
    if maxiter is not None:
        given["maxiter"] = maxiter
    if cost is not None:
        given["cost"] = cost
    return resolve_options(OPTIONS, given, owner="sinkhorn")


def sinkhorn(a, b, C=None, reg=None, *, eta=None, method="sns", tol=None, maxiter=None,
             maxfev=None, max_time=None, check_every=1, init=None, x=None, y=None, cost=None,
             grad="envelope", options=None, callback: Callable | None = None, numItermax=None,
             stopThr=None, warn=True, lazy=False) -> OTResult:
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
      with a sparsified Hessian; see :class:`~optkit.ot.sns.SNSSolver`. On torch input
      everything (potentials, sparse Hessian, CG, line search) stays on ``C``'s device and
      the host reads one small vector per Newton step (the line search evaluates its trial
      steps together in one pass over ``C``).

    Parameters
    ----------
    a, b : array (n,), (m,) or None
        Non-negative masses with equal totals (any common total); None, or an empty sequence
        (POT's ``a=[]``), means uniform 1/n.
        Zero entries are allowed: their rows/columns are dropped (zero in the plan) and their
        potentials are the soft c-transforms, e.g. :math:`f_i = -\varepsilon\,
        \mathrm{LSE}_j((g_j - C_{ij})/\varepsilon)`.
    C : array (n, m), optional
        Cost, float32 or float64 (numpy or torch; float32 is upcast in registers). Give
        either ``C`` or the point clouds ``x``, ``y``.
    reg : float
        :math:`\varepsilon > 0` (POT's ``reg``, OTT's ``epsilon``). Exactly one of ``reg``
        and ``eta`` (:math:`= 1/\varepsilon`, the SNS paper's :math:`\eta`).
    method : {"sns", "sinkhorn", "sinkhorn_log"}
        ``"sinkhorn_log"`` (POT's name) is ``"sinkhorn"``, which is always log-domain.
    tol : float, optional
        Target L1 marginal error; default 1e-9, or 1e-5 where passes run in float32 (Sinkhorn
        on a float32 cost; either method on a float32 torch cost), or twice
        :math:`|\sum a - \sum b| / \sum a` when that is larger (no plan has a smaller error:
        float32 masses summing to 1 differ by ~1e-9). float32 passes accumulate in float64 and
        reach a floor of 3e-7 to 1.1e-6 (measured on C ~ U[0, 1], n <= 200, reg 0.1 to 0.005);
        below that floor the run ends with ``success=False``, status 5.
    maxiter : int, optional
        Budget of Sinkhorn sweeps + Newton steps (status 1 when spent); default 1000.
    maxfev : int, optional
        Budget of passes over ``C`` (a sweep is two, a line-search trial one; status 6).
    max_time : float, optional
        Wall-time budget in seconds (status 9).
    check_every : int
        Read the marginal error on the host (stopping test, trace) every ``check_every``
        iterations; with torch tensors on a GPU a larger value saves synchronizations.
    init : (f, g) or a previous OTResult, optional
        Warm start potentials (default zeros); a result is read through its ``f`` and ``g``.
        Resuming an interrupted run (``StopIteration`` from ``callback``, ``maxiter``,
        ``max_time``) from its result: ``method="sinkhorn"`` repeats the uninterrupted
        run's sweeps exactly (its state is the potentials); ``"sns"`` restarts its
        ``n_init`` Sinkhorn sweeps and its sparsity adaptation, so it reaches the same
        solution (same plan; potentials up to the constant shift :math:`(f + c, g - c)`)
        by other iterates. A callback saves a checkpoint from ``intermediate_result.x``
        (``f = x[:n]``, ``g = x[n:]``).
    x, y : arrays (n, d), (m, d), optional
        Point clouds instead of ``C``.
    cost : str or callable, optional
        Cost of the point clouds (see :func:`cost_matrix`; default ``"sqeuclidean"``). Giving
        it with ``C`` raises ``ValueError``.
    lazy : bool
        With point clouds: never form ``C``. Every pass computes blocks of rows
        of the cost on the fly by direct differences (numba: 16 MiB blocks; torch: 8 MiB
        blocks on the clouds' device), so a solve holds O((n + m) d) memory plus one block;
        ``result.plan`` still forms the n x m plan when read. SNS runs unchanged on it: its
        sparse Hessian (top-k histogram, CSR) is built by blocks too, :math:`O(|K|)` memory. A named
        ``cost`` is required (not a callable). Every ``grad`` mode works on torch clouds and
        keeps that memory bound (:mod:`optkit.ot.lazy_autograd`): each backward streams over
        blocks of rows, forming costs and plan entries from the points and potentials
        (:math:`\partial_{x_i} = \sum_j W_{ij}\nabla_x c(x_i, y_j)` for the mode's weight
        :math:`W`, e.g. :math:`P^*` for the envelope); ``"implicit"`` runs its adjoint CG with
        blockwise products :math:`Pv`, :math:`P^\top u` (one pass per CG iteration) and the
        SNS preconditioner from the blocked select pass; ``"autodiff"`` records each sweep's
        log-sum-exp as one node saving only the points and the potentials, so the tape grows
        by :math:`O((n + m)d)` per sweep. torch results carry ``lazy_plan``
        (:class:`~optkit.ot.lazy_autograd.LazyPlan`: ``matvec``, ``rmatvec``, ``sum`` and
        ``apply(fn)``, a sum of ``fn`` over blocks of the plan), through which losses of the
        plan stay lazy and, with ``"implicit"``/``"autodiff"``, differentiable; reading
        ``plan`` forms the n x m plan.
    options : dict, optional
        SNS settings (``ValueError`` with ``method="sinkhorn"``): ``n_init`` (20), ``kappa``
        (10: kept entries per row, adapted in [2, ceil(m/4)]), ``adaptive`` (True),
        ``polish`` (True), ``n_fallback`` (20), ``max_stalls`` (20).
    grad : {"envelope", "implicit", "autodiff", "detach"}
        How gradients flow when torch input requires them (module
        :mod:`optkit.ot.autograd`; ``ValueError`` for another value on numpy input). Points
        ``x``, ``y`` reach them through :func:`cost_matrix`.

        - ``"envelope"`` (default): ``dual`` and ``ent_reg_cost`` are 0-d tensors with the
          envelope gradient :math:`(\partial_C, \partial_a, \partial_b) = (P^*, f^*, g^*)`
          (exact for the optimal value at convergence); the backward is one pass over ``C``.
          ``cost`` (a 0-d tensor) and ``plan`` carry no gradient, as POT's ``grad="envelope"``.
        - ``"implicit"``: ``f``, ``g`` (gauge-fixed, :math:`\sum f = \sum g`), ``plan``,
          ``cost``, ``dual``, ``ent_reg_cost`` are differentiable: the gradient of any loss
          of them solves the KKT system of the dual by CG preconditioned with the SNS
          sparsified Hessian (positive masses only).
        - ``"autodiff"``: autograd through the unrolled log-domain sweeps (``method=
          "sinkhorn"``, positive masses; memory grows with the sweeps); the same fields.
        - ``"detach"``: no gradient.

        Gradients with respect to ``a`` and ``b`` are centred (mass-preserving), as POT's.
        With ``lazy=True`` every mode reaches ``x``, ``y``, ``a``, ``b`` without forming
        ``C`` (see ``lazy``).
    callback : callable, optional
        ``callback(intermediate_result)`` after every iteration with an ``OptimizeResult``
        holding ``x`` (the potentials ``(f, g)`` concatenated), ``fun`` (the dual), ``nit``
        and ``nfev``; raising ``StopIteration`` ends the run (status 99, as scipy).
    numItermax, stopThr : optional
        POT's names for ``maxiter`` and ``tol`` (``TypeError`` when both names are given);
        ``stopThr=0`` (allowed, as POT) runs the whole budget. ``stopThr`` bounds the L1 marginal error, which is at least POT's L2 column error
        (for unit masses), so the test is never looser than POT's.
    warn : bool
        Issue a ``UserWarning`` when the run did not converge (as POT); the result says so
        anyway (``success=False``).

    Batches (:mod:`optkit.ot.batch`): a leading batch axis on ``a``, ``b``, ``C``
    or ``x``, ``y`` (shared 1-D masses allowed), or POT's several-``b``
    form ``b (m, k)`` with one ``C``, returns a :class:`~optkit.ot.batch.BatchOTResult`
    (``cost`` a vector, as POT's ``sinkhorn2``; per-problem ``status``, ``nit``). With
    ``method="sinkhorn"`` the batch runs as one tensor program (numba kernel for numpy, batched
    torch reductions on ``C``'s device; :mod:`optkit.ot.batch_sinkhorn`) with a per-problem
    stopping mask, and ``dual``/``ent_reg_cost`` carry the envelope gradient per problem;
    SNS, zero masses, ``init`` or a ``callback`` solve each problem on its own (``init`` and
    ``callback`` then apply to every problem).

    Returns
    -------
    OTResult or BatchOTResult
        Non-convergence is not an exception: ``success=False`` with the error in ``message``
        (and a ``UserWarning`` unless ``warn=False`` or the callback stopped the run).
    """
    method = "sinkhorn" if method == "sinkhorn_log" else method
    maxiter = _one_of(maxiter, "maxiter", numItermax, "numItermax")
    if numItermax is not None:  # checked under POT's name, as maxiter is checked
        check_int(numItermax, "numItermax", minimum=1)
    _one_of(tol, "tol", stopThr, "stopThr")
    if stopThr is not None:
        stopThr = check_nonnegative(stopThr, "stopThr")  # POT's 0: run the whole budget
    check_in(grad, "grad", GRADS)
    check_bool(warn, "warn")
    form = batch_form(a, b, C, x, y)
    if form is not None:
        if (method == "sinkhorn" and not lazy and init is None and callback is None
                and options is None and grad in ("envelope", "detach")):
            res = _vectorised_batch(form, a, b, C, x, y, reg=reg, eta=eta, tol=tol,
                                    stopThr=stopThr, maxiter=maxiter, maxfev=maxfev,
                                    max_time=max_time, check_every=check_every, cost=cost,
                                    grad=grad, warn=warn)
            if res is not None:
                return res
        return solve_batch(sinkhorn, form, a, b, C, x, y, dict(
            reg=reg, eta=eta, method=method, tol=tol, maxiter=maxiter, maxfev=maxfev,
            max_time=max_time, check_every=check_every, init=init, cost=cost, grad=grad,
            options=options, callback=callback, stopThr=stopThr, warn=warn, lazy=lazy))
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(f"options must be a dict, got {type(options).__name__}")
    options = dict(options or {})
    clash = sorted(set(options) - set(SNS_OPTIONS))
    if clash:  # raises TypeError naming them
        resolve_options(SNS_OPTIONS, {k: options[k] for k in clash}, owner="sinkhorn(options=...)")
    opts = _resolved_options(method, C, tol, maxiter, maxfev, max_time, check_every, cost,
                             options)
    eps = check_reg(reg, eta)
    if C is None:
        if x is None or y is None:
            raise TypeError("give either C or both point clouds x and y")
        C = LazyCost(x, y, opts["cost"]) if check_bool(lazy, "lazy") else cost_matrix(
            x, y, opts["cost"])
    elif x is not None or y is not None:
        raise TypeError("give either C or the point clouds x, y, not both")
    elif lazy:
        raise ValueError("lazy=True needs the point clouds x, y instead of C")
    C_in = C
    if isinstance(C, LazyCost):
        torch_in = is_torch_tensor(C.x)
    else:
        C, torch_in = check_cost(C)
    if not torch_in and grad != "envelope":
        raise ValueError(f"grad={grad!r} applies to torch input only (numpy input has no "
                         "gradient); leave grad at its default")
    n, m = C.shape
    device = C.device if torch_in else None
    a_in, b_in = (None if _empty(v) else v for v in (a, b))
    a = masses(a_in, "a", n, torch_in, device)
    b = masses(b_in, "b", m, torch_in, device)
    if a.shape[0] != n or b.shape[0] != m:
        raise ValueError(f"C has shape {(n, m)} but (len(a), len(b)) = {(a.shape[0], b.shape[0])}")
    sa, sb = float(a.sum()), float(b.sum())
    if sa == 0 or abs(sa - sb) > 1e-6 * max(sa, sb):
        raise ValueError(f"a and b must have equal positive totals, got sum(a)={sa!r}, "
                         f"sum(b)={sb!r}")
    method = opts["method"]
    f32 = str(C.dtype) in ("float32", "torch.float32")
    float32_passes = f32 and (method == "sinkhorn" or torch_in)
    # No plan meets both marginals closer than |sum a - sum b| / sum a (float32 masses that
    # sum to 1 differ by ~1e-9): the default tol stays above that floor.
    floor = 2.0 * abs(sa - sb) / sa
    if stopThr is not None:
        tol = stopThr
    else:
        tol = opts["tol"] if opts["tol"] is not None else max(
            1e-5 if float32_passes else 1e-9, floor)
    if isinstance(init, OptimizeResult):
        init = (init.f, init.g)
    if init is None:
        f0, g0 = np.zeros(n), np.zeros(m)
    else:
        f0, g0 = (host_vector(v, name, k) for v, name, k in zip(init, ("init[0]", "init[1]"), (n, m)))
    rows, cols = a > 0, b > 0
    full = bool(rows.all() and cols.all())
    lazy_in = isinstance(C_in, LazyCost)
    tracked = torch_in and grad != "detach" and _needs_grad(
        *((x, y) if lazy_in else (C_in,)), a_in, b_in)
    if tracked and grad in ("implicit", "autodiff"):
        if not full:
            raise ValueError(f"grad={grad!r} needs positive masses a and b (a zero mass sits on "
                             "the boundary where the plan is not differentiable); use "
                             "grad='envelope'")
        if grad == "autodiff" and method != "sinkhorn":
            raise ValueError("grad='autodiff' unrolls log-domain Sinkhorn sweeps: use "
                             f"method='sinkhorn' (got method={method!r})")
    run_options = {"maxiter": opts["maxiter"], "maxfev": opts["maxfev"],
                   "max_time": opts["max_time"], "check_every": opts["check_every"],
                   "callback": callback, "method": method, "result_type": OTResult}
    if tracked and grad == "autodiff":
        if lazy_in:
            res = _unrolled_lazy(x, y, C_in, a_in, b_in, (f0, g0), eps, tol, run_options)
        else:
            res = _unrolled(C_in, a_in, b_in, (f0, g0), eps, tol, run_options)
        _finish(res, tol, warn)
        return res
    on_device = torch_in
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
        res = run(solver, problem, x0=problem.x0, **run_options)
    _finish(res, tol, warn)
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
    if lazy_in and torch_in:
        _attach_lazy_gradients(res, grad if tracked else "detach", x, y, a_in, b_in, C_in,
                               rows, cols, int(np.argmax(b)))
    elif tracked:
        _attach_gradients(res, grad, C_in, a_in, b_in, plan_fn, int(np.argmax(b)), full)
    return res


def _batch_masses(v, name, size, length, torch_in, device):
    """Masses of a batch as a float64 numpy array (size, length): a shared 1-D vector (or
    None: uniform) repeated, or one validated row per problem."""
    if v is None or _ndim(v) == 1:
        return np.broadcast_to(masses(None if _empty(v) else v, name, length, torch_in,
                                      device), (size, length))
    if v.shape != (size, length):
        raise ValueError(f"{name} must have shape {(size, length)} in this batch, got "
                         f"{tuple(v.shape)}")
    return np.stack([masses(v[k], f"{name}[{k}]", length, torch_in, device)
                     for k in range(size)])


def _vectorised_batch(form, a, b, C, x, y, *, reg, eta, tol, stopThr, maxiter, maxfev,
                      max_time, check_every, cost, grad, warn):
    r"""A batch of ``method="sinkhorn"`` problems solved as one tensor program
    (:mod:`optkit.ot.batch_sinkhorn`), or None when a problem has a zero mass (the
    per-problem solver drops those rows and columns: :func:`optkit.ot.batch.solve_batch`).

    ``form`` is :func:`optkit.ot.batch.batch_form`'s: ``"columns"`` (POT's ``b (m, k)`` with
    one cost) or ``"batch"`` (a leading axis on ``C`` or on the clouds ``x``, ``y``)."""
    from .batch_sinkhorn import solve_vectorised

    opts = _resolved_options("sinkhorn", C, tol, maxiter, maxfev, max_time, check_every, cost)
    eps = check_reg(reg, eta)
    if C is None:
        if x is None or y is None:
            raise TypeError("give either C or both point clouds x and y")
        if form == "columns":
            C = cost_matrix(x, y, opts["cost"])
        else:
            size = x.shape[0] if _ndim(x) == 3 else y.shape[0]
            pick = [(x[k] if _ndim(x) == 3 else x, y[k] if _ndim(y) == 3 else y)
                    for k in range(size)]
            C = namespace(x, y).stack([cost_matrix(u, v, opts["cost"]) for u, v in pick])
    elif x is not None or y is not None:
        raise TypeError("give either C or the point clouds x, y, not both")
    shape = tuple(C.shape)
    Cd, torch_in = check_cost(C.reshape(-1, shape[-1]))
    Cd = Cd.reshape(shape)
    n, m = shape[-2:]
    if form == "columns":
        b_rows = b.T if not is_torch_tensor(b) else b.transpose(0, 1)
        size = b_rows.shape[0]
    else:
        b_rows = b
        sizes = {v.shape[0] for v in (a, b) if v is not None and _ndim(v) == 2}
        sizes.add(shape[0])
        if len(sizes) != 1:
            raise ValueError(f"the batch dimensions of a, b, C, x, y differ: {sorted(sizes)}")
        size = shape[0]
    device = Cd.device if torch_in else None
    a_h = _batch_masses(a, "a", size, n, torch_in, device)
    b_h = _batch_masses(b_rows, "b", size, m, torch_in, device)
    if not (np.all(a_h > 0) and np.all(b_h > 0)):
        return None
    sa, sb = a_h.sum(axis=1), b_h.sum(axis=1)
    bad = np.flatnonzero(np.abs(sa - sb) > 1e-6 * np.maximum(sa, sb))
    if bad.size:
        k = int(bad[0])
        raise ValueError(f"a and b must have equal positive totals in every problem, got "
                         f"sum(a)={sa[k]!r}, sum(b)={sb[k]!r} in problem {k}")
    float32 = str(Cd.dtype) in ("float32", "torch.float32")
    if stopThr is not None:
        tol = stopThr
    else:
        tol = opts["tol"] if opts["tol"] is not None else max(
            1e-5 if float32 else 1e-9, float(np.max(2.0 * np.abs(sa - sb) / sa)))
    xp = namespace(Cd)
    Cd = xp.astype(Cd, xp.float64)
    a_d, b_d = (xp.asarray(np.ascontiguousarray(v), dtype=xp.float64, device=device)
                for v in (a_h, b_h))
    tracked = torch_in and grad != "detach" and _needs_grad(C, a, b)
    a_graph, b_graph = a_d, b_d
    if tracked:
        a_graph = a_d if a is None else a.double().expand(size, n)
        b_graph = b_d if b is None else b_rows.double().expand(size, m)
    run_options = {"maxiter": opts["maxiter"], "maxfev": opts["maxfev"],
                   "max_time": opts["max_time"], "check_every": opts["check_every"]}
    res = solve_vectorised(a_d, b_d, Cd, C, a_graph, b_graph, eps=eps, tol=tol,
                           run_options=run_options, tracked=tracked)
    if warn and not res.success:
        warnings.warn(f"sinkhorn did not converge: {res.message} Increase the budget "
                      "(maxiter, POT's numItermax; maxfev; max_time) or reg, or use "
                      "method='sns'.", UserWarning, stacklevel=3)
    return res


def _one_of(value, name, pot_value, pot_name):
    """``value``, or POT's name for it (``numItermax``, ``stopThr``); not both."""
    if pot_value is None:
        return value
    if value is not None:
        raise TypeError(f"give {name} or POT's {pot_name}, not both")
    return pot_value


def _empty(v) -> bool:
    """POT's ``a=[]`` (uniform masses): a sequence or array of length 0."""
    return v is not None and np.ndim(v) == 1 and len(v) == 0


def _needs_grad(*tensors) -> bool:
    import torch

    return torch.is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in tensors)


def _finish(res, tol, warn) -> None:
    """The marginal error in the message of a run that did not converge, and POT's warning.

    A run whose error estimate met ``tol`` while the final plan does not (float32 passes
    below their rounding floor) is not a success (status 5)."""
    if res.success and res.marginal_error > 1.01 * tol:
        res.update(success=False, status=STATUS["stalled"],
                   message="The iteration's error estimate met tol but the final plan does not "
                           "(float32 rounding floor).")
    if res.success:
        return
    rel = "<=" if res.marginal_error <= tol else ">"
    res.message = f"{res.message} Marginal error {res.marginal_error:.3e} {rel} tol {tol:.1e}."
    if warn and res.status != STATUS["callback"]:
        hint = " or use method='sns'" if res.method == "sinkhorn" else ""
        warnings.warn(f"sinkhorn did not converge: {res.message} Increase the budget (maxiter, "
                      f"POT's numItermax; maxfev; max_time) or reg{hint}.", UserWarning,
                      stacklevel=3)


def _mass_tensor(v, size, like):
    """A float64 tensor of masses on ``like``'s device (uniform for None), whose gradient is
    centred (:func:`optkit.ot.autograd.centre_gradient`)."""
    import torch

    from .autograd import centre_gradient

    if v is None:
        return torch.full((size,), 1.0 / size, dtype=torch.float64, device=like.device)
    return centre_gradient(v.double() if v.dtype != torch.float64 else v)


def _attach_gradients(res, grad, C, a, b, plan_fn, j0, full) -> None:
    r"""Make ``dual``, ``ent_reg_cost`` (``"envelope"``), or also ``cost``, ``plan``, ``f``,
    ``g`` (``"implicit"``) differentiable tensors on ``C``'s graph (module
    :mod:`optkit.ot.autograd`)."""
    import torch

    from .autograd import (
        EnvelopeValue,
        ImplicitPotentials,
        KKTAdjoint,
        differentiable_fields,
        gauge_fixed,
        gibbs_plan,
    )

    n, m = C.shape
    a_t, b_t = _mass_tensor(a, n, C), _mass_tensor(b, m, C)
    if grad == "envelope":
        def scaled_plan(scale):
            if full:
                return gibbs_plan(C.detach(), res.f, res.g, res.reg, scale)
            return plan_fn() * scale.to(C.dtype)

        def value(v):
            v = torch.tensor(v, dtype=torch.float64, device=C.device)
            return EnvelopeValue.apply(C, a_t, b_t, v, res.f, res.g, scaled_plan)

        res.dual, res.ent_reg_cost = value(res.dual), value(res.ent_reg_cost)
        res.cost = torch.tensor(res.cost, dtype=torch.float64, device=C.device)
        return
    f, g = gauge_fixed(res.f, res.g)
    adjoint = KKTAdjoint(C.detach(), f, g, res.reg, j0)
    res.f, res.g = ImplicitPotentials.apply(C, a_t, b_t, f, g, adjoint)
    res.x = torch.cat([f, g])
    fields = differentiable_fields(C, a_t, b_t, res.f, res.g, res.reg)
    plan = fields.pop("plan")
    res.update(fields)
    res.set_plan(lambda: plan)
    res.__dict__.pop("plan", None)


def _attach_lazy_gradients(res, grad, x, y, a, b, lazy_cost, rows, cols, j0) -> None:
    r"""Gradients of a solve on a lazy torch cost (:mod:`optkit.ot.lazy_autograd`), with
    neither C nor P formed; every such result gets ``lazy_plan``
    (:class:`~optkit.ot.lazy_autograd.LazyPlan`).

    ``"envelope"``: ``dual`` and ``ent_reg_cost`` carry :math:`\partial_{x_i} = \sum_j
    P^*_{ij}\nabla_x c(x_i, y_j)` (and for ``y``, ``a``, ``b``), by blocks of rows in the
    backward; ``lazy_plan`` carries no gradient (as ``plan`` in the dense envelope mode).
    ``"implicit"``: ``f``, ``g`` (gauge-fixed) are the implicit functions of the points and
    masses (:class:`~optkit.ot.lazy_autograd.LazyImplicitPotentials`), and ``cost``,
    ``dual``, ``ent_reg_cost``, ``lazy_plan`` (and ``plan``, formed when read) follow from
    them. ``"detach"``: ``lazy_plan`` on the detached clouds."""
    import torch

    from .autograd import gauge_fixed
    from .lazy_autograd import (
        LazyEnvelopeValue,
        LazyImplicitPotentials,
        LazyKKTAdjoint,
        LazyPlan,
    )

    n, m = lazy_cost.shape
    like = res.f
    masks = [None if v.all() else torch.as_tensor(v, dtype=torch.float64, device=like.device)
             for v in (rows, cols)]
    if grad in ("envelope", "detach"):
        plan = LazyPlan(lazy_cost.x, lazy_cost.y, res.f, res.g, res.reg, lazy_cost.cost, *masks)
        res.lazy_plan = plan
        if grad == "detach":
            return
        a_t, b_t = _mass_tensor(a, n, like), _mass_tensor(b, m, like)

        def value(v):
            v = torch.tensor(v, dtype=torch.float64, device=like.device)
            return LazyEnvelopeValue.apply(x, y, a_t, b_t, v, plan)

        res.dual, res.ent_reg_cost = value(res.dual), value(res.ent_reg_cost)
        res.cost = torch.tensor(res.cost, dtype=torch.float64, device=like.device)
        return
    a_t, b_t = _mass_tensor(a, n, like), _mass_tensor(b, m, like)
    f, g = gauge_fixed(res.f, res.g)
    adjoint = LazyKKTAdjoint(lazy_cost, f, g, res.reg, j0)
    res.f, res.g = LazyImplicitPotentials.apply(x, y, a_t, b_t, f, g, adjoint)
    res.x = torch.cat([f, g])
    _lazy_fields(res, LazyPlan(x, y, res.f, res.g, res.reg, lazy_cost.cost), a_t, b_t)


def _lazy_fields(res, plan, a_t, b_t) -> None:
    r"""``cost`` :math:`\langle C, P\rangle`, ``dual`` :math:`D(f, g)`, ``ent_reg_cost``
    :math:`\langle P1, f\rangle + \langle P^\top 1, g\rangle` from the differentiable
    potentials of ``plan`` (one pass over the clouds, one more in the backward), and
    ``lazy_plan``; ``plan`` forms the n x m plan when read."""
    total, cost, ent = plan.value_terms().unbind()
    res.update(cost=cost, ent_reg_cost=ent,
               dual=(a_t * plan.f).sum() + (b_t * plan.g).sum() - plan.eps * total)
    res.lazy_plan = plan
    res.set_plan(plan.dense)
    res.__dict__.pop("plan", None)


def _unrolled_lazy(x, y, lazy_cost, a, b, init, eps, tol, run_options) -> OTResult:
    r"""``grad="autodiff"`` on a lazy cost: the log-domain sweeps of
    :class:`~optkit.ot.log_sinkhorn.SinkhornSolver` with each log-sum-exp pass an autograd
    node of :math:`O((n + m)d)` saved memory (:class:`~optkit.ot.lazy_autograd.
    LazyLogSumExp`), so the potentials carry the graph through every sweep without any n x m
    array on the tape."""
    import torch

    from .lazy_autograd import LazyPlan, LazySweepKernels
    from .log_sinkhorn import SinkhornSolver
    from .problem import OTProblem

    n, m = lazy_cost.shape
    like = lazy_cost.like
    a_t, b_t = _mass_tensor(a, n, like), _mass_tensor(b, m, like)
    f0, g0 = (torch.as_tensor(v, dtype=torch.float64, device=like.device) for v in init)
    problem = OTProblem(LazySweepKernels(x, y, lazy_cost, eps), a_t, b_t, eps, tol, (f0, g0))
    res = run(SinkhornSolver(), problem, x0=problem.x0, **run_options)
    res.reg = eps
    _lazy_fields(res, LazyPlan(x, y, res.f, res.g, eps, lazy_cost.cost), a_t, b_t)
    return res


def _unrolled(C, a, b, init, eps, tol, run_options) -> OTResult:
    r"""``grad="autodiff"``: log-domain Sinkhorn sweeps (:class:`~optkit.ot.log_sinkhorn.
    SinkhornSolver`) on tensors that keep their autograd graph, so the potentials, and the
    fields built from them, are differentiable through every sweep."""
    import torch

    from ._torch_kernels import TorchKernels
    from .autograd import differentiable_fields
    from .log_sinkhorn import SinkhornSolver
    from .problem import OTProblem

    n, m = C.shape
    a_t, b_t = _mass_tensor(a, n, C), _mass_tensor(b, m, C)
    f0, g0 = (torch.as_tensor(v, dtype=torch.float64, device=C.device) for v in init)
    problem = OTProblem(TorchKernels(C), a_t, b_t, eps, tol, (f0, g0))
    res = run(SinkhornSolver(), problem, x0=problem.x0, **run_options)
    fields = differentiable_fields(C, a_t, b_t, res.f, res.g, eps)
    plan = fields.pop("plan")
    res.update(fields)
    res.set_plan(lambda: plan)
    res.reg = eps
    return res
