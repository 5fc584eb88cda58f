from benchopt import BaseDataset

from optkit.constrained.logreg import constrained_logreg, load_breast_cancer_pm1


class Dataset(BaseDataset):
    """Constrained logistic regression on breast_cancer (d = 30): k Gaussian linear
    constraints and ||w||^2 = 1 (the paper's ML example)."""

    name = "logreg-sphere"
    parameters = {"n_linear": [10]}
    test_parameters = {"n_linear": [5]}

    def get_data(self):
        X, y = load_breast_cancer_pm1()
        return dict(problem=constrained_logreg(X, y, n_linear=self.n_linear, sphere=True))
