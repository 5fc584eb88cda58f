"""The result of :func:`optkit.ot.sinkhorn`: an :class:`~scipy.optimize.OptimizeResult`."""

from __future__ import annotations

from functools import cached_property

from optkit.core.result import OptimizeResult

__all__ = ["OTResult"]


class OTResult(OptimizeResult):
    r"""Result of :func:`~optkit.ot.sinkhorn` (a :class:`scipy.optimize.OptimizeResult`).

    Attributes
    ----------
    x : ndarray or Tensor (n + m,), float64
        The dual potentials ``(f, g)`` concatenated (a torch tensor on ``C``'s device for
        torch input): the iterate of the dual ascent, and the smallest object that
        determines the plan.
    fun : float
        :math:`D(f, g)`, the entropic dual at ``x``; equals the primal optimum
        :math:`\min_P \langle C,P\rangle + \varepsilon\sum P(\log P - 1)` at convergence.
    f, g : ndarray or Tensor (float64)
        The potentials (soft c-transforms on zero-mass entries).
    plan : ndarray or Tensor
        :math:`P_{ij} = e^{(f_i + g_j - C_{ij})/\varepsilon}`, formed on first read, in ``C``'s
        dtype (and device).
    lazy_plan : LazyPlan
        Only for lazy torch costs (``sinkhorn(x=, y=, lazy=True)``): the plan as an operator
        that is never formed (:class:`~optkit.ot.lazy_autograd.LazyPlan`: ``matvec``,
        ``rmatvec``, ``sum``, ``apply(fn)`` by blocks of rows), differentiable with
        ``grad="implicit"`` or ``"autodiff"``.
    cost : float or Tensor
        :math:`\langle C, P\rangle`.
    dual : float or Tensor
        :math:`D(f, g)` (the same value as ``fun``, which stays a float).
    ent_reg_cost : float or Tensor
        :math:`\langle C, P\rangle - \varepsilon H(P)`, :math:`H = -\sum P\log P` (OTT's
        ``ent_reg_cost``); equals ``dual + reg * sum(a)`` at exact marginals.
    marginal_error : float
        :math:`(\|P1 - a\|_1 + \|P^\top 1 - b\|_1)/\sum a` at ``x``.
    nit, n_sinkhorn, n_newton, n_cg, n_trials : int
        Iterations (Sinkhorn sweeps + Newton steps, as the SNS paper counts them); sweeps;
        Newton steps; CG iterations; line-search trials up to the accepted one (on torch
        input all trials of a step are evaluated in one pass and read once per Newton step).
    nfev : int
        Passes over the cost matrix (a sweep is two, a line-search trial one).
    success, status, message
        ``optkit.core.STATUS``: 0 converged (``marginal_error <= tol``), 1 ``maxiter``,
        6 ``maxfev``, 9 ``max_time``, 3 non-finite dual, 99 stopped by the callback.
    trace : optkit.core.Trace
        One record per checked iteration: ``nit``, ``fun`` (the dual), ``err``, ``kind``
        (``"sinkhorn"``, ``"newton"``, ``"rejected"``), ``time``, ``n_value`` (passes), and
        for Newton steps ``alpha``, ``kappa``, ``nnz``, ``n_cg``, ``n_trials``.
    reg : float
        :math:`\varepsilon`.
    execution_time : float
        Seconds.

    Notes
    -----
    On torch input that requires gradients (``sinkhorn(..., grad=...)``, :mod:`optkit.ot.autograd`),
    ``cost``, ``dual`` and ``ent_reg_cost`` are 0-d float64 tensors on ``C``'s device:
    ``"envelope"`` makes ``dual`` and ``ent_reg_cost`` differentiable (``cost`` and ``plan``
    carry no gradient); ``"implicit"`` and ``"autodiff"`` make ``f``, ``g``, ``plan``, ``cost``,
    ``dual`` and ``ent_reg_cost`` differentiable. Otherwise they are floats.
    """

    @cached_property
    def plan(self):
        return self.__dict__["_plan_fn"]()

    def form_plan(self):
        """The plan, formed anew and not kept (one pass over ``C``; for gradients)."""
        return self.__dict__["_plan_fn"]()

    def set_plan(self, plan_fn) -> None:
        """Attach the function that forms the plan on first read of :attr:`plan`."""
        self.__dict__["_plan_fn"] = plan_fn

    def __repr__(self) -> str:
        return (f"OTResult(success={self.success}, status={self.status}, fun={self.fun:.6g}, "
                f"cost={self.cost:.6g}, marginal_error={self.marginal_error:.2e}, "
                f"nit={self.nit} ({self.n_sinkhorn} sweeps + {self.n_newton} Newton), "
                f"nfev={self.nfev}, message={self.message!r})")
