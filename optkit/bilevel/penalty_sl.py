r"""Single-loop value-function penalty method with momentum.

Kwon, Kwon, Wright, Nowak, "On Penalty Methods for Nonconvex Bilevel Optimization and
First-Order Stochastic Approximation", ICLR 2024 (arXiv:2309.01753); STORM estimator:
Cutkosky & Orabona, "Momentum-Based Variance Reduction in Non-Convex SGD", NeurIPS 2019.
"""

from __future__ import annotations

from .base import Eval, State, norm
from .penalty import PenaltyBase

__all__ = ["PenaltySL"]


class PenaltySL(PenaltyBase):
    r"""Single-loop penalty method with momentum (KKWN, ICLR 2024, arXiv:2309.01753).

    Per iteration one batch per level; the three directions
    :math:`u^y = \nabla_y(\sigma f + g)(x, y)`, :math:`u^z = \nabla_y g(x, z)`,
    :math:`u^x = \nabla_x f(x, y) + (\nabla_x g(x, y) - \nabla_x g(x, z))/\sigma`
    (the same g batch at y and z) enter momentum estimators, then all variables step
    simultaneously from the old point:

    .. math::
        y \leftarrow \Pi_Y(y - \beta_y v^y),\quad z \leftarrow \Pi_Y(z - \beta_z v^z),\quad
        x \leftarrow \Pi_X(x - \alpha v^x).

    ``estimator="storm"`` (Cutkosky & Orabona, NeurIPS 2019, Alg. 1):
    :math:`v_k = u(w_k;\xi_k) + (1-\eta)(v_{k-1} - u(w_{k-1};\xi_k))`, the same batch at the
    new and the old point (with full batches the old value is reused: no extra call, and
    :math:`v_k = u(w_k)`); ``"ema"``: :math:`v_k = (1-\eta)v_{k-1} + \eta u(w_k;\xi_k)`.
    :math:`\eta` = ``momentum``. When :math:`\sigma` changes, both evaluations use :math:`\sigma_k`.
    The buffers :math:`v` and the last evaluations live in the state.
    """

    def __init__(self, *, estimator, momentum, **kw):
        super().__init__(**kw)
        self.estimator = estimator
        self.eta = momentum

    def start(self, p, x0, rng):
        sigma = self.sigma_at(0)
        e_y, e_z, _ = self._evaluate(p, x0, p.y0, p.z0, sigma, None, rng)
        v = self._directions(e_y, e_z, sigma)
        return self._state(p, x0, p.y0, p.z0, 0, sigma, e_y, e_z, v, v, rng)

    def advance(self, p, state: State) -> State:
        vx, vy, vz = state.v
        lr_y, lr_z = self.steps(p, state.sigma)
        x_old, y_old, z_old = state.x, state.y, state.z
        y = p.proj_y(y_old - lr_y * vy)
        z = p.proj_y(z_old - lr_z * vz)
        x = p.proj_x(x_old - self.lr_x * vx)
        k = state.k + 1
        sigma = self.sigma_at(k)
        e_y, e_z, batches = self._evaluate(p, x, y, z, sigma, None, state.rng)
        u = self._directions(e_y, e_z, sigma)
        eta = self.eta
        if self.estimator == "ema":
            v = tuple((1 - eta) * vi + eta * ui for vi, ui in zip(state.v, u))
        else:
            if self.stochastic:
                o_y, o_z, _ = self._evaluate(p, x_old, y_old, z_old, sigma, batches, state.rng)
            else:
                o_y, o_z = self._rescaled(state.last, sigma)
            u_old = self._directions(o_y, o_z, sigma)
            v = tuple(ui + (1 - eta) * (vi - uo) for vi, ui, uo in zip(state.v, u, u_old))
        return self._state(p, x, y, z, k, sigma, e_y, e_z, u, v, state.rng)

    def _evaluate(self, p, x, y, z, sigma, batches, rng):
        if batches is None:
            bf_size, bg_size = self.batch_size
            batches = (self.batch(p.outer, bf_size, rng), self.batch(p.inner, bg_size, rng))
        bf, bg = batches
        return self.eval_y(p, x, y, sigma, bf, bg), self.eval_z(p, x, z, bg), batches

    @staticmethod
    def _rescaled(last, sigma):
        """The previous evaluations recombined with the current sigma (raw parts are kept)."""
        e_y, e_z = last
        fv, fx, fy, gv, gx, gy = e_y.parts
        return Eval(sigma * fv + gv, sigma * fy + gy, e_y.parts), e_z

    def _directions(self, e_y, e_z, sigma):
        return self.direction(e_y, e_z, sigma), e_y.grad, e_z.grad

    def _state(self, p, x, y, z, k, sigma, e_y, e_z, u, v, rng) -> State:
        lr_y, lr_z = self.steps(p, sigma)
        m_y = norm(y - p.proj_y(y - lr_y * u[1])) / lr_y
        m_z = norm(z - p.proj_y(z - lr_z * u[2])) / lr_z
        return self.make_state(p, x, y, z, k, sigma, e_y, e_z, u[0], m_y, m_z, rng=rng, v=v,
                               last=(e_y, e_z))
