r"""Value-function penalty methods for nonconvex bilevel optimization.

Kwon, Kwon, Wright, Nowak, "On Penalty Methods for Nonconvex Bilevel Optimization and
First-Order Stochastic Approximation", ICLR 2024 (arXiv:2309.01753).

The bilevel problem :math:`\min_{x\in X}\psi(x)`, :math:`\psi(x)=\min_{y\in S(x)} f(x,y)`,
:math:`S(x)=\arg\min_{y\in Y} g(x,y)`, is replaced by the penalty

.. math::
    \psi_\sigma(x) = \min_{y\in Y}\Big\{f(x,y) + \tfrac{1}{\sigma}\big(g(x,y)
        - \min_{z\in Y} g(x,z)\big)\Big\},

whose gradient needs only first-order oracles (Danskin):
:math:`\nabla\psi_\sigma(x) = \nabla_x f(x,y_\sigma) + (\nabla_x g(x,y_\sigma) - \nabla_x g(x,y^*))/\sigma`
with :math:`y_\sigma\in\arg\min_Y \sigma f + g` and :math:`y^*\in\arg\min_Y g`. Under a
proximal error-bound condition, :math:`|\psi_\sigma-\psi| = O(\sigma)`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..core.oracle import Counted
from ..core.result import STATUS, OptimizeResult
from ..core.solver import run, to_numpy, wrap_callback
from ..core.validate import (
    check_in,
    check_int,
    check_nonnegative,
    check_positive,
    check_probability,
    is_torch_tensor,
)
from .problem import BilevelProblem

__all__ = ["solve"]


def _norm(v) -> float:
    if not isinstance(v, np.ndarray) and is_torch_tensor(v):
        import torch

        return float(torch.linalg.vector_norm(v))
    return float(np.linalg.norm(v))


def _dot(a, b) -> float:
    if not isinstance(a, np.ndarray) and is_torch_tensor(a):
        import torch

        return float(torch.dot(a, b))
    return float(np.dot(a, b))


class _Stop(Exception):
    """An inner loop failed: carries the status code and the message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Counts:
    """Both levels' :class:`~optkit.core.Counted` counts as one snapshot (totals and per level)."""

    def __init__(self, outer: Counted, inner: Counted):
        self.outer = outer
        self.inner = inner

    def snapshot(self) -> dict[str, int]:
        o, i = self.outer, self.inner
        return {"n_value": o.nfev + i.nfev, "n_grad": o.ngev + i.ngev, "n_hvp": o.nhev + i.nhev,
                "n_samples": o.nsamples + i.nsamples, "n_outer_value": o.nfev,
                "n_outer_grad": o.ngev, "n_inner_value": i.nfev, "n_inner_grad": i.ngev,
                "n_inner_hvp": i.nhev}


@dataclass
class _Eval:
    """One evaluation of a level objective at a point: value, descent direction, raw parts."""

    value: float
    grad: Any
    parts: tuple


@dataclass
class State:
    """Iterate of a bilevel solver: ``x``, ``y`` (tracks y_sigma), ``z`` (tracks y*)."""

    x: Any
    y: Any
    z: Any
    k: int
    sigma: float
    f_val: float
    g_y: float
    g_z: float
    d: Any
    map_x: float
    map_y: float
    map_z: float
    psi: float | None = None
    failure: tuple | None = None

    @property
    def fun(self) -> float:
        return self.f_val

    @property
    def psi_sigma(self) -> float:
        return self.f_val + (self.g_y - self.g_z) / self.sigma

    def trace_extra(self) -> dict:
        rec = {"sigma": self.sigma, "norm_d": _norm(self.d), "pg_norm": self.map_x,
               "inner_map_y": self.map_y, "inner_map_z": self.map_z,
               "gap": self.g_y - self.g_z, "psi_sigma": self.psi_sigma}
        if self.psi is not None:
            rec["psi"] = self.psi
        return rec

    def callback_fields(self) -> dict:
        """What the callback's ``intermediate_result`` gets besides x, fun, nit and counts."""
        return {"y": to_numpy(self.y), "z": to_numpy(self.z), "sigma": self.sigma,
                "psi_sigma": self.psi_sigma}


class BilevelSolver:
    """Shared parts: sigma schedule, mini-batches, level evaluations, stopping, result."""

    def __init__(self, *, sigma, sigma_schedule, sigma_min, sigma_every, lr_x, lr_y, lr_z,
                 inner_steps, inner_tol, batch_size, tol, maxiter, stochastic, psi):
        self.sigma0 = sigma
        self.schedule = sigma_schedule
        self.sigma_min = sigma_min
        self.sigma_every = sigma_every
        self.lr_x, self.lr_y, self.lr_z = lr_x, lr_y, lr_z
        self.inner_steps = inner_steps
        self.inner_tol = inner_tol
        self.batch_size = batch_size
        self.tol = tol
        self.maxiter = maxiter
        self.stochastic = stochastic
        self.psi = psi
        self.current: State | None = None

    # sigma and batches ---------------------------------------------------------------
    def sigma_at(self, k: int) -> float:
        if callable(self.schedule):
            return check_positive(self.schedule(k), f"sigma_schedule({k})")
        if self.schedule == "geometric":
            return max(self.sigma_min, self.sigma0 * 0.5 ** (k // self.sigma_every))
        return self.sigma0

    def steps(self, p, sigma):
        """Inner steps: the given ones, else 1/(L_g + sigma L_f) and 1/L_g, else None (search)."""
        lr_y, lr_z = self.lr_y, self.lr_z
        if p.lipschitz is not None:
            lf, lg = p.lipschitz
            lr_y = 1.0 / (lg + sigma * lf) if lr_y is None else lr_y
            lr_z = 1.0 / lg if lr_z is None else lr_z
        return lr_y, lr_z

    def batch(self, level, size):
        return None if size is None else level.sample_batch(self.rng, size)

    def tol_inner(self, sigma: float) -> float | None:
        if self.stochastic:
            return None
        return sigma * self.tol if self.inner_tol is None else self.inner_tol

    # evaluations ---------------------------------------------------------------------
    def eval_y(self, p, x, y, sigma, bf, bg) -> _Eval:
        """h_sigma = sigma f + g at (x, y): one call of f and one of g."""
        fv, (fx, fy) = p.outer.value_and_grad((x, y), bf)
        gv, (gx, gy) = p.inner.value_and_grad((x, y), bg)
        return _Eval(sigma * fv + gv, sigma * fy + gy, (fv, fx, fy, gv, gx, gy))

    def eval_z(self, p, x, z, bg) -> _Eval:
        gv, (gx, gy) = p.inner.value_and_grad((x, z), bg)
        return _Eval(gv, gy, (gv, gx, gy))

    def make_state(self, p, x, y, z, k, sigma, ev_y, ev_z, d, map_y, map_z) -> State:
        fv, _, _, gv_y, _, _ = ev_y.parts
        map_x = _norm(x - p.proj_x(x - self.lr_x * d)) / self.lr_x
        psi = None if self.psi is None else float(self.psi(to_numpy(x)))
        return State(x, y, z, k, sigma, fv, gv_y, ev_z.parts[0], d, map_x, map_y, map_z, psi)

    @staticmethod
    def direction(ev_y: _Eval, ev_z: _Eval, sigma: float):
        """d = grad_x f(x, y) + (grad_x g(x, y) - grad_x g(x, z)) / sigma."""
        return ev_y.parts[1] + (ev_y.parts[4] - ev_z.parts[1]) / sigma

    # protocol --------------------------------------------------------------------------
    def terminate(self, p, state: State):
        if state.failure is not None:
            return True, state.failure[0], state.failure[1]
        if self.stochastic:
            if state.k >= self.maxiter:
                return (True, STATUS["success"], f"Stochastic run: the budget of {self.maxiter} "
                        "iterations was used (no stationarity test is possible with mini-batches).")
            return False, 0, ""
        tol_in = self.tol_inner(state.sigma)
        if state.map_x <= self.tol and state.map_y <= tol_in and state.map_z <= tol_in:
            return (True, STATUS["success"], "Stationary point of the penalty found: projected "
                    "gradient and both inner gradient mappings are below their tolerances.")
        return False, 0, ""

    def result(self, p, state: State) -> dict:
        out = {"y": to_numpy(state.y), "z": to_numpy(state.z), "psi_sigma": state.psi_sigma,
               "sigma": state.sigma}
        out.update({k: v for k, v in p.objective.snapshot().items()
                    if k == "n_samples" or "_outer_" in k or "_inner_" in k})
        if state.psi is not None:
            out["psi"] = state.psi
        return out


class Penalty(BilevelSolver):
    r"""Double-loop value-function penalty method (KKWN, ICLR 2024, arXiv:2309.01753).

    Outer step :math:`k` with :math:`\sigma=\sigma_k`, warm-started inner loops of
    :math:`T` projected-gradient steps (stopped early once the gradient mapping is below
    ``inner_tol``), then one projected step on :math:`x`:

    .. math::
        y &\leftarrow \Pi_Y\big(y - \beta_y \nabla_y(\sigma f + g)(x, y;\xi)\big)
            \quad (T \text{ times}), \\
        z &\leftarrow \Pi_Y\big(z - \beta_z \nabla_y g(x, z;\xi')\big) \quad (T \text{ times}), \\
        d &= \nabla_x f(x, y;\zeta) + \big(\nabla_x g(x, y;\xi'') - \nabla_x g(x, z;\xi'')\big)/\sigma, \\
        x &\leftarrow \Pi_X(x - \alpha d).

    The same batch :math:`\xi''` is used at :math:`y` and :math:`z`: since
    :math:`y - z = O(\sigma)`, the difference then has :math:`O(\sigma)` noise. For the same
    reason the two inner loops share their g batch at each inner step (:math:`\xi = \xi'`,
    common random numbers), so that the noise of :math:`y - z` is also :math:`O(\sigma)`.
    Inner steps: ``lr_y``/``lr_z``; else :math:`1/(L_g+\sigma L_f)` and :math:`1/L_g` from
    ``problem.lipschitz``; else backtracking on the sufficient-decrease condition
    :math:`h(y^+) \le h(y) + \langle\nabla h(y), y^+-y\rangle + \|y^+-y\|^2/(2\beta)`
    (halving, the first search from :math:`\beta=1`, later ones from the last accepted step;
    a relative slack of 1e-14 absorbs rounding near a minimizer).
    """

    def init(self, p, x0, rng):
        self.rng = rng
        self.beta = {"y": 1.0, "z": 1.0}
        try:
            state = self._inner_and_direction(p, x0, p.y0, p.z0, 0)
        except _Stop as stop:
            f0 = p.outer.value((x0, p.y0))
            nan = float("nan")
            state = State(x0, p.y0, p.z0, 0, self.sigma_at(0), f0, nan, nan, x0 * nan, nan, nan,
                          nan, failure=(stop.status, stop.message))
        self.current = state
        return state

    def step(self, p, state: State) -> State:
        x = p.proj_x(state.x - self.lr_x * state.d)
        try:
            new = self._inner_and_direction(p, x, state.y, state.z, state.k + 1)
        except _Stop as stop:  # keep the last complete iterate
            new = replace(state, failure=(stop.status, stop.message))
        self.current = new
        return new

    def _inner_and_direction(self, p, x, y, z, k) -> State:
        sigma = self.sigma_at(k)
        tol = self.tol_inner(sigma)
        lr_y, lr_z = self.steps(p, sigma)
        bf_size, bg_size = self.batch_size
        # one g batch per inner step, shared by the y and z loops (None with full batches)
        bg = [self.batch(p.inner, bg_size) for _ in range(self.inner_steps + 1)]

        def ev_y(w, t):
            return self.eval_y(p, x, w, sigma, self.batch(p.outer, bf_size), bg[t])

        def ev_z(w, t):
            return self.eval_z(p, x, w, bg[t])

        y, e_y, m_y = self._descend(p, y, ev_y, lr_y, tol, "y")
        z, e_z, m_z = self._descend(p, z, ev_z, lr_z, tol, "z")
        d = self.direction(e_y, e_z, sigma)
        return self.make_state(p, x, y, z, k, sigma, e_y, e_z, d, m_y, m_z)

    def _descend(self, p, w, evaluate, lr, tol, level):
        """Up to T projected-gradient steps from ``w``; the point, its evaluation, its mapping."""
        ev = evaluate(w, 0)
        first = None
        for t in range(self.inner_steps):
            step = self.beta[level] if lr is None else lr
            m = _norm(w - p.proj_y(w - step * ev.grad)) / step
            if tol is not None and m <= tol:
                return w, ev, m
            if first is None:
                first = m
            elif m > 1e3 * first:
                hint = f"lr_{level}" if lr is not None else f"lipschitz / lr_{level}"
                raise _Stop(STATUS["diverged"], f"The inner loop in {level} diverged: its gradient "
                            f"mapping grew from {first:.3g} to {m:.3g}; use a smaller step ({hint}).")
            if lr is None:
                w, ev = self._backtrack(p, w, ev, evaluate, level, t + 1)
            else:
                w = p.proj_y(w - lr * ev.grad)
                ev = evaluate(w, t + 1)
        step = self.beta[level] if lr is None else lr
        return w, ev, _norm(w - p.proj_y(w - step * ev.grad)) / step

    def _backtrack(self, p, w, ev, evaluate, level, t):
        beta = self.beta[level]
        while beta > 1e-12:
            w_new = p.proj_y(w - beta * ev.grad)
            diff = w_new - w
            ev_new = evaluate(w_new, t)
            bound = ev.value + _dot(ev.grad, diff) + _dot(diff, diff) / (2 * beta)
            if ev_new.value <= bound + 1e-14 * abs(ev.value):  # slack for rounding
                self.beta[level] = beta
                return w_new, ev_new
            beta /= 2
        raise _Stop(STATUS["line_search"], f"Backtracking found no step for the inner problem in "
                    f"{level} (non-finite values or no decrease); give lr_{level} or lipschitz.")


class PenaltySL(BilevelSolver):
    r"""Single-loop penalty method with momentum (KKWN, ICLR 2024, arXiv:2309.01753).

    Per iteration one batch per level; the three directions
    :math:`u^y = \nabla_y(\sigma f + g)(x, y)`, :math:`u^z = \nabla_y g(x, z)`,
    :math:`u^x = \nabla_x f(x, y) + (\nabla_x g(x, y) - \nabla_x g(x, z))/\sigma`
    (the same g batch at y and z) enter momentum estimators, then all variables step
    simultaneously from the old point:

    .. math::
        y \leftarrow \Pi_Y(y - \beta_y v^y),\quad z \leftarrow \Pi_Y(z - \beta_z v^z),\quad
        x \leftarrow \Pi_X(x - \alpha v^x).

    ``estimator="storm"`` (Cutkosky & Orabona, NeurIPS 2019):
    :math:`v_k = u(w_k;\xi_k) + (1-\eta)(v_{k-1} - u(w_{k-1};\xi_k))`, the same batch at the
    new and the old point (with full batches the old value is reused: no extra call, and
    :math:`v_k = u(w_k)`); ``"ema"``: :math:`v_k = (1-\eta)v_{k-1} + \eta u(w_k;\xi_k)`.
    :math:`\eta` = ``momentum``. When :math:`\sigma` changes, both evaluations use :math:`\sigma_k`.
    """

    def __init__(self, *, estimator, momentum, **kw):
        super().__init__(**kw)
        self.estimator = estimator
        self.eta = momentum

    def init(self, p, x0, rng):
        self.rng = rng
        sigma = self.sigma_at(0)
        e_y, e_z, _ = self._evaluate(p, x0, p.y0, p.z0, sigma, None)
        self.v = self._directions(e_y, e_z, sigma)
        self.last = (e_y, e_z)
        state = self._state(p, x0, p.y0, p.z0, 0, sigma, e_y, e_z, self.v)
        self.current = state
        return state

    def step(self, p, state: State) -> State:
        vx, vy, vz = self.v
        lr_y, lr_z = self.steps(p, state.sigma)
        x_old, y_old, z_old = state.x, state.y, state.z
        y = p.proj_y(y_old - lr_y * vy)
        z = p.proj_y(z_old - lr_z * vz)
        x = p.proj_x(x_old - self.lr_x * vx)
        k = state.k + 1
        sigma = self.sigma_at(k)
        e_y, e_z, batches = self._evaluate(p, x, y, z, sigma, None)
        u = self._directions(e_y, e_z, sigma)
        eta = self.eta
        if self.estimator == "ema":
            self.v = tuple((1 - eta) * v + eta * ui for v, ui in zip(self.v, u))
        else:
            if self.stochastic:
                o_y, o_z, _ = self._evaluate(p, x_old, y_old, z_old, sigma, batches)
            else:
                o_y, o_z = self._rescaled(self.last, sigma)
            u_old = self._directions(o_y, o_z, sigma)
            self.v = tuple(ui + (1 - eta) * (v - uo) for v, ui, uo in zip(self.v, u, u_old))
        self.last = (e_y, e_z)
        state = self._state(p, x, y, z, k, sigma, e_y, e_z, u)
        self.current = state
        return state

    def _evaluate(self, p, x, y, z, sigma, batches):
        if batches is None:
            bf_size, bg_size = self.batch_size
            batches = (self.batch(p.outer, bf_size), self.batch(p.inner, bg_size))
        bf, bg = batches
        return self.eval_y(p, x, y, sigma, bf, bg), self.eval_z(p, x, z, bg), batches

    @staticmethod
    def _rescaled(last, sigma):
        """The previous evaluations recombined with the current sigma (raw parts are kept)."""
        e_y, e_z = last
        fv, fx, fy, gv, gx, gy = e_y.parts
        return _Eval(sigma * fv + gv, sigma * fy + gy, e_y.parts), e_z

    def _directions(self, e_y, e_z, sigma):
        return self.direction(e_y, e_z, sigma), e_y.grad, e_z.grad

    def _state(self, p, x, y, z, k, sigma, e_y, e_z, u) -> State:
        lr_y, lr_z = self.steps(p, sigma)
        m_y = _norm(y - p.proj_y(y - lr_y * u[1])) / lr_y
        m_z = _norm(z - p.proj_y(z - lr_z * u[2])) / lr_z
        return self.make_state(p, x, y, z, k, sigma, e_y, e_z, u[0], m_y, m_z)


_METHODS = {"penalty": Penalty, "penalty-sl": PenaltySL}


def _batch_sizes(problem: BilevelProblem, batch_size) -> tuple:
    if batch_size is None:
        return None, None
    sizes = batch_size if isinstance(batch_size, tuple | list) else (batch_size, batch_size)
    if len(sizes) != 2:
        raise ValueError(f"batch_size must be an int or a pair (outer, inner), got {batch_size!r}")
    out = []
    for level, size, which in zip((problem.outer, problem.inner), sizes, ("outer", "inner")):
        if size is None or (not isinstance(batch_size, tuple | list) and not level.is_stochastic):
            out.append(None)
            continue
        size = check_int(size, f"batch_size ({which})", minimum=1)
        if not level.is_stochastic:
            raise ValueError(f"batch_size ({which}) was given but {level.name} has no n_samples")
        if size > level.n_samples:
            raise ValueError(f"batch_size ({which}) = {size} exceeds n_samples of {level.name} "
                             f"({level.n_samples})")
        out.append(size)
    if out == [None, None]:
        raise ValueError("batch_size was given but neither f nor g has n_samples")
    return tuple(out)


def run_bilevel(solver: BilevelSolver, problem: BilevelProblem, *, maxiter: int, rng,
                callback: Callable | None, method: str) -> OptimizeResult:
    """Run a bilevel solver through the core loop, counting both levels."""
    outer, inner = Counted(problem.outer), Counted(problem.inner)
    p = SimpleNamespace(x0=problem.x0, y0=problem.y0, z0=problem.z0, outer=outer, inner=inner,
                        proj_x=problem.proj_x, proj_y=problem.proj_y,
                        lipschitz=problem.lipschitz, objective=_Counts(outer, inner))
    user_cb = wrap_callback(callback)

    def cb(intermediate_result):
        intermediate_result.update(solver.current.callback_fields())
        user_cb(intermediate_result)

    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return run(solver, p, maxiter=maxiter, rng=rng, callback=None if callback is None else cb,
               method=method)


def solve(problem: BilevelProblem, method: str = "penalty", *, sigma: float = 1e-2,
          sigma_schedule: str | Callable = "constant", sigma_min: float | None = None,
          sigma_every: int = 100, lr_x: float | None = None, lr_y: float | None = None,
          lr_z: float | None = None, inner_steps: int = 20, inner_tol: float | None = None,
          batch_size=None, momentum: float = 0.1, estimator: str = "storm", maxiter: int = 1000,
          tol: float = 1e-6, rng=None, callback: Callable | None = None) -> OptimizeResult:
    r"""Solve a bilevel problem with a value-function penalty method.

    Parameters
    ----------
    problem : BilevelProblem
    method : {"penalty", "penalty-sl"}
        Double loop (:class:`Penalty`) or single loop with momentum (:class:`PenaltySL`).
    sigma : float
        Penalty parameter :math:`\sigma > 0` (:math:`1/\lambda` in F2SA, :math:`1/\gamma` in
        V-PBGD): the bias is :math:`O(\sigma)`, inner errors are amplified by :math:`1/\sigma`.
    sigma_schedule : {"constant", "geometric"} or callable
        ``"geometric"``: :math:`\sigma_k = \max(\sigma_{min}, \sigma\,0.5^{\lfloor k/\text{sigma\_every}\rfloor})`;
        a callable maps ``k`` to :math:`\sigma_k`.
    sigma_min : float, optional
        Floor of the geometric schedule (required by it).
    sigma_every : int
        Outer steps between halvings of the geometric schedule.
    lr_x, lr_y, lr_z : float, optional
        Steps on x (default 0.1 with full batches), y and z (default from
        ``problem.lipschitz``; else backtracking for ``"penalty"``). All three are required
        with mini-batches, and ``lr_y``/``lr_z`` for ``"penalty-sl"`` without ``lipschitz``.
    inner_steps : int
        T, inner steps per outer step (``"penalty"``).
    inner_tol : float, optional
        Inner early-stop and final tolerance on the gradient mappings; default
        ``sigma * tol`` (full batches only).
    batch_size : int or pair, optional
        Mini-batch sizes (outer, inner); an int applies to each level with ``n_samples``.
        Given, the run is stochastic: it uses the whole ``maxiter`` budget.
    momentum : float in (0, 1]
        :math:`\eta` of the ``"penalty-sl"`` estimators.
    estimator : {"storm", "ema"}
    maxiter : int
        Outer iterations.
    tol : float
        Stop when the projected gradient mapping of x is at most ``tol`` (full batches).
    rng : numpy Generator or seed, optional
    callback : callable, optional
        ``callback(intermediate_result)`` (an ``OptimizeResult`` with x, y, z, sigma,
        psi_sigma, fun, nit, counts) or ``callback(x)``; ``StopIteration`` stops the run.

    Returns
    -------
    OptimizeResult
        ``x``, ``y`` (approximates :math:`y_\sigma(x)`), ``z`` (approximates :math:`y^*(x)`),
        ``fun`` = f(x, y), ``psi_sigma`` = f(x,y) + (g(x,y) - g(x,z))/sigma (mini-batch
        estimates in stochastic runs), ``sigma``, ``psi`` (when ``problem.psi`` is given),
        ``nit``, counts (``nfev``/``njev`` totals; ``n_outer_value``, ``n_outer_grad``,
        ``n_inner_value``, ``n_inner_grad``), ``status``, ``success``, ``message``, ``trace``.
        Status: 0 stationary (or stochastic budget used), 1 maxiter, 2 backtracking failed,
        3 non-finite value, 4 an inner loop diverged, 99 callback.

    Notes
    -----
    The lower level need not be strongly convex or have a unique solution: the penalty
    only needs inner solvers that reach ``argmin`` (KKWN assume a proximal error bound);
    :math:`g(x,y) - g(x,z) \ge 0` (the traced ``gap``) up to inner error checks it.
    """
    if not isinstance(problem, BilevelProblem):
        raise TypeError(f"problem must be a BilevelProblem, got {type(problem).__name__}")
    check_in(method, "method", _METHODS)
    sigma = check_positive(sigma, "sigma")
    if not callable(sigma_schedule):
        check_in(sigma_schedule, "sigma_schedule", ("constant", "geometric"))
    if sigma_schedule == "geometric":
        if sigma_min is None:
            raise ValueError("sigma_schedule='geometric' needs sigma_min")
        sigma_min = check_positive(sigma_min, "sigma_min")
    sigma_every = check_int(sigma_every, "sigma_every", minimum=1)
    lr_y, lr_z = (None if v is None else check_positive(v, n) for v, n in ((lr_y, "lr_y"),
                                                                          (lr_z, "lr_z")))
    inner_steps = check_int(inner_steps, "inner_steps", minimum=1)
    maxiter = check_int(maxiter, "maxiter", minimum=0)
    tol = check_nonnegative(tol, "tol")
    sizes = _batch_sizes(problem, batch_size)
    stochastic = sizes != (None, None)
    if stochastic:
        missing = [n for n, v in (("lr_x", lr_x), ("lr_y", lr_y), ("lr_z", lr_z)) if v is None]
        if missing:
            raise ValueError(f"mini-batch runs need explicit steps: give {', '.join(missing)}")
        if inner_tol is not None:
            raise ValueError("inner_tol applies to full-batch runs only (batch_size is set)")
    if inner_tol is not None:
        inner_tol = check_nonnegative(inner_tol, "inner_tol")
    lr_x = 0.1 if lr_x is None else check_positive(lr_x, "lr_x")
    common = dict(sigma=sigma, sigma_schedule=sigma_schedule, sigma_min=sigma_min,
                  sigma_every=sigma_every, lr_x=lr_x, lr_y=lr_y, lr_z=lr_z,
                  inner_steps=inner_steps, inner_tol=inner_tol, batch_size=sizes, tol=tol,
                  maxiter=maxiter, stochastic=stochastic, psi=problem.psi)
    if method == "penalty-sl":
        check_in(estimator, "estimator", ("storm", "ema"))
        if isinstance(momentum, numbers.Real) and not isinstance(momentum, bool) and momentum == 0:
            raise ValueError("momentum must lie in (0, 1], got 0")
        momentum = check_probability(momentum, "momentum", closed_right=True)
        if (lr_y is None or lr_z is None) and problem.lipschitz is None:
            raise ValueError("method='penalty-sl' needs lr_y and lr_z, or problem.lipschitz")
        solver = PenaltySL(estimator=estimator, momentum=momentum, **common)
    else:
        solver = Penalty(**common)
    return run_bilevel(solver, problem, maxiter=maxiter, rng=rng, callback=callback, method=method)
