"""
Equality-constrained problems with AdaSketch-Newton
===================================================

:func:`optkit.constrained.al_newton` solves :math:`\\min f(x)` subject to :math:`c(x) = 0` by
Newton steps on the KKT system, solved inexactly by randomized Kaczmarz, with a line search
on the exact augmented Lagrangian. Here it runs on the Hock–Schittkowski problems of
``optkit.constrained.hs`` (exact derivatives from sympy) next to scipy's SLSQP, and the KKT
residual of HS7 is traced for the sketched and the direct (LU) inner solver.
"""

import warnings

import matplotlib.pyplot as plt
import scipy.optimize

import optkit.constrained
from optkit.constrained import hs

print(f"{'problem':8s} {'f*':>10s} {'al-newton f':>12s} {'nit':>4s} {'SLSQP f':>12s} {'nit':>4s}")
for spec in hs.tier("core")[:8]:
    res = optkit.constrained.al_newton(spec.problem(), rng=0, tol=1e-8)
    kwargs = spec.scipy_kwargs(hess=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = scipy.optimize.minimize(method="SLSQP", **kwargs)
    print(f"{spec.name:8s} {spec.f_star:10.6f} {res.fun:12.6f} {res.nit:4d} {ref.fun:12.6f} "
          f"{ref.nit:4d}")

# %%
# The KKT residual :math:`\|(\nabla_x L, c)\|` per Newton iteration on HS7. Randomized
# Kaczmarz with the paper's accuracy condition follows the exact (LU) Newton steps.
hs7 = hs.BY_NAME["HS7"]
fig, ax = plt.subplots(figsize=(6, 3.5))
for sketch in ("rk", "direct"):
    res = optkit.constrained.al_newton(hs7.problem(), sketch=sketch, rng=0, tol=1e-10)
    ax.semilogy(res.trace["nit"], res.trace["kkt"], marker=".", label=f"sketch={sketch!r}")
ax.set(xlabel="Newton iteration", ylabel="KKT residual", title="HS7")
ax.legend()
fig.tight_layout()
