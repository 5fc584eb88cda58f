import numpy as np
from benchmark_utils import instance
from benchopt import BaseDataset


class Dataset(BaseDataset):
    """benchopt's test dataset: a small random assignment (C ~ U[0, 1], uniform masses,
    reg = 1/eta), with the LP and entropic references of ``benchmark_utils.instance``."""

    name = "simulated"
    parameters = {"n": [30], "eta": [50]}
    test_parameters = {"n": [30], "eta": [50]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed())
        return instance(rng.random((self.n, self.n)), self.eta)
