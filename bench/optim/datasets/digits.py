import numpy as np
from benchopt import BaseDataset
from sklearn.datasets import load_digits


class Dataset(BaseDataset):
    """scikit-learn's bundled 8×8 digits (1 797 images, 10 classes), standardised, a fixed
    80/20 split; ``hidden`` is the MLP width (64-h-h-10)."""

    name = "digits"
    parameters = {"hidden": [128]}
    test_parameters = {"hidden": [32]}
    requirements = ["scikit-learn"]

    def get_data(self):
        X, y = load_digits(return_X_y=True)
        X = ((X - X.mean(0)) / (X.std(0) + 1e-8)).astype(np.float32)
        perm = np.random.default_rng(0).permutation(len(y))
        n_train = int(0.8 * len(y))
        tr, te = perm[:n_train], perm[n_train:]
        return dict(X_train=X[tr], y_train=y[tr].astype(np.int64), X_test=X[te],
                    y_test=y[te].astype(np.int64), hidden=self.hidden)
