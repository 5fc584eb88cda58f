import numpy as np
from benchmark_utils import instance
from benchopt import BaseDataset


class Dataset(BaseDataset):
    """Random assignment (spec ot.md §7): C ~ U[0, 1] (max scaled to 1), uniform masses,
    reg = 1/eta."""

    name = "random-assignment"
    parameters = {"n": [500, 2000], "eta": [10, 100, 1200, 10000]}
    test_parameters = {"n": [50], "eta": [100]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed())
        return instance(rng.random((self.n, self.n)), self.eta)
