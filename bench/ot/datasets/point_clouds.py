import numpy as np
from benchmark_utils import instance
from benchopt import BaseDataset

from optkit.ot import cost_matrix


class Dataset(BaseDataset):
    """2-D point clouds x, y ~ U[0, 1]^2 (spec ot.md §7), cost sqeuclidean / euclidean / l1
    scaled to max 1, uniform masses, reg = 1/eta."""

    name = "point-clouds"
    parameters = {"n": [500, 2000], "cost": ["sqeuclidean", "euclidean", "l1"],
                  "eta": [10, 100, 1200, 10000]}
    test_parameters = {"n": [50], "cost": ["sqeuclidean"], "eta": [100]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed())
        x, y = rng.random((self.n, 2)), rng.random((self.n, 2))
        return instance(cost_matrix(x, y, self.cost), self.eta)
