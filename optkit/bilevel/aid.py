r"""Approximate implicit differentiation (AID) for bilevel problems with a strongly convex lower level.

Pedregosa, "Hyperparameter optimization with approximate gradient", ICML 2016 (HOAG, Alg. 1);
also Ghadimi & Wang, "Approximation Methods for Bilevel Programming", 2018 (arXiv:1802.02246).
"""

from __future__ import annotations

import warnings

from ..core.cg import pcg
from .base import JointBase, State

__all__ = ["AID"]


class AID(JointBase):
    r"""Hypergradient descent with the implicit-function gradient (Pedregosa 2016, Alg. 1).

    Each outer step, with :math:`y` warm started:

    .. math::
        y &\leftarrow T \text{ projected gradient steps on } g(x, \cdot)
            \text{ (step } \beta\text{ = ``lr_inner``)},\\
        q &\approx [\nabla^2_{yy} g(x,y)]^{-1} \nabla_y f(x,y)
            \quad (\text{CG on Hessian-vector products, } \le \text{ ``cg_steps''},
            \text{ relative residual ``cg_tol''}),\\
        x &\leftarrow \Pi_X\big(x - \alpha(\nabla_x f(x,y) - \nabla^2_{xy} g(x,y)\, q)\big).

    CG is :func:`optkit.core.cg.pcg` on :math:`v \mapsto \nabla^2_{yy} g\, v`; the cross
    term :math:`\nabla^2_{xy} g\, q` costs one more second-order call (each returns both
    blocks). Second-order calls are counted in ``nhev`` (``n_inner_hvp``). Needs
    :math:`\nabla^2_{yy} g \succ 0` (a strongly convex lower level): when CG stops short of
    ``cg_tol`` or meets a curvature :math:`\le 0` (a singular or indefinite Hessian), a
    ``RuntimeWarning`` says so, once per run, and the partial solution is used.
    """

    def __init__(self, *, cg_steps, cg_tol, **kw):
        super().__init__(**kw)
        self.cg_steps = cg_steps
        self.cg_tol = cg_tol

    def evaluate(self, p, x, y, z, k, prev: State | None) -> State:
        y, ev_g = self.descend_g(p, x, y, self.inner_steps)
        fv, (fx, fy) = p.outer.value_and_grad((x, y))

        def matvec(v):
            return p.inner.hvp((x, y), v)[1]

        cg = pcg(matvec, fy, rtol=self.cg_tol, maxiter=self.cg_steps)
        cross = p.inner.hvp((x, y), cg.x)[0]
        warned = prev is not None and prev.warned
        if not cg.converged and not warned:
            warned = True
            why = ("met a curvature <= 0" if cg.negative_curvature
                   else f"did not reach cg_tol in cg_steps={self.cg_steps} iterations")
            warnings.warn(f"AID: conjugate gradient {why} (residual {cg.residual:.3g}): raise "
                          "cg_steps, or the Hessian of g in y is singular or ill-conditioned "
                          "(AID needs a strongly convex lower level).", RuntimeWarning,
                          stacklevel=2)
        return self.make_state(p, x, y, y, k, fx - cross, ev_g.grad, fv, ev_g.value,
                               ev_g.value, warned=warned, cg_residual=cg.residual)

    def advance(self, p, state: State) -> State:
        """Only x steps; y is refreshed by the inner gradient steps of :meth:`evaluate`."""
        x = p.proj_x(state.x - self.lr_x * state.d)
        return self.evaluate(p, x, state.y, state.z, state.k + 1, state)
