"""Solvers shared by the constrained suite: al-newton with constraint and sketch counts, and
scipy's constrained methods fed counted callables."""

import numpy as np
import scipy.optimize
from benchopt.stopping_criterion import NoCriterion

from optkit._bench.suite import OptkitSolver
from optkit.core import Counted


def constraint_calls(cons):
    return cons.ncev + cons.njev + cons.nhev


class ALNewtonSolver(OptkitSolver):
    """optkit al-newton; adds the constraint calls and sketch steps to the counts."""

    method = "al-newton"
    # f is not monotone on constrained problems: run until al-newton's own stop (or timeout)
    stopping_criterion = NoCriterion(strategy="callback")

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
    """``scipy.optimize.minimize(method=...)`` on an equality-constrained Problem, maxiter = n.

    trust-constr gets the Hessian matrices (``hess=``, constraint ``hess``) when the problem
    has them, Hessian-vector products otherwise; SLSQP (dense, O(n^3) per iteration) is
    skipped above ``DENSE_MAX`` variables."""

    DENSE_MAX = 2000
    sampling_strategy = "iteration"
    # f is not monotone on constrained problems: every budget of the grid is run
    stopping_criterion = NoCriterion(strategy="iteration")
    method = ""
    options: dict = {}
    requirements = []

    def set_objective(self, problem):
        self.problem = problem

    def skip(self, problem):
        if self.method == "SLSQP" and problem.n > self.DENSE_MAX:
            return True, f"SLSQP is dense: skipped for n = {problem.n} > {self.DENSE_MAX}"
        return False, None

    def run(self, maxiter):
        cons = self.problem.constraints
        counted = Counted(self.problem.objective)
        c0 = constraint_calls(cons)
        x0 = np.asarray(self.problem.x0, dtype=float)
        self.x = x0 if maxiter == 0 else np.asarray(self.minimize(counted, x0, maxiter), float)
        self.counts = {**counted.snapshot(), "n_inner": 0,
                       "n_constr": constraint_calls(cons) - c0}

    def minimize(self, counted, x0, maxiter):
        """The peer's end point after ``maxiter`` iterations from ``x0`` (subclasses override)."""
        cons = self.problem.constraints
        matrices = getattr(self.problem.objective, "has_hess", False) and cons.has_lagrangian_hess
        kw = {}
        if self.method == "trust-constr":
            kw = {"hess": counted.hess} if matrices else {"hessp": counted.hvp}
        con = scipy.optimize.NonlinearConstraint(
            cons.c, cons.lb, cons.ub, jac=cons.jac,
            hess=cons.lagrangian_hess if matrices else self._chess)
        if self.method == "SLSQP":
            con = {"type": "eq", "fun": lambda x: cons.c(x) - cons.lb, "jac": cons.jac}
        return scipy.optimize.minimize(counted.value, x0, jac=counted.grad, method=self.method,
                                       constraints=[con], options={**self.options, "maxiter": maxiter},
                                       **kw).x

    def _chess(self, x, v):
        cons = self.problem.constraints
        return scipy.sparse.linalg.LinearOperator(
            (x.size, x.size), matvec=lambda u: cons.lagrangian_hvp(x, v, u), dtype=float)

    def get_result(self):
        return dict(x=self.x, counts=self.counts)
