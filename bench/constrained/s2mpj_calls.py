"""Oracle-call counts of al-newton (default options) and SLSQP on S2MPJ problems.

For each problem the user's callables of :func:`s2mpj_wide.user_problem` (f, ∇f, ∇²f, c, J,
the constraints' Lagrangian Hessian) are wrapped with counters that also record the points
they were called at, so that repeated evaluations at one point are visible (``dup`` = calls
at a point already evaluated by the same callable). al-newton's own counters give the
iterations, line-search trials (objective evaluations), restorations and corrections.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python bench/constrained/s2mpj_calls.py MARATOS EIGENBCO
    ... --options '{"safeguards": "paper"}'
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from s2mpj_wide import user_problem  # noqa: E402  (run from bench/constrained or with PYTHONPATH)

CALLABLES = ("f", "grad", "hess", "c", "jac", "chess")


class Counted:
    """A callable that counts its calls and the calls at an already-seen point."""

    def __init__(self, fn):
        self.fn, self.calls, self.dup, self.seen, self.time = fn, 0, 0, set(), 0.0

    def __call__(self, x, *args):
        key = np.asarray(x, dtype=float).tobytes() + b"".join(
            np.asarray(a, dtype=float).tobytes() for a in args)
        self.calls += 1
        self.dup += key in self.seen
        self.seen.add(key)
        t0 = time.perf_counter()
        try:
            return self.fn(x, *args)
        finally:
            self.time += time.perf_counter() - t0


def counted_problem(name):
    """The user problem with every callable wrapped in :class:`Counted`."""
    from scipy.optimize import NonlinearConstraint

    fun, x0, jac, hess, con = user_problem(name)
    w = dict(zip(CALLABLES, map(Counted, (fun, jac, hess, con.fun, con.jac, con.hess))))
    cons = NonlinearConstraint(w["c"], con.lb, con.ub, jac=w["jac"], hess=w["chess"])
    return w, x0, cons


def count_al_newton(name, options):
    import optkit

    w, x0, cons = counted_problem(name)
    t0 = time.perf_counter()
    res = optkit.minimize(w["f"], x0, method="al-newton", jac=w["grad"], hess=w["hess"],
                          constraints=[cons], options=options or None)
    return dict(name=name, solver="al-newton", time=time.perf_counter() - t0, nit=res.nit,
                status=res.status, fun=float(res.fun), viol=float(res.constr_violation),
                restorations=res.n_restorations, restoration_nfev=res.n_restoration_nfev,
                recoveries=res.n_recoveries, soc=res.n_soc,
                oracle_time=sum(v.time for v in w.values()),
                **{k: v.calls for k, v in w.items()},
                **{f"dup_{k}": v.dup for k, v in w.items() if v.dup},
                **{f"time_{k}": round(v.time, 4) for k, v in w.items()})


def count_slsqp(name):
    import scipy.optimize

    w, x0, cons = counted_problem(name)
    t0 = time.perf_counter()
    res = scipy.optimize.minimize(
        w["f"], x0, jac=w["grad"], method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda x: cons.fun(x) - cons.lb, "jac": cons.jac}],
        options={"ftol": 1e-12, "maxiter": 1000})
    return dict(name=name, solver="slsqp", time=time.perf_counter() - t0, nit=res.nit,
                status=res.status, fun=float(res.fun),
                **{k: v.calls for k, v in w.items()})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--options", default="{}", help="al-newton options as JSON")
    parser.add_argument("--no-slsqp", action="store_true")
    args = parser.parse_args(argv)
    options = json.loads(args.options)
    import warnings
    warnings.simplefilter("ignore")
    from s2mpj_wide import run_al_newton

    run_al_newton("HS28", dict(maxiter=2))  # import optkit and compile the kernels first
    for name in args.names:
        with np.errstate(all="ignore"):
            try:
                print(json.dumps(count_al_newton(name, options)), flush=True)
            except Exception as exc:  # noqa: BLE001 - a user callable raised: report, go on
                print(json.dumps(dict(name=name, solver="al-newton",
                                      error=f"{type(exc).__name__}: {exc}")), flush=True)
            if not args.no_slsqp:
                print(json.dumps(count_slsqp(name)), flush=True)


if __name__ == "__main__":
    main()
