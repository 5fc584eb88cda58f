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

        vals = self.observed[2]
        mean = float(vals.mean()) if self.options.get("center") == "global" else 0.0
        biases = self.options.get("biases", False)

        def step(intermediate_result):
            x = intermediate_result.x  # [U, row_bias; V, col_bias] (bias column if fitted)
            k = self.rank
            self.result = dict(U=x[:m, :k], V=x[m:, :k], mean=mean,
                               row_bias=x[:m, k] if biases else None,
                               col_bias=x[m:, k] if biases else None,
                               passes=intermediate_result.nfev)
            if not callback():
                raise StopIteration

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            altmin(self.observed, self.rank, solver=self.solver, maxiter=1000, tol=0.0,
                   rng=self.get_seed(), callback=step, **self.options)

    def get_result(self):
        return self.result
