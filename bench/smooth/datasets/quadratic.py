from benchmark_utils import rotated_quadratic
from benchopt import BaseDataset


class Dataset(BaseDataset):
    """f(x) = 1/2 (x - x*)^T A (x - x*) with a random rotation and eigenvalues log-spaced
    over [1/cond, 1]: minimum 0 at x*."""

    name = "quadratic"
    parameters = {"n": [100], "cond": [1e2, 1e4]}
    test_parameters = {"n": [10], "cond": [1e2]}

    def get_data(self):
        return dict(problem=rotated_quadratic(self.n, self.cond, self.get_seed(), self.name))
