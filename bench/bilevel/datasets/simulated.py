from benchopt import BaseDataset

from optkit.bilevel import toys


class Dataset(BaseDataset):
    """benchopt's test dataset: a small quadratic bilevel problem with closed-form x*
    (``optkit.bilevel.toys.quadratic``), with settings under which every solver converges."""

    name = "simulated"
    parameters = {"dim_x": [3], "dim_y": [5]}
    test_parameters = {"dim_x": [3], "dim_y": [5]}

    def get_data(self):
        problem = toys.quadratic(self.dim_x, self.dim_y, rng=self.get_seed())
        settings = {
            "penalty": dict(lr_x=0.25, tol=1e-7),
            "penalty-sl": dict(lr_x=0.03, tol=1e-10, sigma_grid=(0.01,)),
            "aid": dict(lr_x=0.25, tol=1e-10),
            "vpbgd": dict(gamma=10.0, lr_x=0.3, lr_y=0.1, inner_steps=1, tol=1e-10),
            "bome": dict(lr_x=0.05, lr_y=0.05, tol=1e-10),
        }
        return dict(problem=problem, settings=settings)
