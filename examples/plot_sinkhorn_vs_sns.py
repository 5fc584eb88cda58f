"""
Sinkhorn and Sinkhorn–Newton–Sparse at small regularization
===========================================================

:func:`optkit.ot.sinkhorn` solves entropic optimal transport in the log domain. With a small
``reg`` (here :math:`\\eta = 1/\\text{reg} = 500` on a cost of range 1), Sinkhorn's sweeps
converge slowly; SNS switches to sparse Newton steps after a few sweeps and reaches a
marginal error of 1e-9 in far fewer passes over the cost matrix.
"""

import matplotlib.pyplot as plt
import numpy as np

import optkit.ot

rng = np.random.default_rng(0)
n = 200
C = rng.random((n, n))                      # a random assignment problem, costs in [0, 1)
a = b = np.full(n, 1 / n)
reg = 1 / 500

res_sns = optkit.ot.sinkhorn(a, b, C, reg=reg, method="sns", tol=1e-9)
res_sk = optkit.ot.sinkhorn(a, b, C, reg=reg, method="sinkhorn", tol=1e-9, maxiter=3000)
for name, res in [("sns", res_sns), ("sinkhorn", res_sk)]:
    print(f"{name:9s} success={res.success} nit={res.nit} passes over C={res.nfev} "
          f"marginal error={res.marginal_error:.1e} cost={res.cost:.6f}")

# %%
# The trace records the marginal error (``err``) and the passes over the cost matrix
# (``n_value``) at every iteration.
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, res in [("SNS", res_sns), ("Sinkhorn", res_sk)]:
    ax.semilogy(res.trace["n_value"], res.trace["err"], label=name)
ax.set(xlabel="passes over C", ylabel="L1 marginal error", title=f"n = {n}, reg = {reg:.0e}")
ax.legend()
fig.tight_layout()
