from benchopt import BaseDataset

from optkit.completion.datasets import low_rank_problem


class Dataset(BaseDataset):
    """benchopt's test dataset: a small rank-k matrix M = U* V*^T (N(0, 1) factors) observed
    on Bernoulli(p) entries, |Omega| about rho k (2n - k)."""

    name = "simulated"
    parameters = {"n": [60], "k": [3], "rho": [5]}
    test_parameters = {"n": [60], "k": [3], "rho": [5]}

    def get_data(self):
        p = min(1.0, self.rho * self.k * (2 * self.n - self.k) / self.n**2)
        observed, us, vs = low_rank_problem(self.n, self.n, self.k, p, rng=self.get_seed())
        return dict(observed=observed, rank=self.k, options={}, truth=(us, vs))
