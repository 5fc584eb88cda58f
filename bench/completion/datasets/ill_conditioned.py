import numpy as np
from benchopt import BaseDataset


class Dataset(BaseDataset):
    r"""Ill-conditioned rank-k matrix observed non-uniformly: the regime of robust AltMin.

    :math:`M = U_\star \operatorname{diag}(s) V_\star^T` with orthonormal :math:`U_\star, V_\star`
    (QR of Gaussian matrices) and singular values log-spaced from 1 down to ``1/cond``. Entry
    :math:`(i, j)` is observed with probability :math:`\min(1, c\, r_i q_j)`, where the row and
    column weights :math:`r_i = \pi(i)^{-\alpha}`, :math:`q_j = \sigma(j)^{-\alpha}` follow a
    power law over random permutations (``alpha = skew``) and :math:`c` sets
    :math:`E|\Omega| = \rho\, k (2n - k)`. Both features slow down uniform-sampling guarantees
    (Jain, Netrapalli, Sanghavi 2013) and nuclear-norm methods (the small singular directions
    are shrunk first); see Gu, Song, Yin, Zhang (2024) for the robust half-step.
    """

    name = "ill-conditioned"
    parameters = {"n": [300], "k": [5], "rho": [6], "cond": [1e3], "skew": [0.5]}
    test_parameters = {"n": [60], "k": [3], "rho": [6], "cond": [1e2], "skew": [0.5]}

    def get_data(self):
        rng = np.random.default_rng(self.get_seed())
        n, k = self.n, self.k
        u, _ = np.linalg.qr(rng.standard_normal((n, k)))
        v, _ = np.linalg.qr(rng.standard_normal((n, k)))
        s = np.logspace(0, -np.log10(self.cond), k)
        r = (1.0 + rng.permutation(n)) ** -self.skew
        q = (1.0 + rng.permutation(n)) ** -self.skew
        target = self.rho * k * (2 * n - k)
        weights = np.outer(r, q)
        lo, hi = 0.0, target / weights.sum() * 1e3
        for _ in range(60):  # bisection on c: sum min(1, c w) = target
            c = 0.5 * (lo + hi)
            lo, hi = (c, hi) if np.minimum(1.0, c * weights).sum() < target else (lo, c)
        mask = rng.random((n, n)) < np.minimum(1.0, c * weights)
        rows, cols = np.nonzero(mask)
        us = u * s
        vals = np.einsum("ij,ij->i", us[rows], v[cols])
        return dict(observed=(rows, cols, vals, (n, n)), rank=k, options={}, truth=(us, v))
