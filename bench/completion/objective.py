import numpy as np
from benchopt import BaseObjective


class Objective(BaseObjective):
    """Low-rank matrix completion from observed entries.

    ``value`` is the relative error ||X - M||_F / ||M||_F on synthetic data (known M) or the
    held-out RMSE on rating data; also the observed RMSE and the passes over the observed
    entries (``n_value``, altmin's ``nfev``: the oracle-call axis; 0 for dense peers, which
    touch all m*n).
    """

    name = "completion"
    url = "https://github.com/optkit/optkit"
    min_benchopt_version = "1.9"
    requirements = []

    def set_data(self, observed, rank, options, truth=None, test=None, reason=None):
        self.observed, self.rank, self.options = observed, rank, options
        self.truth, self.test, self.reason = truth, test, reason

    def skip(self, observed, rank, options, truth=None, test=None, reason=None):
        if observed is None:
            return True, reason
        return False, None

    def get_objective(self):
        return dict(observed=self.observed, rank=self.rank, options=self.options)

    def _predict(self, U, V, mean, rows, cols):
        if V is None:  # a dense completed matrix
            return U[rows, cols]
        return np.einsum("ij,ij->i", U[rows], V[cols]) + mean

    def evaluate_result(self, U, V, mean=0.0, row_bias=None, col_bias=None, passes=0):
        rows, cols, vals, _ = self.observed

        def predict(r, c):
            out = self._predict(U, V, mean, r, c)
            if row_bias is not None:
                out = out + row_bias[r] + col_bias[c]
            return out

        obs_rmse = float(np.sqrt(np.mean((predict(rows, cols) - vals) ** 2)))
        out = dict(observed_rmse=obs_rmse, n_value=passes)
        if self.truth is not None:
            us, vs = self.truth
            if V is None:
                err = np.linalg.norm(U - us @ vs.T) / np.linalg.norm(us @ vs.T)
            else:
                from optkit.completion.datasets import relative_error

                err = relative_error(U, V, us, vs)
            out["value"] = float(err) if np.isfinite(err) else np.inf
        else:
            tr, tc, tv = self.test
            pred = np.clip(predict(tr, tc), 1, 5)
            out["value"] = float(np.sqrt(np.mean((pred - tv) ** 2)))
        return out

    def get_one_result(self):
        m, n = self.observed[3]
        return dict(U=np.zeros((m, self.rank)), V=np.zeros((n, self.rank)))
