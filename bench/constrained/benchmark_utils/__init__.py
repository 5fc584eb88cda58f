"""Solvers shared by the constrained suite: al-newton with constraint and sketch counts, and
scipy's constrained methods fed counted callables."""

import numpy as np
import scipy.optimize

from optkit._bench.suite import OptkitSolver
from optkit.core import Counted


def constraint_calls(cons):
    return cons.ncev + cons.njev + cons.nhev


class ALNewtonSolver(OptkitSolver):
    """optkit al-newton; adds the constraint calls and sketch steps to the counts."""

    method = "al-newton"

    def set_objective(self, problem):
        super().set_objective(problem)
        self.options = dict(getattr(problem, "metadata", {}).get("options", {}))

    def run(self, callback):
        self._c0 = constraint_calls(self.problem.constraints)
        super().run(callback)

    def get_result(self):
        out = super().get_result()
        out["counts"] = {**out["counts"], "n_inner": int(self.state.n_inner),
                         "n_constr": constraint_calls(self.problem.constraints) - self._c0}
        return out


class ScipyConstrained:
    """``scipy.optimize.minimize(method=...)`` on an equality-constrained Problem, maxiter = n."""

    sampling_strategy = "iteration"
    method = ""
    options: dict = {}
    requirements = []

    def set_objective(self, problem):
        self.problem = problem

    def run(self, n_iter):
        cons = self.problem.constraints
        counted = Counted(self.problem.objective)
        c0 = constraint_calls(cons)
        x0 = np.asarray(self.problem.x0, dtype=float)
        if n_iter == 0:
            self.x = x0
        else:
            kw = {"hessp": counted.hvp} if self.method == "trust-constr" else {}
            con = scipy.optimize.NonlinearConstraint(cons.c, cons.lb, cons.ub, jac=cons.jac,
                                                     hess=self._chess)
            if self.method == "SLSQP":
                con = {"type": "eq", "fun": lambda x: cons.c(x) - cons.lb, "jac": cons.jac}
            res = scipy.optimize.minimize(counted.value, x0, jac=counted.grad, method=self.method,
                                          constraints=[con],
                                          options={**self.options, "maxiter": n_iter}, **kw)
            self.x = res.x
        self.counts = {**counted.snapshot(), "n_inner": 0,
                       "n_constr": constraint_calls(cons) - c0}

    def _chess(self, x, v):
        cons = self.problem.constraints
        return scipy.sparse.linalg.LinearOperator(
            (x.size, x.size), matvec=lambda u: cons.lagrangian_hvp(x, v, u), dtype=float)

    def get_result(self):
        return dict(x=self.x, counts=self.counts)
