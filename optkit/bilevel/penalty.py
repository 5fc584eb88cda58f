r"""Double-loop value-function penalty method for nonconvex bilevel optimization.

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

from dataclasses import replace

from ..core.linesearch import backtracking
from ..core.result import STATUS
from ..core.validate import check_positive
from .base import BilevelSolver, Eval, State, Stop, dot, norm

__all__ = ["Penalty", "PenaltyBase"]


class PenaltyBase(BilevelSolver):
    r"""Configuration shared by the penalty methods: the :math:`\sigma` schedule and steps."""

    def __init__(self, *, sigma, sigma_schedule, sigma_min, sigma_every, lr_x, lr_y, lr_z,
                 inner_tol, batch_size, tol):
        super().__init__(lr_x=lr_x, tol=tol, batch_size=batch_size)
        self.sigma0 = sigma
        self.schedule = sigma_schedule
        self.sigma_min = sigma_min
        self.sigma_every = sigma_every
        self.lr_y, self.lr_z = lr_y, lr_z
        self.inner_tol = inner_tol
        self.stochastic = batch_size != (None, None)

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

    def tol_inner(self, sigma: float) -> float | None:
        if self.stochastic:
            return None
        return sigma * self.tol if self.inner_tol is None else self.inner_tol

    def converged(self, state: State) -> bool:
        tol_in = self.tol_inner(state.sigma)
        return state.map_x <= self.tol and state.map_y <= tol_in and state.map_z <= tol_in

    @staticmethod
    def direction(ev_y: Eval, ev_z: Eval, sigma: float):
        """d = grad_x f(x, y) + (grad_x g(x, y) - grad_x g(x, z)) / sigma."""
        return ev_y.parts[1] + (ev_y.parts[4] - ev_z.parts[1]) / sigma

    def make_state(self, p, x, y, z, k, sigma, ev_y, ev_z, d, map_y, map_z, **run) -> State:
        fv, _, _, gv_y, _, _ = ev_y.parts
        return State(x, y, z, k, sigma, fv, gv_y, ev_z.parts[0], d, self.mapping_x(p, x, d),
                     map_y, map_z, psi=self.psi_at(p, x), **run)


class Penalty(PenaltyBase):
    r"""Double-loop value-function penalty method (KKWN, ICLR 2024, arXiv:2309.01753, §3).

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
    ``problem.lipschitz``; else :func:`optkit.core.linesearch.backtracking` with the
    descent-lemma test :math:`h(y^+) \le h(y) + \langle\nabla h(y), y^+-y\rangle +
    \|y^+-y\|^2/(2\beta)` (``c1 = 1``; halving, the first search from :math:`\beta=1`, later
    ones from the last accepted step, kept in the state; a relative slack of 1e-14 absorbs
    rounding near a minimizer).
    """

    def __init__(self, *, inner_steps, **kw):
        super().__init__(**kw)
        self.inner_steps = inner_steps

    def start(self, p, x0, rng):
        beta = {"y": 1.0, "z": 1.0}
        try:
            return self._inner_and_direction(p, x0, p.y0, p.z0, 0, rng, beta)
        except Stop as stop:
            f0 = p.outer.value((x0, p.y0))
            nan = float("nan")
            return State(x0, p.y0, p.z0, 0, self.sigma_at(0), f0, nan, nan, x0 * nan, nan, nan,
                         nan, rng=rng, failure=(stop.status, stop.message))

    def advance(self, p, state: State) -> State:
        x = p.proj_x(state.x - self.lr_x * state.d)
        try:
            return self._inner_and_direction(p, x, state.y, state.z, state.k + 1, state.rng,
                                             dict(state.beta))
        except Stop as stop:  # keep the last complete iterate
            return replace(state, failure=(stop.status, stop.message))

    def _inner_and_direction(self, p, x, y, z, k, rng, beta) -> State:
        sigma = self.sigma_at(k)
        tol = self.tol_inner(sigma)
        lr_y, lr_z = self.steps(p, sigma)
        bf_size, bg_size = self.batch_size
        # one g batch per inner step, shared by the y and z loops (None with full batches)
        bg = [self.batch(p.inner, bg_size, rng) for _ in range(self.inner_steps + 1)]

        def ev_y(w, t):
            return self.eval_y(p, x, w, sigma, self.batch(p.outer, bf_size, rng), bg[t])

        def ev_z(w, t):
            return self.eval_z(p, x, w, bg[t])

        y, e_y, m_y = self._descend(p, y, ev_y, lr_y, tol, "y", beta)
        z, e_z, m_z = self._descend(p, z, ev_z, lr_z, tol, "z", beta)
        d = self.direction(e_y, e_z, sigma)
        return self.make_state(p, x, y, z, k, sigma, e_y, e_z, d, m_y, m_z, rng=rng, beta=beta)

    def _descend(self, p, w, evaluate, lr, tol, level, beta):
        """Up to T projected-gradient steps from ``w``; the point, its evaluation, its mapping."""
        ev = evaluate(w, 0)
        first = None
        for t in range(self.inner_steps):
            step = beta[level] if lr is None else lr
            m = norm(w - p.proj_y(w - step * ev.grad)) / step
            if tol is not None and m <= tol:
                return w, ev, m
            if first is None:
                first = m
            elif m > 1e3 * first:
                hint = f"lr_{level}" if lr is not None else f"lipschitz / lr_{level}"
                raise Stop(STATUS["diverged"], f"The inner loop in {level} diverged: its gradient "
                           f"mapping grew from {first:.3g} to {m:.3g}; use a smaller step ({hint}).")
            if lr is None:
                w, ev = self._backtrack(p, w, ev, evaluate, level, t + 1, beta)
            else:
                w = p.proj_y(w - lr * ev.grad)
                ev = evaluate(w, t + 1)
        step = beta[level] if lr is None else lr
        return w, ev, norm(w - p.proj_y(w - step * ev.grad)) / step

    @staticmethod
    def _backtrack(p, w, ev, evaluate, level, t, beta):
        def trial(b):
            w_new = p.proj_y(w - b * ev.grad)
            diff = w_new - w
            ev_new = evaluate(w_new, t)
            return ev_new.value, dot(ev.grad, diff) + dot(diff, diff) / (2 * b), (w_new, ev_new)

        f0 = float(ev.value)
        ls = backtracking(trial, f0, step=beta[level], c1=1.0, shrink=0.5, max_backtracks=100,
                          min_step=1e-12, slack=1e-14 * abs(f0))
        if not ls.success:
            raise Stop(STATUS["line_search"], f"Backtracking found no step for the inner problem "
                       f"in {level} (non-finite values or no decrease); give lr_{level} or "
                       "lipschitz.")
        beta[level] = ls.step
        return ls.payload
