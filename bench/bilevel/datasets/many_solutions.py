from benchopt import BaseDataset

from optkit.bilevel import toys


class Dataset(BaseDataset):
    """Lower level with a continuum of solutions, x* = 1 (spec bilevel §5.2). AID is run
    too, to record what implicit differentiation does with a singular lower-level Hessian."""

    name = "many_solutions"
    parameters = {"x0": [0.0]}
    test_parameters = {"x0": [0.0]}

    def get_data(self):
        settings = {
            "penalty": dict(lr_x=0.5, tol=1e-10),
            "penalty-sl": dict(lr_x=0.1, tol=1e-10, sigma_grid=(0.01,)),
            "aid": dict(lr_x=0.5, tol=1e-10),
            "vpbgd": dict(gamma=10.0, lr_x=0.5, lr_y=0.5, tol=1e-10),
            "bome": dict(tol=1e-10),
        }
        return dict(problem=toys.many_solutions(self.x0), settings=settings)
