r"""Monge-gap-regularized fitting of a transport map on :func:`optkit.core.run`.

Uscidda & Cuturi, *The Monge Gap: A Regularizer to Learn All Transport Maps*, ICML 2023,
§5: stochastic gradient steps on a Sinkhorn-divergence fitting term plus the Monge gap, one
fresh mini-batch per iteration, gradients by the envelope theorem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optkit.core.backend import is_torch_tensor, to_float
from optkit.core.registry import Option, budget_options, resolve_options
from optkit.core.result import OptimizeResult
from optkit.core.rng import check_torch_rng
from optkit.core.solver import run
from optkit.core.validate import check_in, check_int, check_nonnegative, check_positive, optional

from .costs import COSTS, cost_matrix
from .monge_gap import entropic_cost, monge_gap

__all__ = ["FitMapResult", "fit_map", "OPTIONS"]


class FitMapResult(OptimizeResult):
    """Result of :func:`fit_map` (a :class:`scipy.optimize.OptimizeResult`).

    Attributes
    ----------
    model : torch.nn.Module
        The fitted map (the module passed in, modified in place).
    x : Tensor
        Its trainable parameters, flattened (``torch.nn.utils.parameters_to_vector``).
    fun : float
        The mini-batch loss :math:`L(\\theta)` at ``x``, on a fresh batch (before averaging).
    nit, nfev
        Gradient steps; mini-batch loss evaluations (one per step and one at the start).
    status, success, message
        ``fit_map`` has no convergence test: it runs until a budget is spent (status 1, 6
        or 9, ``success=False``) or the callback stops it (99).
    trace : optkit.core.Trace
        Per iteration: ``fun`` (the loss), ``fit``, ``gap``, ``lam``, ``time``, ``n_value``.
    """


def _sampler(data, name, torch):
    if callable(data):
        return data
    if not is_torch_tensor(data) or data.ndim != 2:
        raise TypeError(f"{name} must be a 2-D torch tensor or a callable (size, generator)")

    def draw(size, generator):
        idx = torch.randperm(data.shape[0], generator=generator)[:size]
        return data[idx.to(data.device)]

    return draw


@dataclass
class _MapProblem:
    model: Any
    optimizer: Any
    draw_x: Callable
    draw_y: Callable
    params: list
    x0: Any = None


@dataclass
class _MapState:
    params: list
    gen: Any
    sums: list
    loss: Any
    fit: Any
    gap: Any
    lam: float
    step: int = 0
    n_summed: int = 0
    n_loss: int = 1

    @property
    def x(self):
        import torch

        return torch.nn.utils.parameters_to_vector(self.params).detach()

    @property
    def fun(self):
        return self.loss.detach()

    def counts(self) -> dict:
        return {"n_value": self.n_loss}

    def trace_extra(self) -> dict:
        return {"fit": to_float(self.fit), "gap": to_float(self.gap), "lam": self.lam}


class FitMapSolver:
    """One optimizer step per fresh mini-batch; configuration only.

    The state holds the loss of the current parameters on the batch drawn last (with its
    autograd graph): a step backpropagates it, updates the parameters and evaluates the loss
    of the new parameters on a fresh batch, so ``fun`` is always the loss at ``x``.
    """

    def __init__(self, *, lam, fit_reg, gap_reg, cost, batch_size, average, maxiter, tol):
        self.lam_of = lam if callable(lam) else (lambda _, v=lam: v)
        self.fit_reg, self.gap_reg, self.cost, self.tol = fit_reg, gap_reg, cost, tol
        self.batch_size, self.average, self.maxiter = batch_size, average, maxiter

    def _loss(self, problem, gen, step):
        r""":math:`S_{\varepsilon_{fit}}(T\sharp\hat\mu, \hat\nu) + \lambda\hat M(T)` on a batch."""
        xb, yb = problem.draw_x(self.batch_size, gen), problem.draw_y(self.batch_size, gen)
        y = problem.model(xb)
        w_xy = entropic_cost(cost_matrix(y, yb, "sqeuclidean"), self.fit_reg, self.tol)
        w_xx = entropic_cost(cost_matrix(y, y, "sqeuclidean"), self.fit_reg, self.tol,
                             symmetric=True)
        fit = w_xy - 0.5 * w_xx
        lam = float(self.lam_of(step))
        gap = monge_gap(xb, y, self.cost, self.gap_reg, tol=self.tol) if lam > 0 else \
            fit.new_zeros(())
        return fit + lam * gap, fit, gap, lam

    def init(self, problem: _MapProblem, x0, rng) -> _MapState:
        import torch

        loss, fit, gap, lam = self._loss(problem, rng, 0)
        sums = [torch.zeros_like(p) for p in problem.params]
        return _MapState(problem.params, rng, sums, loss, fit.detach(), gap.detach(), lam)

    def step(self, problem: _MapProblem, state: _MapState) -> _MapState:
        import torch

        problem.optimizer.zero_grad()
        state.loss.backward()
        problem.optimizer.step()
        if state.step >= self.maxiter - self.average:
            with torch.no_grad():
                for s, p in zip(state.sums, state.params):
                    s += p
            state.n_summed += 1
        state.step += 1
        loss, fit, gap, lam = self._loss(problem, state.gen, state.step)
        state.loss, state.fit, state.gap, state.lam = loss, fit.detach(), gap.detach(), lam
        state.n_loss += 1
        return state

    def terminate(self, problem, state):
        return False, 0, ""

    def result(self, problem: _MapProblem, state: _MapState) -> dict:
        import torch

        if self.average and state.n_summed:
            with torch.no_grad():
                for s, p in zip(state.sums, state.params):
                    p.copy_(s / state.n_summed)
        return {"x": state.x.clone(), "model": problem.model}


def _lam(value, name):
    return value if callable(value) else check_nonnegative(value, name)


#: The options of :func:`fit_map`, checked by :func:`optkit.core.registry.resolve_options`.
OPTIONS = {
    "lam": Option(1.0, "float or callable", check=_lam),
    "fit_reg": Option(0.5, "float", check=check_positive),
    "gap_reg": Option(None, "float or None", check=optional(check_positive)),
    "cost": Option("sqeuclidean", "str or callable",
                   check=lambda v, n: v if callable(v) else check_in(v, n, COSTS)),
    "maxiter": Option(1000, "int", check=lambda v, n: check_int(v, n, minimum=1)),
    "batch_size": Option(128, "int", check=lambda v, n: check_int(v, n, minimum=2)),
    "average": Option(0, "int", check=lambda v, n: check_int(v, n, minimum=0)),
    "tol": Option(1e-6, "float", check=check_positive),
    **budget_options(),
}


def fit_map(model, source, target, lam=1.0, fit_reg=0.5, gap_reg=None, cost="sqeuclidean",
            maxiter=1000, batch_size=128, optimizer=None, rng=None, average=0, tol=1e-6, *,
            maxfev=None, max_time=None, callback=None) -> FitMapResult:
    r"""Fit a map :math:`T_\theta` pushing the source to the target, Monge-gap regularized.

    Minimizes, over fresh batches, (Uscidda & Cuturi, ICML 2023, §5)

    .. math::

        L(\theta) = S_{\varepsilon_{fit}}(T_\theta\sharp\hat\mu, \hat\nu)
            + \lambda\,\hat M_{\hat\mu}(T_\theta),\qquad
        S_\varepsilon(\alpha, \beta) = W_\varepsilon(\alpha, \beta) - \tfrac12
            W_\varepsilon(\alpha, \alpha)\ [- \tfrac12 W_\varepsilon(\beta, \beta)],

    the Sinkhorn divergence (the constant target term is skipped, as OTT's
    ``static_b=True``) plus :func:`monge_gap` on the source batch; gradients by the envelope
    theorem. Runs on :func:`optkit.core.run`: one iteration is one optimizer step.

    Parameters
    ----------
    model : torch.nn.Module
        The map, applied to a batch of source points ``(batch_size, d)``.
    source, target : torch.Tensor (N, d) or callable
        Samples (a random batch of rows per step) or samplers ``draw(size, generator)``.
    lam : float or callable
        :math:`\lambda`, or a schedule ``lam(step)``.
    fit_reg, gap_reg : float
        :math:`\varepsilon` of the fitting term and of the Monge gap (None: its default).
    cost : str or callable
        The Monge-gap cost (see :func:`monge_gap`); the fitting term uses ``"sqeuclidean"``.
    maxiter, batch_size : int
        Optimizer steps; points per batch.
    optimizer : torch.optim.Optimizer, optional
        Default ``Adam(model.parameters(), lr=1e-3)`` (OTT's default).
    rng : None, int, numpy.random.Generator or torch.Generator
        The batches' randomness (a CPU ``torch.Generator`` is drawn from; SPEC 7).
    average : int
        If > 0, the model ends with its parameters averaged over the last ``average`` steps.
    tol : float
        Marginal L1 tolerance of the inner OT solves.
    maxfev, max_time : optional
        Budgets of mini-batch loss evaluations and of seconds.
    callback : callable, optional
        ``callback(intermediate_result)`` after every step (``x`` the flattened parameters,
        ``fun`` the batch loss); ``StopIteration`` ends the run (status 99).

    Returns
    -------
    FitMapResult
        With ``model`` (fitted in place) and the per-step ``trace``.
    """
    import torch

    opts = resolve_options(OPTIONS, {"lam": lam, "fit_reg": fit_reg, "gap_reg": gap_reg,
                                     "cost": cost, "maxiter": maxiter, "batch_size": batch_size,
                                     "average": average, "tol": tol, "maxfev": maxfev,
                                     "max_time": max_time}, owner="fit_map")
    gen = check_torch_rng(rng, "cpu")
    problem = _MapProblem(model, optimizer or torch.optim.Adam(model.parameters(), lr=1e-3),
                          _sampler(source, "source", torch), _sampler(target, "target", torch),
                          [p for p in model.parameters() if p.requires_grad])
    solver = FitMapSolver(**{k: opts[k] for k in ("lam", "fit_reg", "gap_reg", "cost", "batch_size",
                                                  "average", "maxiter", "tol")})
    return run(solver, problem, maxiter=opts["maxiter"], maxfev=opts["maxfev"],
               max_time=opts["max_time"], callback=callback, rng=gen, method="fit_map",
               result_type=FitMapResult)
