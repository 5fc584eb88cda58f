from benchmark_utils import rotated_quadratic
from benchopt import BaseDataset


class Dataset(BaseDataset):
    """benchopt's test dataset: the ``quadratic`` dataset at n = 10, cond = 100 (exact gradient
    and Hessian-vector product, so every solver of the suite runs on it)."""

    name = "simulated"
    parameters = {"n": [10], "cond": [1e2]}
    test_parameters = {"n": [10], "cond": [1e2]}

    def get_data(self):
        return dict(problem=rotated_quadratic(self.n, self.cond, self.get_seed(), self.name))
