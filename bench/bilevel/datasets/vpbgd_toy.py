from benchopt import BaseDataset

from optkit.bilevel import toys


class Dataset(BaseDataset):
    """V-PBGD toy: nonconvex lower level, X = [0, 3] (spec bilevel §5.3). The start is the
    documented one (x0 = 1, y0 = 0), from which the global minimizer 1.2152 is reached."""

    name = "vpbgd_toy"
    parameters = {"x0": [1.0]}
    test_parameters = {"x0": [1.0]}

    def get_data(self):
        settings = {
            "penalty": dict(lr_x=0.01, lr_y=0.1, lr_z=0.1, tol=1e-6),
            "penalty-sl": dict(lr_x=0.001, lr_y=0.1, lr_z=0.1, tol=1e-6, sigma_grid=(0.01,)),
            "aid": dict(lr_x=0.01, lr_inner=0.1, tol=1e-6),
            # reference settings of V-PBGD/toy/toy.py: gamma = 10, alpha = 0.1 / gamma
            "vpbgd": dict(gamma=10.0, lr_x=0.1, lr_y=0.1, lr_inner=0.1, inner_steps=20, tol=1e-6),
            "bome": dict(lr_x=0.05, lr_y=0.05, lr_inner=0.1, tol=1e-6),
        }
        return dict(problem=toys.vpbgd_toy(self.x0, 0.0), settings=settings)
