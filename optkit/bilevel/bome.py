r"""BOME: bilevel optimization made easy, a first-order value-function method.

Liu, Ye, Wright, Stone, Liu, "BOME! Bilevel Optimization Made Easy: A Simple First-Order
Approach", NeurIPS 2022 (arXiv:2209.08709), Alg. 1.
"""

from __future__ import annotations

from .base import JointBase, State, dot

__all__ = ["BOME"]


class BOME(JointBase):
    r"""BOME (Liu et al., NeurIPS 2022, Alg. 1): descent on f with the value-function constraint.

    :math:`\hat q(x,\theta) = g(x,\theta) - g(x,\theta_T)`, with :math:`\theta_T` after
    :math:`T` gradient steps on :math:`g(x,\cdot)` from :math:`\theta` (step ``lr_inner``),
    held constant in the gradient. With :math:`\eta` = ``eta`` (the control
    :math:`\phi = \eta\|\nabla\hat q\|^2` of the paper's §3):

    .. math::
        \lambda &= \max\Big(\eta - \frac{\langle\nabla f, \nabla\hat q\rangle}
            {\|\nabla\hat q\|^2 + 10^{-8}},\ 0\Big),\\
        (x, \theta) &\leftarrow \Pi\big((x, \theta) - (\alpha, \beta)\odot(\nabla f + \lambda\nabla\hat q)\big),

    :math:`\alpha` = ``lr_x`` on x and :math:`\beta` = ``lr_y`` on :math:`\theta` (``y``);
    ``z`` reports :math:`\theta_T`.
    """

    def __init__(self, *, eta, **kw):
        super().__init__(**kw)
        self.eta = eta

    def evaluate(self, p, x, y, z, k, prev: State | None) -> State:
        t, ev_t = self.descend_g(p, x, y, self.inner_steps)
        fv, (fx, fy) = p.outer.value_and_grad((x, y))
        gv, (gx, gy) = p.inner.value_and_grad((x, y))
        qx, qy = gx - ev_t.parts[1], gy
        ratio = (dot(fx, qx) + dot(fy, qy)) / (dot(qx, qx) + dot(qy, qy) + 1e-8)
        lam = max(self.eta - float(ratio), 0.0)
        return self.make_state(p, x, y, t, k, fx + lam * qx, fy + lam * qy, fv, gv, ev_t.value,
                               lam=lam)
