"""
Consensus-based optimization on a rotated Rastrigin function
============================================================

The Rastrigin function has a local minimum at every point of a lattice; its global minimum is
0 at the origin. A random rotation removes the axis-aligned structure that coordinate-wise
methods exploit. Consensus Hopping (``variant="hopping"``, the default of method ``"cbo"``)
has a rotation-equivariant law and finds the global minimum with its default settings.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import special_ortho_group

import optkit

d = 10
Q = special_ortho_group.rvs(d, random_state=0)


def rotated_rastrigin(X):
    Z = X @ Q.T
    return 10 * d + (Z**2 - 10 * np.cos(2 * np.pi * Z)).sum(-1)


x0 = np.full(d, 2.0)
res = optkit.minimize(rotated_rastrigin, x0, method="cbo",
                      options={"spread": 3.0, "vectorized": True, "n_runs": 4, "rng": 0})
print(res.message, "f =", res.fun, "|x| =", np.linalg.norm(res.x), "nfev =", res.nfev)

# %%
# A local method started at the same point stops in the nearest local minimum.
local = optkit.minimize(rotated_rastrigin, x0, method="gd", jac="2-point")
print("gd from x0: f =", local.fun)

# %%
# The best value found so far, against function evaluations (the trace of the run loop).
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(res.trace["n_value"], np.maximum(np.minimum.accumulate(res.trace["fun"]), 1e-12))
ax.set(xlabel="function evaluations", ylabel="best f so far", title=f"rotated Rastrigin, d = {d}")
fig.tight_layout()
