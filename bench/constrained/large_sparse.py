"""Large sparse equality-constrained problems (n >= 10^4): al-newton vs scipy trust-constr
and IPOPT, wall time to convergence.

Problems (optkit.constrained.large): ``network`` = convex-cost flow on a random network
(2001 nodes, 10^4 arcs: n = 10000, m = 2000, linear constraints); ``pde`` = semilinear
elliptic control on a 71 x 71 grid (n = 10082, m = 5041, nonlinear constraints);
``quartic`` = separable quartic, 100 random sparse linear constraints (n = 10000); and
``quartic-hvp`` = the same given Hessian-vector products only (al-newton's matrix-free
path; trust-constr then gets ``hessp``). Every solver
gets the same exact derivatives: sparse Hessian matrices (``hess=``) and sparse Jacobians;
IPOPT (cyipopt) takes dense Hessians only, so it runs with its L-BFGS Hessian.

Each run is a forked child killed after ``--timeout`` seconds (row "T/O"); the time is the
solver call only (problem built and numba kernels compiled before the clock starts). The KKT
residual ||(grad f + G^T lam, c)||_2 is evaluated at each solver's own end point and
multipliers. "speed-up" = trust-constr time / this row's time (successful rows only).
With ``--repeat K`` each run is repeated K times (solver by solver, in turn) and the
median time is reported.

    OPENBLAS_NUM_THREADS=1 python bench/constrained/large_sparse.py
    ... --problems pde --solvers "al-newton direct paper,trust-constr" --timeout 300
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import warnings

import numpy as np
import scipy.sparse as sp

PROBLEMS = ("network", "pde", "quartic", "quartic-hvp")
SOLVERS = {
    "al-newton direct paper": dict(sketch="direct", accuracy="paper"),
    "al-newton direct relative": dict(sketch="direct", accuracy="relative"),
    "al-newton minres paper": dict(sketch="minres", accuracy="paper"),
    "al-newton minres relative": dict(sketch="minres", accuracy="relative"),
    "al-newton rk relative": dict(sketch="rk", accuracy="relative"),
    "al-newton gaussian relative": dict(sketch="gaussian", accuracy="relative"),
    "trust-constr": dict(gtol=1e-8, xtol=1e-12, maxiter=1000),
    "ipopt l-bfgs": dict(tol=1e-8, hessian_approximation="limited-memory", max_iter=3000),
}
TOL = 1e-6  # al-newton's KKT tolerance


def make_problem(name):
    from optkit.constrained import large
    from optkit.core import Problem

    if name == "quartic-hvp":
        p = large.separable_quartic()
        return Problem.from_scipy(p.objective.value, p.x0, jac=p.objective.grad,
                                  hessp=p.objective.hvp, constraints=p.constraints,
                                  name=p.name + " [hvp only]")
    return {"network": large.network_flow, "pde": large.semilinear_control,
            "quartic": large.separable_quartic}[name]()


def _kkt(problem, x, lam):
    cons = problem.constraints
    g = problem.objective.grad(x)
    c = cons.c(x) - cons.lb
    return float(np.sqrt(np.sum((g + cons.jac(x).T @ lam) ** 2) + c @ c)), float(np.abs(c).max())


def _al_newton(problem, options):
    from optkit.core import solve

    res = solve(problem, "al-newton", options={"tol": TOL, "rng": 0, **options})
    return res.x, res.multipliers, res.success, res.nit, res.message


def _trust_constr(problem, options):
    import scipy.optimize

    obj, cons = problem.objective, problem.constraints
    second = {"hess": obj.hess} if obj.has_hess else {"hessp": obj.hvp}
    con = scipy.optimize.NonlinearConstraint(cons.c, cons.lb, cons.ub, jac=cons.jac,
                                             hess=cons.lagrangian_hess)
    res = scipy.optimize.minimize(obj.value, problem.x0, jac=obj.grad, method="trust-constr",
                                  constraints=[con], options=options, **second)
    return res.x, np.concatenate(res.v), res.status in (1, 2), res.nit, res.message


def _ipopt(problem, options):
    import cyipopt

    obj, cons = problem.objective, problem.constraints
    con = {"type": "eq", "fun": lambda x: cons.c(x) - cons.lb,
           "jac": lambda x: sp.coo_array(cons.jac(x))}
    res = cyipopt.minimize_ipopt(obj.value, problem.x0, jac=obj.grad, constraints=[con],
                                 options={"print_level": 0, "sb": "yes", **options})
    return res.x, np.asarray(res.info["mult_g"]), res.status == 0, res.nit, str(res.message)


def _warm_up():
    """Compile the numba sketch kernels, and load the method registry and scipy's
    trust-constr, outside the timed region (one tiny sparse-path run of each)."""
    from optkit.constrained import large, sketch

    A = sp.csr_array(np.array([[2.0, 1.0], [1.0, 3.0]]))
    for name in ("rk", "gaussian"):
        sketch.solve(A, np.ones(2), sketch=name, maxiter=5, rng=0)
    tiny = large.semilinear_control(N=3)
    _al_newton(tiny, dict(sketch="direct", linear_algebra="sparse", maxiter=2))
    _trust_constr(tiny, dict(maxiter=2))


def _child(problem_name, solver, queue):
    warnings.simplefilter("ignore")
    problem = make_problem(problem_name)
    _warm_up()
    options = SOLVERS[solver]
    run = (_al_newton if solver.startswith("al-newton")
           else _trust_constr if solver == "trust-constr" else _ipopt)
    t0 = time.perf_counter()
    x, lam, success, nit, message = run(problem, options)
    elapsed = time.perf_counter() - t0
    kkt, viol = _kkt(problem, x, lam)
    queue.put(dict(time=elapsed, success=bool(success), nit=int(nit), kkt=kkt, viol=viol,
                   f=float(problem.objective.value(x)), message=str(message)[:70]))


def run_one(problem_name, solver, timeout):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(problem_name, solver, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else dict(error=f"exit code {proc.exitcode}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per solver (median time)")
    args = parser.parse_args(argv)
    for problem_name in args.problems.split(","):
        p = make_problem(problem_name)
        print(f"\n## {p.name}: n = {p.n}, m = {p.constraints.m}")
        print(f"{'solver':30s} {'time s':>8s} {'speed-up':>8s} {'ok':>3s} {'iter':>5s} "
              f"{'f':>14s} {'KKT':>9s} {'|c|inf':>9s}  message")
        solvers = args.solvers.split(",")
        runs = {s: [] for s in solvers}
        for _ in range(args.repeat):
            for s in solvers:
                if None not in runs[s]:  # a time-out is not retried
                    runs[s].append(run_one(problem_name, s, args.timeout))
        rows = {}
        for s, rs in runs.items():
            done = [r for r in rs if r is not None and "error" not in r]
            rows[s] = rs[-1] if len(done) < len(rs) else {
                **done[-1], "time": float(np.median([r["time"] for r in done]))}
        ref = rows.get("trust-constr")
        for solver, r in rows.items():
            if r is None or "error" in r:
                print(f"{solver:30s} {'T/O' if r is None else r['error']}")
                continue
            speed = (f"{ref['time'] / r['time']:8.1f}" if ref and r["success"] and ref.get("time")
                     else f"{'-':>8s}")
            print(f"{solver:30s} {r['time']:8.2f} {speed} {'yes' if r['success'] else 'no':>3s} "
                  f"{r['nit']:5d} {r['f']:14.8g} {r['kkt']:9.2e} {r['viol']:9.2e}  "
                  f"{r['message']}")


if __name__ == "__main__":
    main()
