import numpy as np
import regot
from benchopt import BaseSolver


class Solver(BaseSolver):
    """RegOT (yixuan/regot-python, C++) entropic OT solvers, its iteration cap = benchopt's budget.
    Its dual is ``(alpha, beta[:-1])`` with ``beta[-1] = 0`` in optkit's convention."""

    name = "regot"
    sampling_strategy = "iteration"
    requirements = ["pip:regot"]
    parameters = {"method": ["sinkhorn_ssns", "sinkhorn_splr", "sinkhorn_sparse_newton",
                             "sinkhorn_bcd"]}

    def set_objective(self, a, b, C, reg):
        self.a, self.b, self.reg = a, b, reg
        self.C = np.asfortranarray(C)

    def run(self, maxiter):
        res = getattr(regot, self.method)(self.C, self.a, self.b, self.reg, tol=1e-15,
                                          max_iter=max(1, maxiter))
        n = self.a.size
        self.result = dict(f=res.dual[:n], g=np.append(res.dual[n:], 0.0),
                           counts=dict(n_value=np.nan, nit=res.niter))

    def get_result(self):
        return self.result
