import numpy as np
import scipy.sparse as sp
from benchmark_utils import ScipyConstrained
from benchopt import BaseSolver, safe_import_context

with safe_import_context() as import_ctx:
    import cyipopt


class Solver(ScipyConstrained, BaseSolver):
    """Peer: IPOPT (interior point, MUMPS) through ``cyipopt.minimize_ipopt``, ``max_iter`` =
    benchopt's budget (restarted from x0 each run), ``tol`` 1e-9.

    ``hessian="exact"``: the Hessian of the Lagrangian, assembled densely from n objective
    Hessian-vector products and n constraint ``lagrangian_hvp`` products per evaluation (the
    oracles give products only), so ``n_hvp`` and ``n_constr`` count those products.
    ``hessian="limited-memory"``: gradients and Jacobians only, IPOPT's L-BFGS.
    Counts include the calls ``minimize_ipopt`` makes at x0 to size the problem (c twice, J
    once, and one objective Hessian in exact mode). Equality constraints only.
    Needs ``cyipopt-wheels`` (Linux wheel bundling Ipopt 3.14.11; ``cyipopt`` itself has none).
    """

    name = "ipopt"
    requirements = ["pip::cyipopt-wheels>=1.7.0.dev0"]
    parameters = {"hessian": ["exact", "limited-memory"]}
    test_config = {"hessian": "exact"}
    options = {"print_level": 0, "sb": "yes", "tol": 1e-9}

    def skip(self, problem):
        if not problem.objective.has_grad:
            return True, "ipopt needs gradients here"
        if self.hessian == "exact" and not problem.objective.has_hvp:
            return True, "ipopt hessian='exact' needs Hessian-vector products"
        if self.hessian == "exact" and problem.n > self.DENSE_MAX:
            return True, (f"ipopt hessian='exact' assembles dense Hessians (cyipopt's "
                          f"minimize_ipopt): skipped for n = {problem.n}")
        if problem.constraints.has_inequalities:
            return True, "ipopt solver handles equality constraints only"
        return False, None

    def minimize(self, counted, x0, maxiter):
        cons = self.problem.constraints
        con = {"type": "eq", "fun": lambda x: cons.c(x) - cons.lb, "jac": _jac(cons)}
        kw = {}
        opts = {**self.options, "max_iter": int(maxiter)}
        if self.hessian == "exact":
            kw["hess"] = lambda x: _dense(lambda u: counted.hvp(x, u), x.size)
            con["hess"] = lambda x, lam: _dense(lambda u: cons.lagrangian_hvp(x, lam, u), x.size)
        else:
            opts["hessian_approximation"] = "limited-memory"
        return cyipopt.minimize_ipopt(counted.value, x0, jac=counted.grad, constraints=[con],
                                      options=opts, **kw).x


def _jac(cons):
    """The Jacobian as cyipopt wants it: dense, or COO with a fixed sparsity pattern."""
    def jac(x):
        J = cons.jac(x)
        return sp.coo_array(J) if sp.issparse(J) else J

    return jac


def _dense(matvec, n):
    """A symmetric matrix from n products with the unit vectors."""
    H = np.column_stack([matvec(e) for e in np.eye(n)])
    return 0.5 * (H + H.T)
