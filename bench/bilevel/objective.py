import numpy as np
from benchmark_utils import ZERO_COUNTS
from benchopt import BaseObjective

from optkit.bilevel.toys import cleaning_metrics


class Objective(BaseObjective):
    """Bilevel problems: psi(x) - psi*, |x - x*|, or test accuracy and F1 (hyper-cleaning),
    against first-order (``n_grad``) and second-order (``n_hvp``) oracle calls.

    Hyper-cleaning: ``value`` = test error of the method's lower-level model z;
    ``test_acc_refit`` retrains that model on the learned weights by L-BFGS, the fair
    number across methods (BOME's z starts from a y that also descends the validation loss).
    """

    name = "bilevel"
    url = "https://github.com/optkit/optkit"
    min_benchopt_version = "1.9"
    requirements = []

    def set_data(self, problem, settings):
        self.problem = problem
        self.settings = settings

    def get_objective(self):
        return dict(problem=self.problem, settings=self.settings)

    def evaluate_result(self, x, y, z, counts):
        p = self.problem
        out = {}
        if "A_test" in p.data:
            out.update(cleaning_metrics(p, x, y, z, refit=True))
            value = 1.0 - out["test_acc"]
        elif p.psi is not None:
            value = float(p.psi(x))
            out["suboptimality"] = value - p.psi_star
        else:
            value = p.outer.value((x, y))
        if p.x_star is not None:
            out["dist_x"] = float(np.linalg.norm(x - p.x_star))
        return dict(value=value if np.isfinite(value) else np.inf, **out, **counts)

    def get_one_result(self):
        p = self.problem
        return dict(x=p.x0, y=p.y0, z=p.z0, counts=dict(ZERO_COUNTS))
