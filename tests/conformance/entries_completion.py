"""``optkit.completion.altmin`` (each half-step solver) as entry points.

The problem is an exactly rank-3 60 x 50 matrix observed on ~40% of its entries (about
3.7 times the degrees of freedom of a rank-3 matrix): the rank-3 truth fits every observed
entry, so the optimal objective (the sum of squared observed residuals, no
regularization) is 0. The default stopping test (relative change of U V^T below 1e-6) ends
with an objective ~1e-10, about 1e-13 of the observed energy, hence ``atol=1e-7``.
``rng`` drives the SVD start vector (and the sketches), so every entry is stochastic.
"""

from optkit.completion import CompletionResult, altmin
from optkit.completion.datasets import low_rank_problem

from .entry_points import Entry

_OBSERVED = low_rank_problem(60, 50, 3, 0.4, rng=7)[0]


def _altmin(solver, **kw):
    return altmin(_OBSERVED, 3, solver=solver, **kw)


ENTRIES = [
    Entry(f"completion.altmin[{solver}]", lambda solver=solver, **kw: _altmin(solver, **kw),
          f_star=0.0, rtol=0.0, atol=1e-7, stochastic=True, result_type=CompletionResult,
          fields=("U", "V", "mean", "row_bias", "col_bias", "parts"))
    for solver in ("exact", "sketch", "cg")
]
