"""
optkit.minimize next to scipy.optimize.minimize
===============================================

:func:`optkit.minimize` takes scipy's arguments and returns scipy's ``OptimizeResult`` plus a
per-iteration ``trace``. Here gradient descent with Armijo backtracking (``"gd"``) and
scipy's L-BFGS-B minimize the Rosenbrock function from the classical start point.
"""

import matplotlib.pyplot as plt
import numpy as np
import scipy.optimize
from scipy.optimize import rosen, rosen_der

import optkit

x0 = np.array([-1.2, 1.0])
res_gd = optkit.minimize(rosen, x0, method="gd", jac=rosen_der, options={"maxiter": 50_000})
print(res_gd.message, res_gd.x, "nit", res_gd.nit, "nfev", res_gd.nfev, "njev", res_gd.njev)

# %%
# scipy records nothing per iteration; a callback collects its values.
values = []
res_lbfgs = scipy.optimize.minimize(
    rosen, x0, method="L-BFGS-B", jac=rosen_der,
    callback=lambda intermediate_result: values.append(intermediate_result.fun))
print(res_lbfgs.message, res_lbfgs.x, "nit", res_lbfgs.nit)

# %%
# The same optkit method runs inside scipy's own function:
res_in_scipy = scipy.optimize.minimize(rosen, x0, method=optkit.get_method("gd"), jac=rosen_der,
                                       options={"maxiter": 50_000})
print("same iterate:", np.allclose(res_in_scipy.x, res_gd.x))

# %%
# Gradient descent needs thousands of iterations in the curved valley; L-BFGS-B's
# curvature pairs take it there in a few dozen. optkit's ``trace`` holds the value, the
# gradient norm, the step and the oracle counts of every iteration.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(res_gd.trace["nit"], res_gd.trace["fun"], label="optkit gd (Armijo)")
ax.semilogy(np.arange(1, len(values) + 1), np.maximum(values, 1e-16), label="scipy L-BFGS-B")
ax.set(xlabel="iteration", ylabel="f(x)", xscale="log", title="Rosenbrock")
ax.legend()
fig.tight_layout()
