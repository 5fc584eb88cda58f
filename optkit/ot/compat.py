r"""POT's call shapes over :func:`optkit.ot.sinkhorn`.

A POT user changes one import: ``from optkit.ot.compat import sinkhorn, sinkhorn2`` take POT's
``ot.sinkhorn`` / ``ot.sinkhorn2`` arguments (``a``, ``b``, ``M``, ``reg``, ``method``,
``numItermax``, ``stopThr``, ``verbose``, ``log``, ``warn``, ``warmstart``; ``a=[]``/``b=[]``
for uniform masses) and return what POT returns: the plan (or the linear cost
:math:`\langle M, P\rangle`), with ``(value, log)`` when ``log=True``. Non-convergence warns
(``UserWarning``) as POT does.

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

from optkit.core.backend import is_torch_tensor, namespace
from optkit.core.validate import check_bool, check_in

from .batch import BatchOTResult
from .sinkhorn import sinkhorn as _sinkhorn

__all__ = ["sinkhorn", "sinkhorn2", "METHODS"]

#: POT's method names that optkit runs, and optkit's method for each.
METHODS = {"sinkhorn": "sinkhorn", "sinkhorn_log": "sinkhorn", "sns": "sns"}


def _solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart):
    check_in(method, "method", tuple(METHODS))
    check_bool(verbose, "verbose")
    check_bool(log, "log")
    init = None
    if warmstart is not None:
        init = tuple(reg * np.asarray(w, dtype=np.float64) for w in warmstart)
    grad = "implicit" if is_torch_tensor(M) else "envelope"
    res = _sinkhorn(a, b, M, reg, method=METHODS[method], numItermax=numItermax,
                    stopThr=stopThr, init=init, grad=grad, warn=warn)
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
