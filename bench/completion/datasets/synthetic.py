from benchopt import BaseDataset

from optkit.completion.datasets import low_rank_problem


class Dataset(BaseDataset):
    """Rank-k M = U* V*^T with N(0, 1) factors (incoherent w.h.p.), n x n, observed on
    Bernoulli(p) entries with |Omega| = rho * k (2n - k) (rho times the degrees of freedom)."""

    name = "synthetic"
    parameters = {"n": [1000], "k": [5, 10], "rho": [2, 5]}
    test_parameters = {"n": [200], "k": [5], "rho": [5]}

    def get_data(self):
        p = min(1.0, self.rho * self.k * (2 * self.n - self.k) / self.n**2)
        observed, us, vs = low_rank_problem(self.n, self.n, self.k, p, rng=self.get_seed())
        return dict(observed=observed, rank=self.k, options={}, truth=(us, vs))
