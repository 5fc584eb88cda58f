r"""Large sparse equality-constrained test problems (:math:`n \ge 10^4`), with exact sparse
Hessians (``hess=``) so that ``al-newton`` can assemble a sparse KKT matrix.

- :func:`network_flow`: a convex-cost flow on a random network (nonlinear resistors),

  .. math::
      \min_x \sum_e r_e\Big(\frac{x_e^2}{2} + \frac{x_e^4}{4}\Big)
      \quad\text{s.t.}\quad A x = d,

  :math:`A` the node-arc incidence matrix without node 0 (flow conservation), :math:`d`
  zero-sum supplies; the Hessian is diagonal and the constraints linear.
- :func:`semilinear_control`: distributed optimal control of :math:`-\Delta y + y^3 = u`
  on the unit square (five-point finite differences, :math:`N^2` interior nodes,
  :math:`h = 1/(N+1)`, homogeneous Dirichlet data),

  .. math::
      \min_{y,u} \frac{h^2}{2}\|y - y_d\|^2 + \frac{\alpha h^2}{2}\|u\|^2
      \quad\text{s.t.}\quad L_h y + y^3 - u = 0,

  :math:`y_d(s, t) = \sin(2\pi s)\sin(2\pi t)`; nonlinear constraints, diagonal Hessians.
- :func:`separable_quartic`: a separable quartic under a few random sparse linear
  constraints (a synthetic case in the spirit of the paper's experiments),

  .. math::
      \min_x \sum_i \Big(\frac{x_i^4}{4} + \frac{x_i^2}{2}\Big) - c^\top x
      \quad\text{s.t.}\quad A x = b .
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint

from optkit.core import Problem
from optkit.core.rng import check_rng
from optkit.core.validate import check_int, check_positive

__all__ = ["network_flow", "semilinear_control", "separable_quartic"]


def network_flow(n_nodes: int = 2001, n_edges: int = 10_000, *, rng=0) -> Problem:
    r"""The convex-cost network-flow :class:`~optkit.core.Problem` (see the module docstring).

    The network is a directed ring through all ``n_nodes`` nodes (so it is connected) plus
    ``n_edges - n_nodes`` random arcs; resistances :math:`r_e \sim U(0.5, 2)`, supplies
    :math:`d` standard Gaussian centred to sum 0, :math:`x_0 = 0`. Variables: ``n_edges``;
    equality constraints: ``n_nodes - 1`` (the incidence matrix has rank ``n_nodes - 1``).
    ``rng`` (``None``, an ``int`` or a ``numpy.random.Generator``) draws the instance.
    """
    n_nodes = check_int(n_nodes, "n_nodes", minimum=3)
    n_edges = check_int(n_edges, "n_edges", minimum=n_nodes)
    label = rng if isinstance(rng, int) else "generator"
    rng = check_rng(rng)
    ring = np.arange(n_nodes)
    extra = n_edges - n_nodes
    tail = np.concatenate([ring, rng.integers(0, n_nodes, extra)])
    head = np.concatenate([np.roll(ring, -1), rng.integers(0, n_nodes, extra)])
    loops = tail == head
    head[loops] = (head[loops] + 1) % n_nodes
    arcs = np.arange(n_edges)
    incidence = sp.csr_array((np.concatenate([np.ones(n_edges), -np.ones(n_edges)]),
                              (np.concatenate([tail, head]), np.concatenate([arcs, arcs]))),
                             shape=(n_nodes, n_edges))
    supply = rng.standard_normal(n_nodes)
    supply -= supply.mean()
    r = rng.uniform(0.5, 2.0, n_edges)

    def fun(x):
        return float(r @ (0.5 * x * x + 0.25 * x**4))

    def jac(x):
        return r * (x + x**3)

    def hess(x):
        return sp.diags_array(r * (1.0 + 3.0 * x * x), format="csr")

    A = incidence[1:]
    return Problem.from_scipy(fun, np.zeros(n_edges), jac=jac, hess=hess,
                              constraints=[LinearConstraint(A, supply[1:], supply[1:])],
                              name=f"network_flow(nodes={n_nodes}, arcs={n_edges}, rng={label})")


def semilinear_control(N: int = 71, *, alpha: float = 1e-2) -> Problem:
    r"""The semilinear elliptic control :class:`~optkit.core.Problem` (see the module
    docstring): :math:`n = 2N^2` variables :math:`x = (y, u)`, :math:`m = N^2` constraints,
    :math:`x_0 = 0` (feasible)."""
    N = check_int(N, "N", minimum=2)
    alpha = check_positive(alpha, "alpha")
    h = 1.0 / (N + 1)
    ns = N * N
    T = sp.diags_array([-np.ones(N - 1), 2.0 * np.ones(N), -np.ones(N - 1)], offsets=[-1, 0, 1])
    eye = sp.identity(N)
    L = sp.csr_array((sp.kron(T, eye) + sp.kron(eye, T)) / h**2)
    grid = np.arange(1, N + 1) * h
    S, T2 = np.meshgrid(grid, grid, indexing="ij")
    yd = (np.sin(2 * np.pi * S) * np.sin(2 * np.pi * T2)).ravel()
    w = h * h
    Hf = sp.diags_array(np.concatenate([np.full(ns, w), np.full(ns, alpha * w)]), format="csr")
    minus_eye = -sp.identity(ns, format="csr")

    def fun(x):
        y, u = x[:ns], x[ns:]
        return 0.5 * w * float((y - yd) @ (y - yd)) + 0.5 * alpha * w * float(u @ u)

    def jac(x):
        return np.concatenate([w * (x[:ns] - yd), alpha * w * x[ns:]])

    def hess(x):
        return Hf

    def state(x):
        y = x[:ns]
        return L @ y + y**3 - x[ns:]

    def state_jac(x):
        return sp.hstack([L + sp.diags_array(3.0 * x[:ns] ** 2), minus_eye], format="csr")

    def state_hess(x, lam):
        return sp.diags_array(np.concatenate([6.0 * x[:ns] * lam, np.zeros(ns)]), format="csr")

    con = NonlinearConstraint(state, 0.0, 0.0, jac=state_jac, hess=state_hess)
    return Problem.from_scipy(fun, np.zeros(2 * ns), jac=jac, hess=hess, constraints=[con],
                              name=f"semilinear_control(N={N}, alpha={alpha:g})")


def separable_quartic(n: int = 10_000, m: int = 100, *, density: float = 0.01,
                      rng=0) -> Problem:
    r"""The separable-quartic :class:`~optkit.core.Problem` (see the module docstring):
    :math:`A` an ``m x n`` ``scipy.sparse.random`` matrix of the given ``density`` (values
    uniform in [0, 1)), :math:`b` and :math:`c` standard Gaussian, :math:`x_0 = 0`; ``rng``
    (``None``, an ``int`` or a ``numpy.random.Generator``) draws them."""
    n = check_int(n, "n", minimum=1)
    m = check_int(m, "m", minimum=0)
    if m > n:
        raise ValueError(f"m must be <= n = {n}, got {m}")
    density = check_positive(density, "density")
    rng = check_rng(rng)
    A = sp.csr_array(sp.random(m, n, density=density, rng=rng))
    b = rng.standard_normal(m)
    c = rng.standard_normal(n)

    def fun(x):
        return float(np.sum(0.25 * x**4 + 0.5 * x * x) - c @ x)

    def jac(x):
        return x**3 + x - c

    def hess(x):
        return sp.diags_array(3.0 * x * x + 1.0, format="csr")

    return Problem.from_scipy(fun, np.zeros(n), jac=jac, hess=hess,
                              constraints=[LinearConstraint(A, b, b)],
                              name=f"separable_quartic(n={n}, m={m}, density={density:g})")
