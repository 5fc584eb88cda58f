"""
Checkpoint a run from its callback, and resume it
=================================================

Every iterative method calls ``callback(intermediate_result)`` once per iteration. A callback
that saves what the method needs to continue turns any long run into one that survives being
stopped: the resumed run starts from the checkpoint and, given the random generator's saved
state, repeats the uninterrupted run exactly. ``StopIteration`` raised from the callback ends
a run cleanly (status 99); here it stands for the process being killed.

What to save, per method: the iterate ``x`` (``altmin``'s ``x0=``, ``sinkhorn``'s
``init=``, ``al_newton``'s ``x0`` with ``**res.resume``), or the whole swarm for CBO
(``intermediate_result.swarm``, passed back as ``warm_start=``).
"""

import pickle
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import optkit
from optkit.completion import altmin
from optkit.completion.datasets import low_rank_problem


def rastrigin(X):
    return 10 * X.shape[-1] + (X**2 - 10 * np.cos(2 * np.pi * X)).sum(-1)


x0 = np.full(5, 2.0)
options = dict(vectorized=True, maxiter=300)
checkpoint = Path(tempfile.mkdtemp()) / "cbo.pkl"

# %%
# The uninterrupted run, for reference.
full = optkit.minimize(rastrigin, x0, method="cbo", options=dict(options, rng=np.random.default_rng(7)))

# %%
# The same run, checkpointed every 10 iterations and stopped at iteration 64 (after the
# checkpoint of iteration 60: the last 4 iterations are lost, as in a crash).
gen = np.random.default_rng(7)


def save_every_10(intermediate_result):
    if intermediate_result.nit % 10 == 0:
        with open(checkpoint, "wb") as fh:
            pickle.dump({"nit": intermediate_result.nit, "swarm": intermediate_result.swarm,
                         "rng": gen.bit_generator.state}, fh)
    if intermediate_result.nit == 64:
        raise StopIteration


stopped = optkit.minimize(rastrigin, x0, method="cbo", options=dict(options, rng=gen),
                          callback=save_every_10)
print("stopped:", stopped.message, "at nit =", stopped.nit)

# %%
# Later, in a new process: load the checkpoint, restore the generator, resume.
with open(checkpoint, "rb") as fh:
    ck = pickle.load(fh)
gen = np.random.default_rng()
gen.bit_generator.state = ck["rng"]
resumed = optkit.minimize(rastrigin, x0, method="cbo",
                          options=dict(options, rng=gen, maxiter=options["maxiter"] - ck["nit"],
                                       warm_start=ck["swarm"]))
print("resumed from nit =", ck["nit"], "->", resumed.message)
print("same x as the uninterrupted run:", np.array_equal(resumed.x, full.x),
      " f =", resumed.fun, "vs", full.fun)

# %%
# The same pattern for alternating minimization: the iterate is the stacked factors
# ``[U; V]``, and ``x0=`` resumes from it.
observed, _, _ = low_rank_problem(300, 200, 5, 0.2, rng=0)
full_ac = altmin(observed, 5, maxiter=12, tol=0)
saved = {}


def keep_factors(intermediate_result):
    saved.update(nit=intermediate_result.nit, x=intermediate_result.x)
    if intermediate_result.nit == 5:
        raise StopIteration


altmin(observed, 5, maxiter=12, tol=0, callback=keep_factors)
resumed_ac = altmin(observed, 5, saved["x"], maxiter=12 - saved["nit"], tol=0)
print("altmin resumed: largest difference to the uninterrupted factors:",
      np.abs(resumed_ac.x - full_ac.x).max())

# %%
# The CBO runs' best value against iterations: the resumed run picks up at iteration 60.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(full.trace["nit"], np.minimum.accumulate(full.trace["fun"]), label="uninterrupted")
ax.semilogy(np.asarray(resumed.trace["nit"]) + ck["nit"], np.minimum.accumulate(resumed.trace["fun"]),
            "--", label=f"resumed from the checkpoint at {ck['nit']}")
ax.set(xlabel="iteration", ylabel="best f so far", title="CBO on Rastrigin, d = 5")
ax.legend()
fig.tight_layout()
