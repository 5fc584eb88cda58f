r"""V-PBGD: value-function-based penalized bilevel gradient descent.

Shen & Chen, "On Penalty-based Bilevel Gradient Descent Method", ICML 2023
(arXiv:2302.05185), the value-function variant V-PBGD.
"""

from __future__ import annotations

from .base import JointBase, State

__all__ = ["VPBGD"]


class VPBGD(JointBase):
    r"""V-PBGD (Shen & Chen, ICML 2023, arXiv:2302.05185): gradient descent on the penalized objective
    :math:`f(x,y) + \gamma\,(g(x,y) - g(x,\omega))`.

    Each step, with :math:`\omega` warm started and held fixed in the gradient:

    .. math::
        \omega &\leftarrow T \text{ gradient steps on } g(x,\cdot) \text{ from } \omega
                   \text{ (step ``lr_inner``)},\\
        \gamma_k &= \gamma_0 + (\gamma_{max}-\gamma_0)\min(1, k/K),\quad
        \eta_k = \min(1/\gamma_k, 1),\\
        x &\leftarrow \Pi_X\big(x - \eta_k\alpha(\nabla_x f + \gamma_k(\nabla_x g(x,y) -
            \nabla_x g(x,\omega)))\big),\\
        y &\leftarrow \Pi_Y\big(y - \eta_k\beta(\nabla_y f + \gamma_k\nabla_y g(x,y))\big),

    with :math:`\gamma_{max}` = ``gamma``, :math:`\gamma_0` = ``gamma_init``, :math:`K` =
    ``gamma_argmax_step``, :math:`\alpha` = ``lr_x``, :math:`\beta` = ``lr_y``. Its fixed
    points are those of the penalty :math:`\psi_\sigma` with :math:`\sigma = 1/\gamma_{max}`.
    """

    def __init__(self, *, gamma, gamma_init, gamma_argmax_step, **kw):
        super().__init__(**kw)
        self.gamma_max, self.gamma_init, self.ramp = gamma, gamma_init, gamma_argmax_step

    def gamma(self, k):
        return self.gamma_init + (self.gamma_max - self.gamma_init) * min(1.0, k / self.ramp)

    def evaluate(self, p, x, y, w, k, prev: State | None) -> State:
        gamma = self.gamma(k)
        w, ev_w = self.descend_g(p, x, w, self.inner_steps)
        fv, (fx, fy) = p.outer.value_and_grad((x, y))
        gv, (gx, gy) = p.inner.value_and_grad((x, y))
        scale = min(1.0 / gamma, 1.0)
        dx = scale * (fx + gamma * (gx - ev_w.parts[1]))
        dy = scale * (fy + gamma * gy)
        return self.make_state(p, x, y, w, k, dx, dy, fv, gv, ev_w.value, gamma=gamma)
