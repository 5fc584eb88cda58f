r"""Batches of entropic OT problems for :func:`optkit.ot.sinkhorn`.

Two forms:

- a leading batch dimension: ``C (B, n, m)`` or point clouds ``x (B, n, d)``, ``y (B, m, d)``
  with ``a (B, n)``, ``b (B, m)`` (a 1-D ``a`` or ``b``, or None, is shared by every problem;
  a cost shared by a batch of masses is given expanded, e.g. ``C.expand(B, n, m)``);
- POT's several-``b`` form: ``a (n,)``, ``b (m, k)`` and one ``C (n, m)``, i.e. ``k``
  problems sharing ``a`` and ``C`` (POT ``ot.sinkhorn2``, which then returns ``k`` costs).

With ``method="sinkhorn"`` and positive masses the batch runs as one tensor program
(:mod:`optkit.ot.batch_sinkhorn`, per-problem stopping masks). Otherwise (SNS, zero masses,
``init``, ``callback``) :func:`solve_batch` solves each problem on its own by the unbatched
solver (its own potentials, stopping test and budgets), one after another on the input's
device, and stacks the results in a :class:`BatchOTResult`: they equal the per-problem
results exactly.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import OptimizeResult

from optkit.core.backend import is_torch_tensor, namespace

__all__ = ["BatchOTResult", "batch_form", "solve_batch"]

_STACKED = ("f", "g", "x", "fun", "dual", "cost", "ent_reg_cost", "marginal_error", "nit",
            "nfev", "n_sinkhorn", "n_newton", "n_cg", "status")


class BatchOTResult(OptimizeResult):
    """Stacked results of ``B`` problems (batch axis first).

    Attributes
    ----------
    f, g : arrays (B, n), (B, m)
    cost, dual, fun, ent_reg_cost, marginal_error : arrays (B,)
        float64, numpy (costs as POT's ``sinkhorn2`` returns them for several ``b``).
    nit, nfev, n_sinkhorn, n_newton, n_cg, status : int arrays (B,)
    success : bool
        Every problem converged; ``successes`` holds the per-problem flags and ``message``
        names the problems that did not.
    results : list of OTResult
        The per-problem results (``results[i].plan`` forms one plan).
    plan : array (B, n, m)
        Formed when read (the vectorised batch forms it with its final statistics).
    vectorised : bool
        Present and True when the batch ran as one tensor program
        (:mod:`optkit.ot.batch_sinkhorn`); there ``dual`` and ``ent_reg_cost`` are float64
        tensors carrying the envelope gradient on torch input that requires gradients.
    """

    @property
    def plan(self):
        if "_plan_fn" in self.__dict__:
            return self.__dict__["_plan_fn"]()
        xp = namespace(self.f)
        return xp.stack([r.plan for r in self.results])

    def set_plan(self, plan_fn) -> None:
        """Attach the function that forms the (B, n, m) plans when read."""
        self.__dict__["_plan_fn"] = plan_fn

    def __repr__(self) -> str:
        return (f"BatchOTResult(B={len(self.results)}, success={self.success}, "
                f"cost={self.cost}, marginal_error={self.marginal_error})")


def _ndim(v):
    return None if v is None else (v.ndim if hasattr(v, "ndim") else np.ndim(v))


def batch_form(a, b, C, x, y) -> str | None:
    """``"batch"`` (a 3-D ``C``, ``x`` or ``y``: leading batch axis), ``"columns"`` (POT's
    several ``b``: ``b (m, k)`` with a 1-D or absent ``a`` and one 2-D ``C`` or ``x``, ``y``)
    or None. Any other 2-D mass is left to the unbatched validation (``ValueError``)."""
    if any(v is not None and _ndim(v) == 3 for v in (C, x, y)):
        return "batch"
    if _ndim(b) == 2 and _ndim(a) in (None, 1):
        m = C.shape[1] if C is not None and _ndim(C) == 2 else (
            y.shape[0] if y is not None and _ndim(y) == 2 else None)
        if m is not None and b.shape[0] == m:
            return "columns"
    return None


def _size(v, form):
    if v is None or _ndim(v) < (3 if form == "cloud" else 2):
        return None
    return v.shape[0]


def _pick(v, i, batched_ndim):
    return v[i] if v is not None and _ndim(v) == batched_ndim else v


def solve_batch(solve, form, a, b, C, x, y, kwargs) -> BatchOTResult:
    """Solve every problem with ``solve(a, b, C, x=..., y=..., **kwargs)`` and stack."""
    if form == "columns":
        columns = b.T if not is_torch_tensor(b) else b.transpose(0, 1)
        problems = [(a, columns[j], C, x, y) for j in range(b.shape[1])]
    else:
        sizes = {s for s in (_size(a, "mass"), _size(b, "mass"), _size(C, "cloud"),
                             _size(x, "cloud"), _size(y, "cloud")) if s is not None}
        if len(sizes) != 1:
            raise ValueError(f"the batch dimensions of a, b, C, x, y differ: {sorted(sizes)}")
        size = sizes.pop()
        problems = [(_pick(a, i, 2), _pick(b, i, 2), _pick(C, i, 3), _pick(x, i, 3),
                     _pick(y, i, 3)) for i in range(size)]
    if not problems:
        raise ValueError("the batch is empty")
    results = [solve(pa, pb, pC, x=px, y=py, **kwargs) for pa, pb, pC, px, py in problems]
    out = BatchOTResult()
    xp = namespace(results[0].f)
    for key in _STACKED:
        values = [r[key] for r in results]
        out[key] = xp.stack(values) if key in ("f", "g", "x") else np.asarray(values)
    out["successes"] = np.array([bool(r.success) for r in results])
    out["success"] = bool(out["successes"].all())
    failed = np.flatnonzero(~out["successes"])
    out["message"] = ("all problems converged" if failed.size == 0 else
                      f"problems {failed.tolist()} did not converge: "
                      + results[int(failed[0])].message)
    out["results"] = results
    out["reg"] = results[0].reg
    return out
