import warnings

import numpy as np
from benchopt import BaseSolver

from optkit.completion import altmin


class Solver(BaseSolver):
    """optkit's AltMin (JNS13) with exact, sketched (GSYZ) or warm-started CG half-steps;
    one benchopt callback per outer iteration."""

    name = "optkit-altmin"
    sampling_strategy = "callback"
    requirements = []
    parameters = {"solver": ["exact", "sketch", "cg"]}

    def set_objective(self, observed, rank, options):
        self.observed, self.rank, self.options = observed, rank, options

    def run(self, callback):
        m, n = self.observed[3]
        self.result = dict(U=np.zeros((m, self.rank)), V=np.zeros((n, self.rank)))
        if not callback():
            return

        def step(intermediate_result):
            r = intermediate_result
            self.result = dict(U=r.U, V=r.V, mean=r.mean, row_bias=r.row_bias,
                               col_bias=r.col_bias, passes=r.passes)
            if not callback():
                raise StopIteration

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            altmin(self.observed, self.rank, solver=self.solver, max_iter=1000, tol=0.0,
                   rng=self.get_seed(), callback=step,
                   **self.options)

    def get_result(self):
        return self.result
