import numpy as np


def rastrigin(x):
    return 10 * x.shape[-1] + (x**2 - 10 * np.cos(2 * np.pi * x)).sum(-1)


d = 5

# --- before
from cbx.dynamics import CBO

np.random.seed(0)
x_init = np.random.uniform(-3, 3, (1, 50, d))
dyn = CBO(rastrigin, f_dim="3D", x=x_init, noise="anisotropic", sigma=10.1, alpha=30.0,
          dt=0.01, lamda=1.0, max_it=3000, verbosity=0)
best_cbx = np.asarray(dyn.optimize()).ravel()
# --- after
import optkit

res = optkit.minimize(rastrigin, np.zeros(d) + 1.5, method="cbo",
                      options={"variant": "cbo", "noise": "anisotropic", "sigma": 10.1,
                               "alpha": 30.0, "dt": 0.01, "lam": 1.0, "n_particles": 50,
                               "spread": 3.0, "vectorized": True, "rng": 0, "maxiter": 3000})
# the default, variant="hopping" (Consensus Hopping), needs no tuning of sigma and dt:
res_hop = optkit.minimize(rastrigin, np.zeros(d) + 1.5, method="cbo",
                          options={"spread": 3.0, "vectorized": True, "rng": 0})
# --- check
assert res.fun < 1e-2 and res_hop.fun < 1e-2, (res.fun, res_hop.fun)  # the minimum is 0 at 0
# --- compare
assert rastrigin(best_cbx) < 1e-2, best_cbx
