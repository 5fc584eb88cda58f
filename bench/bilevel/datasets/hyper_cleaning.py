from benchopt import BaseDataset

from optkit.bilevel import toys


class Dataset(BaseDataset):
    """Data hyper-cleaning on scikit-learn digits, 50% corrupted labels (spec bilevel §5.4).
    ``value`` is the test error of the lower-level model z (trained on reweighted data)."""

    name = "hyper_cleaning"
    parameters = {"n_train": [600]}
    test_parameters = {"n_train": [600]}

    def get_data(self):
        problem = toys.hyper_cleaning(n_train=self.n_train, rng=self.get_seed())
        n = self.n_train
        settings = {
            # alpha = n (alpha~ = 1) fits sigma in [0.01, 0.1]; smaller sigma needs smaller steps
            "penalty": dict(lr_x=n * 1.0, lr_y=0.45, lr_z=0.5, inner_steps=5,
                            sigma_grid=(0.1, 0.01)),
            "penalty-sl": dict(lr_x=n * 0.1, lr_y=0.45, lr_z=0.5, batch_size=64, sigma_grid=(0.1,)),
            "aid": dict(lr_x=n * 1.0, lr_inner=0.5, inner_steps=20, cg_steps=20, cg_tol=1e-3, tol=0.0),
            "vpbgd": dict(gamma=10.0, lr_x=n * 10.0, lr_y=0.45, lr_inner=0.5, inner_steps=1,
                          tol=0.0),
            "bome": dict(lr_x=n * 1.0, lr_y=0.5, lr_inner=0.5, tol=0.0),
        }
        return dict(problem=problem, settings=settings)
