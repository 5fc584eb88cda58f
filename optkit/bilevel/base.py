r"""Shared parts of the bilevel solvers: the iterate, the result type, the counted run view.

Every bilevel method (the penalty methods and the comparison methods AID, BOME, V-PBGD) is
a core solver (``init / step / terminate / result``) driven by :func:`optkit.core.run`.
The solver objects hold configuration only; the iterate, the random generator, step sizes
found by backtracking and momentum buffers live in :class:`State`.

Oracle counts: each level is wrapped in :class:`~optkit.core.Counted`; one call of a
level's ``value_and_grad`` at one point counts one value and one gradient (both partial
gradients come from that call). ``nfev`` is the number of level-oracle calls (values of f
plus values of g), ``njev`` the number of gradient calls (the same calls: every call of the
first-order methods returns both), ``nhev`` the Hessian-vector products of g (AID only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.backend import namespace, to_float, to_numpy
from ..core.oracle import Counted
from ..core.result import STATUS, OptimizeResult
from ..core.solver import copy_x

__all__ = ["BilevelResult", "State", "RunView", "norm", "dot"]


class BilevelResult(OptimizeResult):
    r"""Result of :func:`optkit.bilevel.solve`: an ``OptimizeResult`` with bilevel fields.

    ``x`` (upper variable), ``y`` (the lower variable that also sees f: :math:`y_\sigma` for
    the penalty methods), ``z`` (the lower-level-only variable, :math:`\approx y^*(x)`),
    ``fun`` = f(x, y), ``nfev`` / ``njev`` / ``nhev`` (level-oracle calls, gradient calls,
    Hessian-vector products), per-level counts ``n_outer_value``, ``n_outer_grad``,
    ``n_inner_value``, ``n_inner_grad``, ``n_inner_hvp``, ``n_samples``; the penalty methods
    add ``sigma`` and ``psi_sigma``; ``psi`` when the problem knows :math:`\psi`.
    """


def norm(v) -> float:
    """Euclidean norm of a numpy array or torch tensor, as a float (host read)."""
    xp = namespace(v)
    return to_float(xp.linalg.vector_norm(v))


def dot(a, b):
    """Inner product of two vectors of one backend (a 0-d array or tensor)."""
    xp = namespace(a, b)
    return xp.sum(a * b)


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


class RunView:
    """One run's view of a :class:`~optkit.bilevel.BilevelProblem`: counted levels.

    Built afresh for every run by :func:`optkit.bilevel.solve`, so the counts belong to
    that run only.
    """

    def __init__(self, problem):
        self.outer, self.inner = Counted(problem.outer), Counted(problem.inner)
        self.objective = _Counts(self.outer, self.inner)
        self.x0, self.y0, self.z0 = problem.x0, problem.y0, problem.z0
        self.proj_x, self.proj_y = problem.proj_x, problem.proj_y
        self.lipschitz = problem.lipschitz
        self.psi = problem.psi


@dataclass
class Eval:
    """One evaluation of a lower-level objective at a point: value, y-gradient, raw parts."""

    value: Any
    grad: Any
    parts: tuple


@dataclass
class State:
    r"""Iterate of a bilevel solver and its run state.

    ``x``, ``y``, ``z``; ``d`` the x-direction of the last evaluation (``dy`` the
    y-direction of the joint-step methods); ``map_x``, ``map_y``, ``map_z`` the gradient
    mappings; ``rng`` the run's generator; ``beta`` the backtracking steps; ``v`` and
    ``last`` the momentum buffers of ``penalty-sl``; ``extra`` method-specific trace columns.
    """

    x: Any
    y: Any
    z: Any
    k: int
    sigma: float | None
    f_val: Any
    g_y: Any
    g_z: Any
    d: Any
    map_x: float
    map_y: float
    map_z: float
    rng: np.random.Generator | None = None
    psi: float | None = None
    failure: tuple | None = None
    dy: Any = None
    beta: dict = field(default_factory=dict)
    v: tuple | None = None
    last: tuple | None = None
    warned: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def fun(self):
        return self.f_val

    @property
    def psi_sigma(self) -> float | None:
        if self.sigma is None:
            return None
        return to_float(self.f_val) + to_float(self.g_y - self.g_z) / self.sigma

    def trace_extra(self) -> dict:
        rec = {"norm_d": norm(self.d), "pg_norm": self.map_x, "inner_map_y": self.map_y,
               "inner_map_z": self.map_z, "gap": to_float(self.g_y - self.g_z), **self.extra}
        if self.sigma is not None:
            rec.update(sigma=self.sigma, psi_sigma=self.psi_sigma)
        if self.psi is not None:
            rec["psi"] = self.psi
        return rec


class Stop(Exception):
    """An inner computation failed: carries the status code and the message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class BilevelSolver:
    """Shared protocol parts: level evaluations, stopping on gradient mappings, result.

    Subclasses implement ``start(p, x0, rng) -> State`` and ``advance(p, state) -> State``.
    """

    stochastic = False

    def __init__(self, *, lr_x, tol, batch_size=(None, None)):
        self.lr_x = lr_x
        self.tol = tol
        self.batch_size = batch_size

    # protocol ------------------------------------------------------------------------
    def init(self, p, x0, rng):
        return self.start(p, x0, rng)

    def step(self, p, state: State) -> State:
        return self.advance(p, state)

    def terminate(self, p, state: State):
        if state.failure is not None:
            return True, state.failure[0], state.failure[1]
        if self.stochastic:  # mini-batches: no stationarity test; the budget ends the run
            return False, 0, ""
        if self.converged(state):
            return (True, STATUS["success"], "Stationary point found: the projected gradient "
                    "mapping of x and the lower-level gradient mappings are below tol.")
        return False, 0, ""

    def converged(self, state: State) -> bool:
        return state.map_x <= self.tol and state.map_y <= self.tol

    def result(self, p, state: State) -> dict:
        out = {"y": copy_x(state.y), "z": copy_x(state.z)}
        out.update({k: v for k, v in p.objective.snapshot().items()
                    if k == "n_samples" or "_outer_" in k or "_inner_" in k})
        if state.sigma is not None:
            out.update(sigma=state.sigma, psi_sigma=state.psi_sigma)
        if state.psi is not None:
            out["psi"] = state.psi
        return out

    def callback_fields(self, p, state: State) -> dict:
        """The callback sees what the result reports: y, z, the per-level counts, sigma."""
        return self.result(p, state)

    # helpers ---------------------------------------------------------------------------
    def batch(self, level, size, rng):
        return None if size is None else level.sample_batch(rng, size)

    @staticmethod
    def eval_y(p, x, y, sigma, bf, bg) -> Eval:
        """h_sigma = sigma f + g at (x, y): one call of f and one of g."""
        fv, (fx, fy) = p.outer.value_and_grad((x, y), bf)
        gv, (gx, gy) = p.inner.value_and_grad((x, y), bg)
        return Eval(sigma * fv + gv, sigma * fy + gy, (fv, fx, fy, gv, gx, gy))

    @staticmethod
    def eval_z(p, x, z, bg) -> Eval:
        """g at (x, z): one call of g."""
        gv, (gx, gy) = p.inner.value_and_grad((x, z), bg)
        return Eval(gv, gy, (gv, gx, gy))

    def mapping_x(self, p, x, d) -> float:
        """Projected-gradient mapping ``|x - Proj_X(x - lr_x d)| / lr_x``."""
        return norm(x - p.proj_x(x - self.lr_x * d)) / self.lr_x

    @staticmethod
    def psi_at(p, x):
        return None if p.psi is None else float(p.psi(to_numpy(x)))



class JointBase(BilevelSolver):
    r"""Shared parts of the comparison methods (AID, BOME, V-PBGD): full batches, fixed steps.

    ``z`` holds the auxiliary lower-level iterate (:math:`\theta_T` in BOME, :math:`\omega` in
    V-PBGD, ``y`` itself in AID); ``lr_inner`` is the step of the gradient steps on
    :math:`g(x,\cdot)`; the run stops when the projected-gradient mappings of x (step
    ``lr_x``) and y (step ``lr_y``) are at most ``tol``.
    """

    def __init__(self, *, lr_x, lr_y, lr_inner, inner_steps, tol):
        super().__init__(lr_x=lr_x, tol=tol)
        self.lr_y = lr_y
        self.lr_inner = lr_inner
        self.inner_steps = inner_steps

    def start(self, p, x0, rng):
        return self.evaluate(p, x0, p.y0, p.z0, 0, None)

    def advance(self, p, state: State) -> State:
        """The joint projected step on (x, y) with the directions of the last evaluation."""
        x = p.proj_x(state.x - self.lr_x * state.d)
        y = p.proj_y(state.y - self.lr_y * state.dy)
        return self.evaluate(p, x, y, state.z, state.k + 1, state)

    def descend_g(self, p, x, w, steps):
        """``steps`` gradient steps on g(x, .) from w; the point and g's last evaluation."""
        ev = self.eval_z(p, x, w, None)
        for _ in range(steps):
            w = p.proj_y(w - self.lr_inner * ev.grad)
            ev = self.eval_z(p, x, w, None)
        return w, ev

    def make_state(self, p, x, y, z, k, dx, dy, fv, gy, gz, *, warned=False, **extra) -> State:
        map_y = norm(y - p.proj_y(y - self.lr_y * dy)) / self.lr_y
        return State(x, y, z, k, None, fv, gy, gz, dx, self.mapping_x(p, x, dx), map_y, 0.0,
                     psi=self.psi_at(p, x), dy=dy, warned=warned, extra=extra)
