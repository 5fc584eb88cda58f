r"""Baselines for the bilevel benchmark (not the penalty method of this package).

Written from the papers' update equations, for comparisons in ``bench/bilevel``:

- :func:`aid`: implicit-differentiation hypergradient descent (AID; Pedregosa, ICML 2016,
  "Hyperparameter optimization with approximate gradient"), conjugate gradient on
  Hessian-vector products of g (second-order oracle calls, counted as ``n_inner_hvp``).
- :func:`vpbgd`: value-function penalized bilevel gradient descent (Shen & Chen, ICML 2023,
  arXiv:2302.05185).
- :func:`bome`: BOME (Liu, Ye, Wright, Stone, Liu, NeurIPS 2022, arXiv:2209.08709).

They run through the same loop, counters and trace as :func:`optkit.bilevel.solve`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core.result import STATUS
from ..core.solver import to_numpy
from ..core.validate import check_int, check_nonnegative, check_positive
from .penalty import BilevelSolver, State, _dot, _norm, run_bilevel
from .problem import BilevelProblem

__all__ = ["aid", "vpbgd", "bome"]


@dataclass
class _BaselineState(State):
    """A baseline's iterate: no penalty parameter; ``extra`` holds its own trace metrics."""

    extra: dict = field(default_factory=dict)

    def trace_extra(self) -> dict:
        rec = {"norm_d": _norm(self.d), "pg_norm": self.map_x, "inner_map_y": self.map_y,
               "gap": self.g_y - self.g_z, **self.extra}
        if self.psi is not None:
            rec["psi"] = self.psi
        return rec

    def callback_fields(self) -> dict:
        return {"y": to_numpy(self.y), "z": to_numpy(self.z)}


class _Baseline(BilevelSolver):
    """Fields of :class:`State` reused: ``z`` is the auxiliary lower-level iterate."""

    def __init__(self, *, lr_x, lr_y, lr_inner, inner_steps, tol, maxiter, psi):
        super().__init__(sigma=1.0, sigma_schedule="constant", sigma_min=None, sigma_every=1,
                         lr_x=lr_x, lr_y=lr_y, lr_z=lr_inner, inner_steps=inner_steps,
                         inner_tol=None, batch_size=(None, None), tol=tol, maxiter=maxiter,
                         stochastic=False, psi=psi)

    def init(self, p, x0, rng):
        self.rng = rng
        self.current = self.evaluate(p, x0, p.y0, p.z0, 0)
        return self.current

    def step(self, p, state):
        self.current = self.update(p, state)
        return self.current

    def terminate(self, p, state):
        if state.failure is not None:
            return True, state.failure[0], state.failure[1]
        if state.map_x <= self.tol and state.map_y <= self.tol:
            return True, STATUS["success"], "Projected gradient below tol."
        return False, 0, ""

    def result(self, p, state):
        out = super().result(p, state)
        out.pop("psi_sigma")
        out.pop("sigma")
        return out

    def descend_g(self, p, x, w, steps):
        """``steps`` gradient steps on g(x, .) from w; returns the point and g's last evaluation."""
        ev = self.eval_z(p, x, w, None)
        for _ in range(steps):
            w = p.proj_y(w - self.lr_z * ev.grad)
            ev = self.eval_z(p, x, w, None)
        return w, ev

    def state(self, p, x, y, z, k, dx, dy, fv, gy, gz, **extra):
        map_x = _norm(x - p.proj_x(x - self.lr_x * dx)) / self.lr_x
        map_y = _norm(y - p.proj_y(y - self.lr_y * dy)) / self.lr_y
        psi = None if self.psi is None else float(self.psi(to_numpy(x)))
        self.dy = dy
        return _BaselineState(x, y, z, k, float("nan"), fv, gy, gz, dx, map_x, map_y, 0.0, psi,
                              extra=extra)

    def update(self, p, state):
        """The joint projected step on (x, y) with the directions of the last evaluation."""
        x = p.proj_x(state.x - self.lr_x * state.d)
        y = p.proj_y(state.y - self.lr_y * self.dy)
        return self.evaluate(p, x, y, state.z, state.k + 1)


class AID(_Baseline):
    r"""Approximate implicit differentiation.

    .. math::
        y &\leftarrow T \text{ gradient steps on } g(x, \cdot) \text{ (warm started)},\\
        q &\approx [\nabla^2_{yy} g]^{-1} \nabla_y f \quad (\text{CG on Hessian-vector products}),\\
        x &\leftarrow \Pi_X\big(x - \alpha(\nabla_x f - \nabla^2_{xy} g\, q)\big).

    The cross term :math:`\nabla^2_{xy} g\, q = \sum_j a_j \nabla^2_{xy} g\, p_j` is accumulated
    from the CG directions (each second-order call returns both blocks), so it costs no
    extra call. Needs :math:`\nabla^2_{yy} g \succ 0` (a strongly convex lower level): when CG
    does not reach ``cg_tol`` a ``RuntimeWarning`` says so (singular or ill-conditioned Hessian).
    """

    def __init__(self, *, cg_steps, cg_tol, **kw):
        super().__init__(**kw)
        self.cg_steps = cg_steps
        self.cg_tol = cg_tol
        self.warned = False

    def evaluate(self, p, x, y, z, k):
        y, ev_g = self.descend_g(p, x, y, self.inner_steps)
        fv, (fx, fy) = p.outer.value_and_grad((x, y))
        q, cross = self._cg(p, x, y, fy)
        hyper = fx - cross
        return self.state(p, x, y, y, k, hyper, ev_g.grad, fv, ev_g.value, ev_g.value,
                          cg_residual=self.residual)

    def update(self, p, state):
        x = p.proj_x(state.x - self.lr_x * state.d)
        return self.evaluate(p, x, state.y, state.z, state.k + 1)

    def _cg(self, p, x, y, b):
        q = b * 0.0
        cross = x * 0.0
        r = b
        d = r
        rr = _dot(r, r)
        target = self.cg_tol * max(np.sqrt(rr), 1e-300)
        for _ in range(self.cg_steps):
            if np.sqrt(rr) <= target:
                break
            hx, hd = p.inner.hvp((x, y), d)
            curv = _dot(d, hd)
            if not curv > 0:
                break
            a = rr / curv
            q = q + a * d
            cross = cross + a * hx
            r = r - a * hd
            rr_new = _dot(r, r)
            d = r + (rr_new / rr) * d
            rr = rr_new
        self.residual = float(np.sqrt(rr))
        if self.residual > target and not self.warned:
            self.warned = True
            warnings.warn("AID: conjugate gradient did not reach cg_tol in cg_steps iterations "
                          f"(relative residual {self.residual / max(target / self.cg_tol, 1e-300):.3g}): "
                          "raise cg_steps, or the Hessian of g in y is singular or ill-conditioned "
                          "(AID needs a strongly convex lower level).", RuntimeWarning, stacklevel=2)
        return q, cross


class VPBGD(_Baseline):
    r"""V-PBGD (Shen & Chen 2023): gradient descent on :math:`f + \gamma(g(x,y) - g(x,\omega))`.

    .. math::
        \omega &\leftarrow T \text{ gradient steps on } g(x,\cdot) \text{ from } \omega
                   \text{ (held fixed)},\\
        \gamma_k &= \gamma_0 + (\gamma_{max}-\gamma_0)\min(1, k/K),\quad
        \eta_k = \min(1/\gamma_k, 1),\\
        x &\leftarrow \Pi_X\big(x - \eta_k\alpha(\nabla_x f + \gamma_k(\nabla_x g(x,y) - \nabla_x g(x,\omega)))\big),\\
        y &\leftarrow \Pi_Y\big(y - \eta_k\beta(\nabla_y f + \gamma_k\nabla_y g(x,y))\big).
    """

    def __init__(self, *, gamma, gamma_init, gamma_argmax_step, **kw):
        super().__init__(**kw)
        self.gamma_max, self.gamma_init, self.ramp = gamma, gamma_init, gamma_argmax_step

    def gamma(self, k):
        return self.gamma_init + (self.gamma_max - self.gamma_init) * min(1.0, k / self.ramp)

    def evaluate(self, p, x, y, w, k):
        gamma = self.gamma(k)
        w, ev_w = self.descend_g(p, x, w, self.inner_steps)
        fv, (fx, fy) = p.outer.value_and_grad((x, y))
        gv, (gx, gy) = p.inner.value_and_grad((x, y))
        scale = min(1.0 / gamma, 1.0)
        dx = scale * (fx + gamma * (gx - ev_w.parts[1]))
        dy = scale * (fy + gamma * gy)
        return self.state(p, x, y, w, k, dx, dy, fv, gv, ev_w.value, gamma=gamma)



class BOME(_Baseline):
    r"""BOME (Liu et al. 2022): first-order descent on f with the value-function constraint.

    :math:`\hat q(x,\theta) = g(x,\theta) - g(x,\theta_T)`, :math:`\theta_T` after T gradient
    steps on :math:`g(x,\cdot)` from :math:`\theta` (held constant);
    :math:`\lambda = \max(\eta - \langle\nabla f, \nabla\hat q\rangle/(\|\nabla\hat q\|^2 + 10^{-8}), 0)`,
    :math:`(x, \theta) \leftarrow \Pi\big((x,\theta) - \alpha(\nabla f + \lambda\nabla\hat q)\big)`
    (one step ``lr_x`` for x and ``lr_y`` for :math:`\theta`).
    """

    def __init__(self, *, eta, **kw):
        super().__init__(**kw)
        self.eta = eta

    def evaluate(self, p, x, y, z, k):
        t, ev_t = self.descend_g(p, x, y, self.inner_steps)
        fv, (fx, fy) = p.outer.value_and_grad((x, y))
        gv, (gx, gy) = p.inner.value_and_grad((x, y))
        qx, qy = gx - ev_t.parts[1], gy
        lam = max(self.eta - (_dot(fx, qx) + _dot(fy, qy)) / (_dot(qx, qx) + _dot(qy, qy) + 1e-8),
                  0.0)
        return self.state(p, x, y, t, k, fx + lam * qx, fy + lam * qy, fv, gv, ev_t.value, lam=lam)


def _common(problem, lr_x, lr_y, lr_inner, inner_steps, tol, maxiter):
    if not isinstance(problem, BilevelProblem):
        raise TypeError(f"problem must be a BilevelProblem, got {type(problem).__name__}")
    return dict(lr_x=check_positive(lr_x, "lr_x"), lr_y=check_positive(lr_y, "lr_y"),
                lr_inner=check_positive(lr_inner, "lr_inner"),
                inner_steps=check_int(inner_steps, "inner_steps", minimum=0),
                tol=check_nonnegative(tol, "tol"), maxiter=check_int(maxiter, "maxiter", minimum=0),
                psi=problem.psi)


def aid(problem: BilevelProblem, *, lr_x=0.1, lr_inner=None, inner_steps=20, cg_steps=50,
        cg_tol=1e-10, maxiter=1000, tol=1e-6, callback=None):
    """Baseline: AID hypergradient descent (see :class:`AID`); full batches.

    ``lr_inner`` defaults to 1/L_g from ``problem.lipschitz``.
    """
    lr_inner = _inner_lr(problem, lr_inner)
    kw = _common(problem, lr_x, lr_inner, lr_inner, inner_steps, tol, maxiter)
    solver = AID(cg_steps=check_int(cg_steps, "cg_steps", minimum=1),
                 cg_tol=check_positive(cg_tol, "cg_tol"), **kw)
    return run_bilevel(solver, problem, maxiter=kw["maxiter"], rng=0, callback=callback,
                       method="aid")


def vpbgd(problem: BilevelProblem, *, gamma=10.0, gamma_init=None, gamma_argmax_step=1,
          lr_x=0.1, lr_y=0.1, lr_inner=None, inner_steps=1, maxiter=1000, tol=1e-6,
          callback=None):
    """Baseline: V-PBGD (see :class:`VPBGD`); ``gamma_init`` defaults to ``gamma``."""
    gamma = check_positive(gamma, "gamma")
    gamma_init = gamma if gamma_init is None else check_positive(gamma_init, "gamma_init")
    kw = _common(problem, lr_x, lr_y, _inner_lr(problem, lr_inner), inner_steps, tol, maxiter)
    solver = VPBGD(gamma=gamma, gamma_init=gamma_init,
                   gamma_argmax_step=check_int(gamma_argmax_step, "gamma_argmax_step", minimum=1),
                   **kw)
    return run_bilevel(solver, problem, maxiter=kw["maxiter"], rng=0, callback=callback,
                       method="vpbgd")


def bome(problem: BilevelProblem, *, eta=0.5, lr_x=0.5, lr_y=0.5, lr_inner=None, inner_steps=10,
         maxiter=1000, tol=1e-6, callback=None):
    """Baseline: BOME (see :class:`BOME`); published toy settings eta=0.5, T=10, lr 0.5."""
    kw = _common(problem, lr_x, lr_y, _inner_lr(problem, lr_inner), inner_steps, tol, maxiter)
    solver = BOME(eta=check_positive(eta, "eta"), **kw)
    return run_bilevel(solver, problem, maxiter=kw["maxiter"], rng=0, callback=callback,
                       method="bome")


def _inner_lr(problem, lr_inner):
    if lr_inner is not None:
        return lr_inner
    if problem.lipschitz is None:
        raise ValueError("give lr_inner (problem.lipschitz is not set)")
    return 1.0 / problem.lipschitz[1]
