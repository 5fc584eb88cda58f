r"""POT's call shapes over :func:`optkit.ot.sinkhorn`.

A POT user changes one import: ``from optkit.ot.compat import sinkhorn, sinkhorn2`` take POT's
``ot.sinkhorn`` / ``ot.sinkhorn2`` arguments (``a``, ``b``, ``M``, ``reg``, ``method``,
``numItermax``, ``stopThr``, ``verbose``, ``log``, ``warn``, ``warmstart``; ``a=[]``/``b=[]``
for uniform masses) and return what POT returns: the plan (or the linear cost
:math:`\langle M, P\rangle`), with ``(value, log)`` when ``log=True``. Non-convergence warns
(``UserWarning``) as POT does. :func:`empirical_sinkhorn`, :func:`empirical_sinkhorn2` and
:func:`empirical_sinkhorn_divergence` take POT's point-cloud forms (``ot.bregman.empirical_*``),
with ``isLazy=True`` on optkit's lazy costs (the cost matrix is never formed).

Differences from POT, by design:

- ``method`` is ``"sinkhorn_log"``, ``"sinkhorn"`` (both run optkit's log-domain Sinkhorn,
  which has the same fixed point as POT's kernel-domain one and does not underflow) or
  ``"sns"``; POT's other variants (``"greenkhorn"``, ``"sinkhorn_stabilized"``,
  ``"sinkhorn_epsilon_scaling"``, ...) raise ``ValueError``.
- ``stopThr`` bounds the L1 marginal error of both marginals, checked every iteration (POT:
  the L2 error of the columns every 10 iterations), so it never stops earlier than POT.
- ``reg`` must be positive (POT warns about NaNs with ``reg=0``).
- Torch input that requires gradients is differentiated implicitly (``grad="implicit"``):
  the exact derivative of the converged plan and cost, as POT's unrolled autodiff
  approaches it, without storing the iterations.
- Several ``b`` columns (POT's batched form, ``b`` of shape ``(m, k)``): both functions return
  the ``k`` costs :math:`\langle M, P_k\rangle`, as POT's ``sinkhorn`` does there.
"""

from __future__ import annotations

import numpy as np

from optkit.core.backend import is_torch_tensor, namespace, to_numpy
from optkit.core.validate import as_real_array, check_bool, check_in, check_int

from .batch import BatchOTResult
from .costs import _check_clouds
from .problem import check_reg
from .sinkhorn import sinkhorn as _sinkhorn

__all__ = ["sinkhorn", "sinkhorn2", "empirical_sinkhorn", "empirical_sinkhorn2",
           "empirical_sinkhorn_divergence", "METHODS", "METRICS"]

#: POT's method names that optkit runs, and optkit's method for each.
METHODS = {"sinkhorn": "sinkhorn", "sinkhorn_log": "sinkhorn", "sns": "sns"}

#: POT's ``ot.dist`` metrics that the empirical functions take, and optkit's cost for each.
METRICS = {"sqeuclidean": "sqeuclidean", "euclidean": "euclidean", "cityblock": "l1"}


def _solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart, **clouds):
    """optkit's sinkhorn on ``M``, or on the clouds ``x``, ``y`` with ``cost`` and ``lazy``."""
    check_in(method, "method", tuple(METHODS))
    check_bool(verbose, "verbose")
    check_bool(log, "log")
    init = None
    if warmstart is not None:
        if not isinstance(warmstart, (tuple, list)) or len(warmstart) != 2:
            raise TypeError("warmstart must be a pair (log_u, log_v) of dual potentials "
                            f"divided by reg, got {type(warmstart).__name__}")
        eps = check_reg(reg, None)
        init = tuple(eps * as_real_array(to_numpy(w), f"warmstart[{k}]")
                     for k, w in enumerate(warmstart))
    grad = "implicit" if is_torch_tensor(M) or is_torch_tensor(clouds.get("x")) else "envelope"
    res = _sinkhorn(a, b, M, reg, method=METHODS[method], numItermax=numItermax,
                    stopThr=stopThr, init=init, grad=grad, warn=warn, **clouds)
    if verbose:
        for one in res.results if isinstance(res, BatchOTResult) else [res]:
            print(f"{'It.':>5s}|{'Err':>12s}")
            print("-" * 19)
            for nit, err in zip(one.trace["nit"], one.trace["err"]):
                print(f"{int(nit):5d}|{err:12.6e}")
    return res


def _log(res, reg) -> dict:
    """POT's log dict: ``niter``, ``err`` (per checked iteration), ``log_u``, ``log_v``
    (:math:`f/\\varepsilon`, :math:`g/\\varepsilon`; one column per problem for several ``b``),
    ``u``, ``v``, and optkit's ``result``."""
    xp = namespace(res.f)
    log_u, log_v = res.f / reg, res.g / reg
    if isinstance(res, BatchOTResult):
        log_u, log_v = log_u.T, log_v.T
        niter, err = res.nit, [list(r.trace["err"]) for r in res.results]
    else:
        niter, err = res.nit, list(res.trace["err"])
    return {"niter": niter, "err": err, "log_u": log_u, "log_v": log_v,
            "u": xp.exp(log_u), "v": xp.exp(log_v), "result": res}


def sinkhorn(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False,
             log=False, warn=True, warmstart=None):
    r"""The entropic OT plan, with POT's ``ot.sinkhorn`` signature and return values.

    Solves :math:`\min_{P1 = a, P^\top 1 = b} \langle M, P\rangle + \mathrm{reg}\sum P(\log P
    - 1)` by :func:`optkit.ot.sinkhorn` (module docstring for the differences from POT).

    Parameters
    ----------
    a, b : array (n,), (m,)
        Masses; ``[]`` means uniform.
    M : array (n, m)
        Cost (numpy or torch).
    reg : float
        :math:`\varepsilon > 0`.
    method : {"sinkhorn", "sinkhorn_log", "sns"}
    numItermax : int
        Budget of iterations.
    stopThr : float
        Target L1 marginal error (0: run the whole budget).
    verbose : bool
        Print the error of every iteration after the run.
    log : bool
        Also return POT's log dict (``niter``, ``err``, ``log_u``, ``log_v``, ``u``, ``v``) and
        the :class:`~optkit.ot.OTResult` under ``"result"``.
    warn : bool
        ``UserWarning`` when the run did not converge.
    warmstart : (array, array), optional
        Initial dual potentials divided by ``reg`` (POT's ``log_u``, ``log_v``).

    Returns
    -------
    plan : array (n, m)
        In ``M``'s type, dtype and device; ``(plan, log)`` when ``log=True``. For several
        ``b`` columns the costs of the ``k`` plans (POT's return value there).
    """
    res = _solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart)
    value = res.cost if isinstance(res, BatchOTResult) else res.plan
    return (value, _log(res, reg)) if log else value


def sinkhorn2(a, b, M, reg, method="sinkhorn", numItermax=1000, stopThr=1e-9, verbose=False,
              log=False, warn=True, warmstart=None):
    r"""The linear cost :math:`\langle M, P\rangle` of the entropic plan, with POT's
    ``ot.sinkhorn2`` signature (see :func:`sinkhorn` for the parameters).

    Returns
    -------
    float or Tensor
        :math:`\langle M, P\rangle` (a 0-d tensor for torch input, differentiable in ``M``,
        ``a``, ``b``); ``(value, log)`` when ``log=True``.
    """
    res = _solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart)
    value = res.cost
    if is_torch_tensor(M) and not is_torch_tensor(value):
        import torch

        value = torch.tensor(value, dtype=M.dtype, device=M.device)
    elif is_torch_tensor(value):
        value = value.to(M.dtype)
    return (value, _log(res, reg)) if log else value


def _empirical(X_s, X_t, metric, numIterMax, batchSize):
    """optkit's cost for POT's ``metric``; the clouds and budgets checked under POT's names
    (``X_s``, ``X_t``, ``numIterMax``, ``batchSize``)."""
    check_in(metric, "metric", tuple(METRICS))
    X_s, X_t = _check_clouds(X_s, X_t, METRICS[metric], names=("X_s", "X_t"))
    for v, name in ((X_s, "X_s"), (X_t, "X_t")):
        xp = namespace(v)
        if not bool(xp.all(xp.isfinite(v))):
            raise ValueError(f"{name} must be finite (no NaN or inf)")
    check_int(numIterMax, "numIterMax", minimum=1)
    _batch_size(batchSize)
    return METRICS[metric]


def _batch_size(batchSize):
    """POT's ``batchSize`` (an int or a pair of ints), checked; optkit's lazy kernels size
    their blocks from the memory they may use, so it does not change the result."""
    sizes = batchSize if isinstance(batchSize, tuple) else (batchSize,)
    if len(sizes) not in (1, 2) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
            for v in sizes):
        raise ValueError(f"batchSize must be a positive int or a pair of positive ints, "
                         f"got {batchSize!r}")


class _IndexedPlan:
    r"""The plan :math:`P_{ij} = e^{f_i + g_j - C(x_i, y_j)/\varepsilon}` of a lazy solve
    (``f``, ``g`` divided by :math:`\varepsilon`, as POT's ``log_u``, ``log_v``), formed
    only where indexed: ``plan[:]`` is the whole plan, ``plan[i, j]`` one entry, ``plan[rows]``
    some rows (POT's ``log["lazy_plan"]``)."""

    def __init__(self, x, y, log_u, log_v, reg, cost):
        self.x, self.y, self.log_u, self.log_v, self.reg, self.cost = x, y, log_u, log_v, reg, cost
        self.shape = (x.shape[0], y.shape[0])

    def __getitem__(self, key):
        from .costs import cost_matrix

        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        x, u = self.x[rows], self.log_u[rows]
        one_row = x.ndim == 1
        if one_row:
            x, u = x[None], u[None]
        C = cost_matrix(x, self.y, self.cost)
        P = namespace(C).exp(u[:, None] + self.log_v[None, :] - C / self.reg)[:, cols]
        return P[0] if one_row else P


def _lazy(X_s, X_t, reg, a, b, cost, method, numIterMax, stopThr, verbose, log, warn,
          warmstart):
    """optkit's solve on the lazy cost of the clouds, and POT's lazy log (where ``u``, ``v``
    are the log-scalings, as ``log_u``, ``log_v``)."""
    res = _solve(a, b, None, reg, method, numIterMax, stopThr, verbose, log, warn, warmstart,
                 x=X_s, y=X_t, cost=cost, lazy=True)
    info = _log(res, reg)
    info.update(u=info["log_u"], v=info["log_v"],
                lazy_plan=_IndexedPlan(X_s, X_t, info["log_u"], info["log_v"], reg, cost))
    return res, info


def empirical_sinkhorn(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean", numIterMax=10000,
                       stopThr=1e-9, isLazy=False, batchSize=100, verbose=False, log=False,
                       warn=True, warmstart=None, method="sinkhorn"):
    r"""The entropic OT plan between point clouds, with POT's ``ot.bregman.empirical_sinkhorn``
    signature and return values.

    Parameters
    ----------
    X_s, X_t : array (n, d), (m, d)
        The clouds (numpy or torch).
    reg : float
        :math:`\varepsilon > 0`.
    a, b : array, optional
        Masses (uniform when None).
    metric : {"sqeuclidean", "euclidean", "cityblock"}
        The ground cost :math:`C(x_i, y_j)` (POT's ``ot.dist`` names).
    numIterMax, stopThr, verbose, log, warn, warmstart, method
        As in :func:`sinkhorn`.
    isLazy : bool
        Solve on optkit's lazy cost (:class:`~optkit.ot.costs.LazyCost`, O((n + m) d)
        memory) and return the potentials instead of the plan.
    batchSize : int or (int, int)
        Checked for POT's types; optkit sizes the lazy blocks itself.

    Returns
    -------
    plan : array (n, m)
        Without ``isLazy`` (``(plan, log)`` with ``log=True``, as :func:`sinkhorn`).
    log_u, log_v : array (n,), (m,)
        With ``isLazy``: :math:`f/\varepsilon`, :math:`g/\varepsilon`, so that
        :math:`P = e^{\log u_i + \log v_j - C_{ij}/\varepsilon}`; ``(log_u, log_v, log)``
        with ``log=True``, where ``log`` also holds ``u``, ``v`` (POT's lazy log: the same
        log-scalings), ``niter``, ``err`` and ``lazy_plan`` (an indexable plan, formed only
        where indexed).
    """
    cost = _empirical(X_s, X_t, metric, numIterMax, batchSize)
    if not check_bool(isLazy, "isLazy"):
        from .costs import cost_matrix

        return sinkhorn(a, b, cost_matrix(X_s, X_t, cost), reg, method=method,
                        numItermax=numIterMax, stopThr=stopThr, verbose=verbose, log=log,
                        warn=warn, warmstart=warmstart)
    _, info = _lazy(X_s, X_t, reg, a, b, cost, method, numIterMax, stopThr, verbose, log, warn,
                    warmstart)
    return (info["log_u"], info["log_v"], info) if log else (info["log_u"], info["log_v"])


def empirical_sinkhorn2(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean", numIterMax=10000,
                        stopThr=1e-9, isLazy=False, batchSize=100, verbose=False, log=False,
                        warn=True, warmstart=None, method="sinkhorn"):
    r"""The linear cost :math:`\langle C, P\rangle` of the entropic plan between point clouds,
    with POT's ``ot.bregman.empirical_sinkhorn2`` signature (see :func:`empirical_sinkhorn`).

    Returns
    -------
    float or Tensor
        :math:`\langle C, P\rangle` (``(value, log)`` with ``log=True``); torch input that
        requires gradients is differentiated implicitly (``grad="implicit"``), as
        :func:`sinkhorn2`.
    """
    cost = _empirical(X_s, X_t, metric, numIterMax, batchSize)
    if not check_bool(isLazy, "isLazy"):
        from .costs import cost_matrix

        return sinkhorn2(a, b, cost_matrix(X_s, X_t, cost), reg, method=method,
                         numItermax=numIterMax, stopThr=stopThr, verbose=verbose, log=log,
                         warn=warn, warmstart=warmstart)
    res, info = _lazy(X_s, X_t, reg, a, b, cost, method, numIterMax, stopThr, verbose, log,
                      warn, warmstart)
    value = res.cost
    if is_torch_tensor(X_s):
        import torch

        value = torch.as_tensor(value, device=X_s.device).to(X_s.dtype)
    return (value, info) if log else value


def empirical_sinkhorn_divergence(X_s, X_t, reg, a=None, b=None, metric="sqeuclidean",
                                  numIterMax=10000, stopThr=1e-9, verbose=False, log=False,
                                  warn=True, warmstart=None, isLazy=False, batchSize=100,
                                  method="sinkhorn"):
    r"""POT's ``ot.bregman.empirical_sinkhorn_divergence``: :math:`\max(0, W_{ab} -
    \tfrac12(W_{aa} + W_{bb}))`, :math:`W` the linear cost of :func:`empirical_sinkhorn2`
    (Genevay, Peyré & Cuturi, AISTATS 2018).

    This is POT's definition, on the linear costs and clipped at 0. The debiased divergence
    of Feydy et al. (AISTATS 2019) on the entropic costs, nonnegative without a clip and
    with exact gradients, is :func:`optkit.ot.sinkhorn_divergence`.

    Parameters
    ----------
    warmstart : (array, array), optional
        POT's: ``(u, v)`` warm-starts the cross problem; ``(u, u)`` and ``(v, v)`` the two
        symmetric ones.

    Other parameters are those of :func:`empirical_sinkhorn2`.

    Returns
    -------
    float or Tensor
        The divergence; ``(value, log)`` with ``log=True``, ``log`` holding
        ``sinkhorn_loss_ab``, ``sinkhorn_loss_a``, ``sinkhorn_loss_b`` and the three
        solves' logs ``log_sinkhorn_ab``, ``log_sinkhorn_a``, ``log_sinkhorn_b``.
    """
    starts = (warmstart, None, None)
    if warmstart is not None:
        u, v = warmstart
        starts = (warmstart, (u, u), (v, v))
    common = dict(metric=metric, numIterMax=numIterMax, stopThr=stopThr, verbose=verbose,
                  log=True, warn=warn, isLazy=isLazy, batchSize=batchSize, method=method)
    (w_ab, log_ab), (w_a, log_a), (w_b, log_b) = (
        empirical_sinkhorn2(p, q, reg, wp, wq, warmstart=start, **common)
        for (p, q, wp, wq), start in zip(((X_s, X_t, a, b), (X_s, X_s, a, a),
                                          (X_t, X_t, b, b)), starts))
    value = w_ab - 0.5 * (w_a + w_b)
    value = value.clamp(min=0) if is_torch_tensor(value) else max(0.0, float(value))
    if not log:
        return value
    return value, {"sinkhorn_loss_ab": w_ab, "sinkhorn_loss_a": w_a, "sinkhorn_loss_b": w_b,
                   "log_sinkhorn_ab": log_ab, "log_sinkhorn_a": log_a,
                   "log_sinkhorn_b": log_b}
