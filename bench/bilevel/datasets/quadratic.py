from benchopt import BaseDataset

from optkit.bilevel import toys


class Dataset(BaseDataset):
    """Quadratic bilevel problem with closed-form x* (spec bilevel §5.1)."""

    name = "quadratic"
    parameters = {"dim_x": [5], "dim_y": [10]}
    test_parameters = {"dim_x": [5], "dim_y": [10]}

    def get_data(self):
        problem = toys.quadratic(self.dim_x, self.dim_y, rng=self.get_seed())
        settings = {
            "penalty": dict(lr_x=0.25, tol=1e-7),  # inner_tol = sigma tol: T adapts to sigma
            "penalty-sl": dict(lr_x=0.03, tol=1e-10, sigma_grid=(0.01,)),
            "aid": dict(lr_x=0.25, tol=1e-10),
            # gamma = 100 diverges at lr_x = 1 and crawls at 0.3; gamma = 10 (sigma = 0.1) converges
            "vpbgd": dict(gamma=10.0, lr_x=0.3, lr_y=0.1, inner_steps=1, tol=1e-10),
            "bome": dict(lr_x=0.05, lr_y=0.05, tol=1e-10),
        }
        return dict(problem=problem, settings=settings)
