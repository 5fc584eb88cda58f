import numpy as np
from benchmark_utils import instance
from benchopt import BaseDataset

from optkit.ot import cost_matrix


def _blobs(rng, side):
    """2-4 Gaussian blobs on a side x side grid, plus 1e-3 of the max, normalized."""
    yy, xx = np.mgrid[:side, :side]
    img = np.zeros((side, side))
    for _ in range(rng.integers(2, 5)):
        cy, cx = rng.uniform(4, side - 4, 2)
        s = rng.uniform(1.5, 4.0)
        img += rng.uniform(0.5, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    img += 1e-3 * img.max()
    return (img / img.sum()).ravel()


class Dataset(BaseDataset):
    """Image-like histograms on a 28 x 28 grid (n = 784; spec ot.md §7): synthetic Gaussian
    blobs, L1 or L2 ground cost between pixel positions scaled to max 1, reg = 1/eta."""

    name = "histograms"
    parameters = {"cost": ["l1", "euclidean"], "eta": [10, 100, 1200, 10000]}
    test_parameters = {"cost": ["euclidean"], "eta": [100]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed())
        side = 28
        grid = np.stack(np.meshgrid(np.arange(side), np.arange(side), indexing="ij"), -1)
        grid = grid.reshape(-1, 2).astype(float)
        C = cost_matrix(grid, grid, self.cost)
        return instance(C, self.eta, _blobs(rng, side), _blobs(rng, side))
