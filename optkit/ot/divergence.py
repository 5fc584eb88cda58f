r"""The debiased Sinkhorn divergence between point clouds.

Genevay, Peyré, Cuturi, *Learning Generative Models with Sinkhorn Divergences*, AISTATS 2018;
Feydy, Séjourné, Vialard, Amari, Trouvé, Peyré, *Interpolating between Optimal Transport and
MMD using Sinkhorn Divergences*, AISTATS 2019 (GeomLoss's ``SamplesLoss("sinkhorn",
debias=True)``):

.. math::

    S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
        - \tfrac12\mathrm{OT}_\varepsilon(\alpha, \alpha) - \tfrac12\mathrm{OT}_\varepsilon(\beta, \beta),
    \qquad \mathrm{OT}_\varepsilon = \max_{f, g} D(f, g)

(:mod:`optkit.ot.sinkhorn`'s dual). The entropy conventions (ours, OTT's, GeomLoss's KL) differ
by :math:`\varepsilon(H(a) + H(b))` and constants that cancel in :math:`S_\varepsilon`. For
costs whose Gibbs kernel :math:`e^{-c/\varepsilon}` is positive universal (``"sqeuclidean"``,
``"half_sqeuclidean"``, ``"euclidean"``), :math:`S_\varepsilon \ge 0` with equality iff
:math:`\alpha = \beta` (Feydy et al., Theorem 1).

The symmetric terms are solved with the symmetric (averaged) update of Feydy et al. (§3.1)

.. math::

    f \leftarrow \tfrac12\Big(f + \varepsilon\big(\log a - \mathrm{LSE}_j((f_j - C_{ij})/\varepsilon)
    \big)\Big),

whose fixed point is the symmetric optimum :math:`(f, f)`; one row pass per iteration. The value
:math:`\mathrm{OT}_\varepsilon(\alpha, \alpha) = D(f, f)` carries the envelope gradient
(:class:`~optkit.ot.autograd.EnvelopeValue`; :math:`\partial_a = 2f` since ``a`` enters twice).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from optkit.core.backend import is_torch_tensor, to_float, to_numpy
from optkit.core.result import STATUS
from optkit.core.solver import run
from optkit.core.validate import check_in, check_int, check_positive

from .costs import COSTS, cost_matrix
from .log_sinkhorn import row_pass
from .problem import OTProblem, kernels, make_problem, masses
from .result import OTResult
from .sinkhorn import METHODS, sinkhorn

__all__ = ["sinkhorn_divergence", "symmetric_sinkhorn", "SymmetricSinkhornSolver",
           "entropic_ot", "DIVERGENCE_GRADS"]

#: The gradient modes of :func:`sinkhorn_divergence` (value gradients: the envelope is exact).
DIVERGENCE_GRADS = ("envelope", "detach")


@dataclass
class SymmetricState:
    """The potential ``f``, its row pass ``L``, the marginal error and :math:`D(f, f)`."""

    f: Any
    L: Any
    err: Any
    fun: Any
    xp: Any
    n_sinkhorn: int = 0
    n_pass: int = 1

    @property
    def x(self):
        return self.f

    def counts(self) -> dict:
        return {"n_value": self.n_pass}

    def trace_extra(self) -> dict:
        return {"err": to_float(self.err), "kind": "symmetric"}


class SymmetricSinkhornSolver:
    r"""The averaged symmetric Sinkhorn update (module docstring) as a core solver.

    One iteration is one pass over ``C``. The marginal error of :math:`P_{ij} =
    e^{(f_i + f_j - C_{ij})/\varepsilon}` is :math:`2\|P1 - a\|_1/\sum a` (rows and columns
    agree by symmetry), from the row pass that the next update needs.
    """

    def _measure(self, problem: OTProblem, f):
        L, rows, dual = row_pass(problem, f, f)
        err = 2.0 * problem.xp.sum(problem.xp.abs(rows - problem.a)) / problem.sum_a
        return L, err, dual

    def init(self, problem: OTProblem, x0, rng=None) -> SymmetricState:
        L, err, dual = self._measure(problem, x0[0])
        return SymmetricState(x0[0], L, err, dual, problem.xp)

    def step(self, problem: OTProblem, state: SymmetricState) -> SymmetricState:
        f = 0.5 * (state.f + problem.eps * (problem.log_a - state.L))
        L, err, dual = self._measure(problem, f)
        return SymmetricState(f, L, err, dual, state.xp, state.n_sinkhorn + 1, state.n_pass + 1)

    def terminate(self, problem: OTProblem, state: SymmetricState):
        err = to_float(state.err)
        if err <= problem.tol:
            return True, 0, f"converged: marginal error {err:.3e} <= tol {problem.tol:.1e}"
        return False, 0, ""

    def result(self, problem: OTProblem, state: SymmetricState) -> dict:
        dual = to_float(state.fun)
        return {"f": state.f, "g": state.f, "dual": dual, "fun": dual,
                "marginal_error": to_float(state.err), "n_sinkhorn": state.n_sinkhorn,
                "n_newton": 0, "n_cg": 0}


def symmetric_sinkhorn(C, a, reg, *, tol=1e-9, maxiter=1000, check_every=1,
                       warn=True) -> OTResult:
    r""":math:`\mathrm{OT}_\varepsilon(\alpha, \alpha)` for a symmetric cost ``C`` (n, n) and
    positive masses ``a`` (None: uniform), by the averaged symmetric update (module
    docstring), on :func:`optkit.core.run`. ``C`` is a numpy array (numba kernels) or a
    detached torch tensor (torch kernels on its device, potentials kept there).

    Returns an :class:`~optkit.ot.result.OTResult` with ``f`` (= ``g``), ``dual`` = ``fun``
    :math:`= D(f, f)`, ``marginal_error``, ``n_sinkhorn`` and the lazy ``plan``; a run that
    did not converge has ``success=False`` and warns (``warn``).
    """
    torch_in = is_torch_tensor(C)
    n = C.shape[0]
    device = C.device if torch_in else None
    a = masses(a, "a", n, torch_in, device)
    if not np.all(a > 0):
        raise ValueError("a must be positive for the symmetric problem")
    kern = kernels(C, torch_in)
    problem = make_problem(kern, a, a, reg, tol, np.zeros(n), np.zeros(n), device=device)
    with kern.threads():
        res = run(SymmetricSinkhornSolver(), problem, maxiter=maxiter, check_every=check_every,
                  method="symmetric-sinkhorn", result_type=OTResult, x0=problem.x0)
    if not res.success and warn and res.status != STATUS["callback"]:
        warnings.warn(f"symmetric sinkhorn did not converge: {res.message} Marginal error "
                      f"{res.marginal_error:.3e} > tol {tol:.1e}.", UserWarning, stacklevel=3)
    f = res.f

    def plan_fn():
        with kern.threads():
            return kern.plan(f, f, problem.inv_eps)

    res.set_plan(plan_fn)
    res.reg = reg
    return res


def _host_or_device(C):
    """``C`` detached: a zero-copy numpy view for a CPU tensor (the numba kernels are the
    faster CPU path), the tensor itself on another device."""
    Cd = C.detach()
    return Cd.numpy() if Cd.device.type == "cpu" else Cd


def entropic_ot(C, a=None, b=None, *, reg, tol=1e-6, method="sns", maxiter=1000, warn=True,
                symmetric=False, grad="envelope"):
    r""":math:`\mathrm{OT}_\varepsilon(a, b, C) = \max D` (``symmetric``: ``b = a`` and a
    symmetric ``C``, by :func:`symmetric_sinkhorn`).

    On torch input the value is a 0-d float64 tensor that carries the envelope gradient
    :math:`(P^*, f^*, g^*)` with respect to ``(C, a, b)`` when they require it and ``grad``
    is ``"envelope"``; the solve itself runs without a graph (numba kernels on a zero-copy
    view for CPU tensors; torch kernels on another device, where the host reads the stopping
    test every 10 iterations). numpy input gives a float.
    """
    if not is_torch_tensor(C):
        if symmetric:
            return symmetric_sinkhorn(C, a, reg, tol=tol, maxiter=maxiter, warn=warn).dual
        return sinkhorn(a, b, C, reg, method=method, tol=tol, maxiter=maxiter, warn=warn).dual
    import torch

    from .autograd import EnvelopeValue, centre_gradient, gibbs_plan

    Cs = _host_or_device(C)
    on_host = isinstance(Cs, np.ndarray)

    def solver_masses(v):
        if v is None:
            return None
        v = v.detach()
        return to_numpy(v) if on_host else v

    if symmetric:
        res = symmetric_sinkhorn(Cs, solver_masses(a), reg, tol=tol, maxiter=maxiter, warn=warn,
                                 check_every=1 if on_host else 10)
    else:
        res = sinkhorn(solver_masses(a), solver_masses(b), Cs, reg, method=method, tol=tol,
                       maxiter=maxiter, warn=warn, check_every=1 if on_host else 10,
                       grad="envelope" if on_host else "detach")
    value = torch.tensor(res.dual, dtype=torch.float64, device=C.device)
    tracked = grad == "envelope" and torch.is_grad_enabled() and any(
        getattr(t, "requires_grad", False) for t in (C, a, b))
    if not tracked:
        return value
    f, g = (torch.as_tensor(v, dtype=torch.float64, device=C.device) for v in (res.f, res.g))
    positive = all(v is None or bool((v > 0).all()) for v in (a, b))

    def plan_fn(scale):
        if positive:
            return gibbs_plan(C.detach(), f, g, reg, scale)
        return torch.as_tensor(res.form_plan(), device=C.device).to(C.dtype) * scale

    a_t = centre_gradient(a) if a is not None else None
    b_t = a_t if symmetric else (centre_gradient(b) if b is not None else None)
    return EnvelopeValue.apply(C, a_t, b_t, value, f, g, plan_fn)


def _cloud(v, name):
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D point cloud (n, d), got shape "
                         f"{tuple(v.shape)}")
    return v


def sinkhorn_divergence(x, y, a=None, b=None, *, reg, cost="sqeuclidean", method="sns",
                        tol=1e-6, maxiter=1000, grad="envelope", warn=True):
    r"""Debiased Sinkhorn divergence :math:`S_\varepsilon(\alpha, \beta)` between point clouds.

    .. math::

        S_\varepsilon(\alpha, \beta) = \mathrm{OT}_\varepsilon(\alpha, \beta)
            - \tfrac12\mathrm{OT}_\varepsilon(\alpha, \alpha)
            - \tfrac12\mathrm{OT}_\varepsilon(\beta, \beta),\qquad
        \alpha = \sum_i a_i\delta_{x_i},\ \beta = \sum_j b_j\delta_{y_j}

    (Genevay et al., AISTATS 2018; Feydy et al., AISTATS 2019; module docstring). The cross
    term is one :func:`~optkit.ot.sinkhorn` solve, the symmetric terms use the averaged
    symmetric update (:func:`symmetric_sinkhorn`). GeomLoss's ``SamplesLoss("sinkhorn", p=2,
    blur=s, debias=True)`` is ``cost="half_sqeuclidean", reg=s**2``.

    Parameters
    ----------
    x, y : array (n, d), (m, d)
        numpy arrays or torch tensors (then the result is a 0-d tensor, differentiable in
        ``x``, ``y``, ``a``, ``b`` by the envelope theorem through :func:`cost_matrix`).
    a, b : array (n,), (m,), optional
        Positive weights with equal totals; default uniform.
    reg : float
        :math:`\varepsilon > 0`, in cost units.
    cost : {"sqeuclidean", "half_sqeuclidean", "euclidean", "l1"} or callable
        See :func:`cost_matrix` (a callable must be symmetric, ``c(x, y) = c(y, x)``).
    method : {"sns", "sinkhorn"}
        Solver of the cross term.
    tol : float
        L1 marginal error of each of the three solves; the value's error is
        :math:`O(\mathrm{tol}\cdot\|C\|_\infty)`.
    maxiter : int
        Budget of each solve.
    grad : {"envelope", "detach"}
        ``"envelope"`` (the exact gradient of an optimal value at convergence, one pass over
        each cost in the backward) or ``"detach"``. ``ValueError`` for another value on
        numpy input.
    warn : bool
        ``UserWarning`` when a solve did not converge.

    Returns
    -------
    float or Tensor
        :math:`S_\varepsilon` (a 0-d float64 tensor on ``x``'s device for torch input).
    """
    check_in(grad, "grad", DIVERGENCE_GRADS)
    check_in(method, "method", METHODS)
    reg = check_positive(reg, "reg")
    tol = check_positive(tol, "tol")
    maxiter = check_int(maxiter, "maxiter", minimum=1)
    if not callable(cost):
        check_in(cost, "cost", COSTS)
    if is_torch_tensor(x) != is_torch_tensor(y):
        raise TypeError("x and y must both be numpy arrays or both torch tensors")
    if not is_torch_tensor(x):
        if grad != "envelope":
            raise ValueError(f"grad={grad!r} applies to torch input only; leave grad at its "
                             "default")
        x, y = np.asarray(x), np.asarray(y)
    _cloud(x, "x"), _cloud(y, "y")
    kw = {"reg": reg, "tol": tol, "maxiter": maxiter, "warn": warn, "grad": grad}
    for v, name, size in ((a, "a", x.shape[0]), (b, "b", y.shape[0])):
        if v is not None and not np.all(masses(v, name, size, is_torch_tensor(x),
                                               getattr(x, "device", None)) > 0):
            raise ValueError(f"{name} must be positive")
    cross = entropic_ot(cost_matrix(x, y, cost), a, b, method=method, **kw)
    self_x = entropic_ot(cost_matrix(x, x, cost), a, symmetric=True, **kw)
    self_y = entropic_ot(cost_matrix(y, y, cost), b, symmetric=True, **kw)
    return cross - 0.5 * self_x - 0.5 * self_y

