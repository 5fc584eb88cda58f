"""
Matrix completion by alternating minimization
=============================================

:func:`optkit.completion.altmin` recovers a low-rank matrix from a fraction of its entries
without forming the dense matrix. Here a rank-5 matrix of size 600 x 400 is observed on 8 % of
its entries; the exact and the sketched half-step solvers both converge geometrically to the
exact completion.
"""

import matplotlib.pyplot as plt
import numpy as np

import optkit.completion

rng = np.random.default_rng(0)
m, n, k = 600, 400, 5
U, V = rng.normal(size=(m, k)), rng.normal(size=(n, k))
observed = rng.random((m, n)) < 0.08
rows, cols = np.nonzero(observed)
entries = (rows, cols, (U @ V.T)[rows, cols], (m, n))
print(f"{len(rows)} observed entries of {m * n}")

results = {solver: optkit.completion.altmin(entries, rank=k, solver=solver, rng=0, tol=1e-10,
                                            maxiter=40)
           for solver in ("exact", "sketch")}
truth = U @ V.T
for solver, res in results.items():
    error = np.linalg.norm(res.U @ res.V.T - truth) / np.linalg.norm(truth)
    print(f"{solver:7s} {res.message} nit={res.nit} relative error={error:.2e}")

# %%
# The relative change of :math:`UV^\top` per iteration, from the trace.
fig, ax = plt.subplots(figsize=(6, 3.5))
for solver, res in results.items():
    ax.semilogy(res.trace["nit"][1:], res.trace["rel_change"][1:], label=solver)
ax.set(xlabel="iteration", ylabel="relative change of UV^T", title=f"rank {k}, {m} x {n}")
ax.legend()
fig.tight_layout()
