"""
A bilevel problem with many lower-level solutions
=================================================

Take :math:`f(x, y) = (x - y_2)^2/2 + (y_1 - 1)^2/2` and :math:`g(x, y) = y_1^2/2 - x y_1`
(Liu et al., ICML 2020). The lower level :math:`\\min_y g(x, y)` is solved by every
:math:`y = (x, t)`: its Hessian in :math:`y` is singular. The hyper-objective is
:math:`\\psi(x) = \\min_{t} f(x, (x, t)) = (x - 1)^2/2`, minimized at :math:`x^* = 1`.

The value-function penalty method of :func:`optkit.bilevel.solve` needs neither a unique
lower-level solution nor second derivatives: the double-loop ``"penalty"`` converges in a
few hundred outer steps, the single-loop ``"penalty-sl"`` (one inner step per outer step) in
a few thousand. The implicit-differentiation baseline (``"aid"``) assumes a strongly convex lower
level; its linear system is singular here and the run stops with a non-finite value.
"""

import matplotlib.pyplot as plt
import numpy as np

import optkit.bilevel
from optkit.bilevel import toys

problem = toys.many_solutions()
results = {
    "penalty (sigma = 1e-2)": optkit.bilevel.solve(problem, method="penalty", sigma=1e-2,
                                                   maxiter=300),
    "penalty-sl (single loop)": optkit.bilevel.solve(problem, method="penalty-sl", sigma=1e-2,
                                                     maxiter=3000),
    "aid (implicit differentiation)": optkit.bilevel.solve(problem, method="aid", maxiter=300),
}
for name, res in results.items():
    print(f"{name:32s} nit {res.nit:4d}  x = {res.x[0]: .5f}  y = {np.round(res.y, 4)}  psi(x) = "
          f"{problem.psi(res.x):.2e}  status {res.status}: {res.message}")

# %%
# The hyper-objective :math:`\psi(x) = (x - 1)^2/2` along the outer iterations (the problem
# knows :math:`\psi`, so the run loop traces it); AID's run stopped at its second iteration.
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, res in results.items():
    ax.semilogy(res.trace["nit"], np.maximum(res.trace["psi"], 1e-16), label=name)
ax.set(xlabel="outer iteration", ylabel="psi(x)", title="many lower-level solutions")
ax.legend()
fig.tight_layout()
