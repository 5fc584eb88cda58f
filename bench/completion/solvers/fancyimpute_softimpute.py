import numpy as np
from benchopt import BaseSolver, safe_import_context

with safe_import_context() as import_ctx:
    import fancyimpute.soft_impute
    import fancyimpute.solver
    from fancyimpute import SoftImpute
    from sklearn.utils import check_array


def _check_array(X, force_all_finite=True, **kwargs):
    """fancyimpute 0.7.0 calls ``check_array(force_all_finite=...)``, a keyword scikit-learn
    1.8 renamed ``ensure_all_finite``; this shim passes it under the new name."""
    return check_array(X, ensure_all_finite=force_all_finite, **kwargs)


class Solver(BaseSolver):
    """fancyimpute's SoftImpute (Mazumder, Hastie, Tibshirani, JMLR 2010): dense, an SVD of
    the filled m x n matrix per iteration, shrinkage = top singular value / 50 (its default);
    ``max_rank`` = the target rank. ``maxiter`` iterations per run (restarted from zero)."""

    name = "fancyimpute-softimpute"
    sampling_strategy = "iteration"
    requirements = ["pip:fancyimpute"]

    def set_objective(self, observed, rank, options):
        rows, cols, vals, shape = observed
        self.rank = rank
        self.mean = float(vals.mean()) if options.get("center") == "global" else 0.0
        self.X = np.full(shape, np.nan)
        self.X[rows, cols] = vals - self.mean
        for module in (fancyimpute.solver, fancyimpute.soft_impute):
            module.check_array = _check_array

    def run(self, maxiter):
        if maxiter == 0:
            self.filled = np.nan_to_num(self.X)
            return
        solver = SoftImpute(max_iters=maxiter, max_rank=self.rank, convergence_threshold=1e-16,
                            init_fill_method="zero", verbose=False)
        self.filled = solver.fit_transform(self.X)

    def get_result(self):
        return dict(U=self.filled + self.mean, V=None)
