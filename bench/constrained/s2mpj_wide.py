"""al-newton (default options) vs SLSQP and IPOPT on every S2MPJ equality problem with n <= 100.

Selection rule (fixed, saved in ``bench/constrained/s2mpj_wide_problems.csv`` by ``--write-list``):
every problem of optiprofiler 2.0.0's S2MPJ library (``probinfo_python.csv``, default
dimension) with only equality constraints (``m_ub == 0``, ``1 <= m_eq``) and ``n <= 100``:
394 problems in three sets (column ``set``, chosen with ``--sets``):

- ``equality`` (127, the default; ``included=1``): no bounds (``mb == 0``), ``m_eq <= n``;
  the first table of issue 17, kept as it was;
- ``overdetermined`` (69): no bounds, ``m_eq > n`` (SLSQP and IPOPT refuse them; al-newton
  starts with a restoration, see ``ALNewton._overdetermined_start``);
- ``bounded`` (198): ``mb > 0``, bounds passed to every solver (al-newton: log-barrier,
  fixed variables as rows, ``optkit.constrained._box``).

Each solver is called as a user would: ``optkit.minimize(fun, x0, method="al-newton",
jac=, hess=, constraints=[NonlinearConstraint(c, lb, ub, jac=, hess=)])`` with no options;
``scipy.optimize.minimize(..., method="SLSQP", options={"ftol": 1e-12, "maxiter": 1000})``;
``cyipopt.minimize_ipopt`` with exact Hessians, ``tol`` 1e-9 (cyipopt-wheels, Ipopt 3.14).
Every run is a forked child killed after ``--timeout`` seconds (status "T/O").
``--start-seed S`` starts every solver of a row from the same unseen point instead of S2MPJ's
x0 (:func:`start_point`: x0 + 0.1 max(1, |x0|) N(0, I), ``--start-scale``, inside the bounds).

Per problem and solver: ``feasible`` = ||c(x)||_inf <= 1e-6 and the bounds violated by at
most 1e-6 (``viol`` is the larger violation); ``best`` = feasible and
f <= f_best + 1e-6 max(1, |f_best|), f_best the lowest f over the feasible end points of
the solvers in the row (al-newton and SLSQP for the headline comparison, all three in the
``best3`` columns). ``cause`` is the failure class (see :func:`failure_cause`). ``viol0`` is
the start point's violation; with it the summary also compares al-newton and SLSQP on
optiprofiler's merit (:func:`optiprofiler_merit`), which adds 1e5 times a violation above
1e-10 max(1, viol0) to f.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python bench/constrained/s2mpj_wide.py \
        --out bench/constrained/results/wide_before.csv
    ... --solvers al-newton --peers bench/constrained/results/wide_before.csv --out after.csv
    ... --option rng=0 ...   # before/after comparisons: the same sketch draws in both runs
    python bench/constrained/s2mpj_wide.py --summary after.csv --peers before.csv \
        --out merged.csv --profiles DIR

Performance and log-ratio profiles of wall time are drawn by optiprofiler's own profile
code (``optiprofiler.plotting.draw_profiles``) from the table's times; optiprofiler's
``benchmark`` runner itself is not used: it hands solvers the objective and constraint
functions without derivatives, while this table compares the users' call with exact ones.
"""

from __future__ import annotations

import argparse
import csv
import functools
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

import numpy as np

FEAS_TOL = 1e-6
F_TOL = 1e-6
HERE = Path(__file__).parent
LIST_FILE = HERE / "s2mpj_wide_problems.csv"
SOLVERS = ("al-newton", "slsqp", "ipopt")
FIELDS = ("status", "success", "feasible", "f", "viol", "time", "nit", "cause", "message")


SETS = ("equality", "overdetermined", "bounded")


def selection(max_n=100):
    """Rows (name, n, m, included, reason, set) of the selection rule in the module
    docstring: ``set`` is "equality" (no bounds, m <= n: the first table's 127 problems,
    ``included=1``), "overdetermined" (no bounds, m > n) or "bounded" (``mb > 0``)."""
    from optkit.constrained.s2mpj import _info

    rows = []
    for r in sorted(_info().values(), key=lambda r: r["problem_name"]):
        n, m_eq = int(r["dim"]), int(r["m_eq"])
        if r["m_ub"] != "0" or m_eq < 1 or n > max_n:
            continue
        kind = "bounded" if r["mb"] != "0" else "overdetermined" if m_eq > n else "equality"
        reason = {"equality": "", "overdetermined": "m > n", "bounded": "bounds"}[kind]
        rows.append((r["problem_name"], n, m_eq, int(not reason), reason, kind))
    return rows


@functools.lru_cache(maxsize=4)
def _instance(name):
    """The S2MPJ problem object (built once per process: user_problem and user_bounds)."""
    import importlib

    from optkit.constrained.s2mpj import _on_path

    with _on_path():
        return getattr(importlib.import_module(name), name)()


def user_bounds(name):
    """The problem's ``scipy.optimize.Bounds``, or ``None`` when it has none."""
    from scipy.optimize import Bounds

    P = _instance(name)
    lo, hi = np.asarray(P.xlower, float).ravel(), np.asarray(P.xupper, float).ravel()
    if not (np.isfinite(lo).any() or np.isfinite(hi).any()):
        return None
    return Bounds(lo, hi)


def user_problem(name):
    """``(fun, x0, jac, hess, constraint)`` of S2MPJ problem ``name`` in scipy's convention."""

    import scipy.sparse as sp
    from scipy.optimize import NonlinearConstraint

    from optkit.constrained.s2mpj import _dense, _info

    feasibility = _info()[name]["isfeasibility"] == "1"
    P = _instance(name)
    n = P.x0.size
    m = int(np.asarray(P.clower).size)

    def col(x):
        return np.asarray(x, dtype=float).reshape(n, 1)

    def fun(x):
        return 0.0 if feasibility else float(P.fx(col(x)))

    def jac(x):
        return np.zeros(n) if feasibility else np.asarray(P.fgx(col(x))[1], float).ravel()

    def hess(x):
        return np.zeros((n, n)) if feasibility else _dense(P.fgHx(col(x))[2])

    def cfun(x):
        return np.asarray(P.cx(col(x)), dtype=float).ravel()

    def cjac(x):
        J = P.cJx(col(x))[1]
        return J.toarray() if sp.issparse(J) else np.asarray(J, dtype=float).reshape(m, n)

    def chess(x, v):
        H = np.zeros((n, n))
        for vi, Hi in zip(v, P.cJHx(col(x))[2]):
            H += vi * _dense(Hi)
        return H

    lb = np.asarray(P.clower, float).ravel()
    con = NonlinearConstraint(cfun, lb, np.asarray(P.cupper, float).ravel(), jac=cjac,
                              hess=chess)
    return fun, start_point(name, np.asarray(P.x0, float).ravel()), jac, hess, con


START = {"seed": None, "scale": 0.1}  # --start-seed, --start-scale (set before forking)


def start_point(name, x0):
    r"""``x0``, or with ``--start-seed S`` the unseen start :math:`x_0 + \sigma\max(1,
    |x_0|)\,\xi`, :math:`\xi \sim N(0, I)` drawn from ``(S, crc32(name))`` and
    :math:`\sigma` = ``--start-scale``, projected into the problem's bounds: every solver
    of a row starts from the same point."""
    if START["seed"] is None:
        return x0
    import zlib

    rng = np.random.default_rng([START["seed"], zlib.crc32(name.encode())])
    x = x0 + START["scale"] * np.maximum(1.0, np.abs(x0)) * rng.standard_normal(x0.size)
    bounds = user_bounds(name)
    return x if bounds is None else np.clip(x, bounds.lb, bounds.ub)


def _violation(con, bounds, x):
    """The largest violation of the constraints and of the bounds at x."""
    viol = float(np.max(np.abs(con.fun(x) - con.lb), initial=0.0))
    if bounds is not None:
        viol = max(viol, float(np.max(np.maximum(bounds.lb - x, x - bounds.ub), initial=0.0)))
    return viol


def start_violation(name):
    """``viol0``: the violation at the row's start point (:func:`start_point`); NaN where
    the constraints cannot be evaluated there."""
    _, x0, _, _, con = user_problem(name)
    try:
        return _violation(con, user_bounds(name), x0)
    except (ArithmeticError, ValueError):
        return np.nan


def optiprofiler_merit(f, viol, viol0):
    r"""optiprofiler's default merit of an end point (``optiprofiler.scoring``, the value its
    profiles rank): :math:`f` where :math:`v \le v_1 = \min(0.01, 10^{-10}\max(1, v_0))`,
    :math:`f + 10^5 (v - v_1)` where :math:`v_1 < v \le \max(0.1, 2 v_0)`, else
    :math:`\infty`; :math:`v` is the end point's largest violation, :math:`v_0` the start's."""
    if not (np.isfinite(f) and np.isfinite(viol)):
        return np.inf
    v1 = min(0.01, 1e-10 * max(1.0, viol0))
    if viol <= v1:
        return f
    return f + 1e5 * (viol - v1) if viol <= max(0.1, 2.0 * viol0) else np.inf


def _record(fun, con, bounds, res, t0, status, success, nit, message):
    """One row; ``viol`` is the largest violation of the constraints and of the bounds."""
    x = np.asarray(res.x, dtype=float)
    viol = _violation(con, bounds, x)
    return dict(status=int(status), success=bool(success), f=float(fun(x)), viol=viol,
                time=time.perf_counter() - t0, nit=int(nit), message=str(message))


def run_al_newton(name, options):
    import optkit

    fun, x0, jac, hess, con = user_problem(name)
    bounds = user_bounds(name)
    t0 = time.perf_counter()
    res = optkit.minimize(fun, x0, method="al-newton", jac=jac, hess=hess, constraints=[con],
                          bounds=bounds, options=options or None)
    return _record(fun, con, bounds, res, t0, res.status, res.success, res.nit, res.message)


def run_slsqp(name, options):
    import scipy.optimize

    fun, x0, jac, _, con = user_problem(name)
    bounds = user_bounds(name)
    t0 = time.perf_counter()
    res = scipy.optimize.minimize(
        fun, x0, jac=jac, method="SLSQP", bounds=bounds,
        constraints=[{"type": "eq", "fun": lambda x: con.fun(x) - con.lb, "jac": con.jac}],
        options={"ftol": 1e-12, "maxiter": 1000})
    return _record(fun, con, bounds, res, t0, res.status, res.success, res.nit, res.message)


def run_ipopt(name, options):
    import cyipopt

    fun, x0, jac, hess, con = user_problem(name)
    bounds = user_bounds(name)
    t0 = time.perf_counter()
    res = cyipopt.minimize_ipopt(
        fun, x0, jac=jac, hess=hess, bounds=bounds,
        constraints=[{"type": "eq", "fun": lambda x: con.fun(x) - con.lb, "jac": con.jac,
                      "hess": con.hess}],
        options={"print_level": 0, "sb": "yes", "tol": 1e-9, "max_iter": 3000})
    return _record(fun, con, bounds, res, t0, res.status, res.success, res.nit, res.message)


RUNNERS = {"al-newton": run_al_newton, "slsqp": run_slsqp, "ipopt": run_ipopt}


def _child(conn, fn, name, options):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            conn.send(fn(name, options))
    except Exception as exc:  # noqa: BLE001 - report any crash as a row
        conn.send(dict(status=-1, success=False, f=np.nan, viol=np.nan, time=np.nan, nit=-1,
                       message=f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_limited(fn, name, options, timeout):
    """``fn(name, options)`` in a forked child; a "T/O" record past ``timeout`` seconds."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, name, options))
    proc.start()
    child.close()
    out = None
    if parent.poll(timeout):
        try:
            out = parent.recv()
        except EOFError:  # the child died without an answer (SLSQP's Fortran on m >> n)
            proc.join()
            out = dict(status=-1, success=False, f=np.nan, viol=np.nan, time=np.nan, nit=-1,
                       message=f"crash: the process died (exit code {proc.exitcode})")
    if out is None:
        proc.kill()
        out = dict(status=-2, success=False, f=np.nan, viol=np.nan, time=timeout, nit=-1,
                   message=f"T/O: killed after {timeout:g} s")
    proc.join()
    return out


def failure_cause(solver, r):
    """Failure class of one run ("" when feasible): time, crash, or the solver's own reason.

    al-newton statuses (``optkit.constrained.al_newton.AL_STATUS``): 1 maxiter, 2 line-search
    stall, 3 non-finite, 5 sketch budget, 7 singular/rank-deficient Jacobian, 8 penalty
    safeguards, 9 max_time; a success flag at an infeasible point is "infeasible-stop".
    """
    if r["status"] == -2:
        return "time"
    if r["status"] == -1:
        return "crash"
    if r["feasible"]:
        return ""
    if solver == "al-newton":
        return {0: "infeasible-stop", 1: "maxiter", 2: "line-search", 3: "nonfinite",
                5: "sketch-budget", 7: "singular-jacobian", 8: "penalty",
                9: "max-time", 10: "restoration-failed"}.get(r["status"], f"status {r['status']}")
    return str(r["message"])[:40].replace(",", ";")


def mark_best(row, solvers, key):
    """Set ``<solver>_<key>`` = 1 where the solver's feasible f is within F_TOL of the best."""
    feas = [float(row[f"{s}_f"]) for s in solvers
            if int(row[f"{s}_feasible"]) and np.isfinite(float(row[f"{s}_f"]))]
    best = min(feas) if feas else np.nan
    for s in solvers:
        ok = (feas and int(row[f"{s}_feasible"])
              and float(row[f"{s}_f"]) <= best + F_TOL * max(1.0, abs(best)))
        row[f"{s}_{key}"] = int(bool(ok))


def load_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def summary(rows, solvers=SOLVERS):
    """Counts per solver: feasible, best f (pair / three), success, causes, times."""
    lines = []
    present = [s for s in solvers if f"{s}_status" in rows[0]]
    both = [r for r in rows if int(r["al-newton_feasible"]) and int(r["slsqp_feasible"])]
    for s in present:
        feas = sum(int(r[f"{s}_feasible"]) for r in rows)
        best2 = sum(int(r.get(f"{s}_best2", 0)) for r in rows)
        best3 = sum(int(r.get(f"{s}_best3", 0)) for r in rows)
        succ = sum(str(r[f"{s}_success"]) in ("True", "1") and int(r[f"{s}_feasible"]) for r in rows)
        times = np.array([float(r[f"{s}_time"]) for r in rows])
        causes: dict[str, int] = {}
        for r in rows:
            if r[f"{s}_cause"]:
                key = r[f"{s}_cause"] if s == "al-newton" or r[f"{s}_cause"] == "time" else "other"
                causes[key] = causes.get(key, 0) + 1
        lines.append(f"{s:<10} feasible {feas:>3}/{len(rows)}  solved(success+feasible) "
                     f"{succ:>3}  best-f(al,slsqp) {best2:>3}  best-f(all) {best3:>3}  "
                     f"time total {np.nansum(times):7.1f} s median {np.nanmedian(times):.3f} s  "
                     f"causes {dict(sorted(causes.items()))}")
    lower_al = sum(float(r["al-newton_f"]) < float(r["slsqp_f"])
                   - F_TOL * max(1.0, abs(float(r["slsqp_f"]))) for r in both)
    lower_sq = sum(float(r["slsqp_f"]) < float(r["al-newton_f"])
                   - F_TOL * max(1.0, abs(float(r["al-newton_f"]))) for r in both)
    lines.append(f"both feasible on {len(both)}: al-newton strictly lower f on {lower_al}, "
                 f"SLSQP strictly lower on {lower_sq}")
    if "viol0" in rows[0]:  # tables written since stop 35
        merits = [[optiprofiler_merit(float(r[f"{s}_f"]), float(r[f"{s}_viol"]),
                                      float(r["viol0"])) for s in ("al-newton", "slsqp")]
                  for r in both]
        lower = [sum(a < b - F_TOL * max(1.0, abs(b)) for a, b in pairs)
                 for pairs in (merits, [m[::-1] for m in merits])]
        lines.append(f"  on optiprofiler's merit (f + 1e5 viol above 1e-10 max(1, viol0)): "
                     f"al-newton strictly lower on {lower[0]}, SLSQP strictly lower on "
                     f"{lower[1]}")
    for floor in (1e-3, 0.1):  # the wall-time guard: al-newton within 10x SLSQP's time
        slow = [(r["name"], float(r["al-newton_time"]) / max(float(r["slsqp_time"]), floor),
                 int(r["slsqp_feasible"])) for r in rows if int(r["n"]) <= 60]
        slow = sorted([s for s in slow if s[1] > 10], key=lambda s: -s[1])
        lines.append(f"n <= 60 with al-newton time > 10x SLSQP's (time floor {floor:g} s): "
                     f"{len(slow)}, SLSQP feasible on {sum(s[2] for s in slow)} "
                     f"{[(nm, round(q)) for nm, q, feas in slow if feas]}, infeasible on "
                     f"{[(nm, round(q)) for nm, q, feas in slow if not feas]}")
    return "\n".join(lines)


def performance_profiles(rows, outdir):
    """Performance profiles of wall time (Dolan and Moré, Math. Program. 91, 2002), drawn by
    optiprofiler's own profile code (``optiprofiler.plotting.draw_profiles``), over every
    problem of the table. The work of a run is its wall time (floor 1 ms); a failed run (not
    feasible, or not the best f of the solvers compared) has no work (NaN, optiprofiler's
    failure). One figure per success criterion for all solvers, and the same pair plus the
    log-ratio profile for al-newton against SLSQP (optiprofiler draws it for two solvers).
    Returns the profiles, ``{figure key: {solver: (log2 ratio, fraction of problems)}}``."""
    import matplotlib

    matplotlib.use("Agg")
    from optiprofiler.opclasses import Feature
    from optiprofiler.plotting import draw_profiles
    from optiprofiler.profile_utils import get_default_profile_options

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    present = [s for s in SOLVERS if f"{s}_status" in rows[0]]
    dims = np.array([int(r["n"]) for r in rows])
    profiles = {}
    groups = [(present, "", "best3")]
    if {"al-newton", "slsqp"} <= set(present) and len(present) > 2:
        groups.append((["al-newton", "slsqp"], "_pair", "best2"))
    for names, suffix, best in groups:
        for key, label in (("feasible", "feasible"), (best, "best\\ f")):
            work = np.array([[max(float(r[f"{s}_time"]), 1e-3)
                              if int(r.get(f"{s}_{key}", 0)) else np.nan for s in names]
                             for r in rows])[:, :, None]
            options = get_default_profile_options([None] * len(names), Feature("plain"),
                                                  {"solver_names": list(names)})
            curves = {kind: [[None, None] for _ in names] for kind in ("perf", "data")}
            curves["log_ratio"] = [None, None]
            figures = draw_profiles(work, dims, list(names), f"\\mathrm{{{label}}}", 0, None,
                                    None, None, False, True, True, len(names) == 2, options,
                                    curves)
            perf, _, log_ratio = figures[:3]  # a data profile's axis counts simplex gradients
            perf.savefig(outdir / f"perf_time_{key}{suffix}.png", dpi=120)
            profiles[f"{key}{suffix}"] = {s: curves["perf"][j][0] for j, s in enumerate(names)}
            if log_ratio is not None:
                log_ratio.savefig(outdir / f"log_ratio_time_{key}{suffix}.png", dpi=120)
    return profiles


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-n", type=int, default=100)
    ap.add_argument("--sets", default="equality",
                    help=f"comma-separated sets of the list ({', '.join(SETS)}) or 'all'")
    ap.add_argument("--names", default="", help="comma-separated names (default: the list)")
    ap.add_argument("--solvers", default=",".join(SOLVERS))
    ap.add_argument("--peers", default="", help="CSV whose columns fill the solvers not run")
    ap.add_argument("--option", action="append", default=[],
                    help="al-newton option KEY=VALUE (Python literal), repeatable")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per solver run")
    ap.add_argument("--start-seed", type=int, default=None,
                    help="start every solver from x0 perturbed with this seed (start_point)")
    ap.add_argument("--start-scale", type=float, default=START["scale"],
                    help="relative size of the --start-seed perturbation")
    ap.add_argument("--out", default="")
    ap.add_argument("--write-list", action="store_true", help="write the selection CSV, exit")
    ap.add_argument("--summary", default="", help="print the summary of a result CSV, exit")
    ap.add_argument("--profiles", default="", help="directory for performance profile PNGs")
    args = ap.parse_args(argv)

    if args.summary:
        rows = load_rows(args.summary)
        if args.peers:  # fill the solvers this CSV lacks from another run, re-mark best f
            peers = {r["name"]: r for r in load_rows(args.peers)}
            for row in rows:
                for s in SOLVERS:
                    if f"{s}_status" not in row and f"{s}_status" in peers[row["name"]]:
                        row.update({f"{s}_{k}": peers[row["name"]][f"{s}_{k}"]
                                    for k in FIELDS})
                mark_best(row, ("al-newton", "slsqp"), "best2")
                mark_best(row, [s for s in SOLVERS if f"{s}_status" in row], "best3")
            if args.out:
                with open(args.out, "w", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
                    w.writeheader()
                    w.writerows(rows)
        print(summary(rows))
        if args.profiles:
            performance_profiles(rows, args.profiles)
        return 0
    if args.write_list:
        with open(LIST_FILE, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("name", "n", "m", "included", "reason", "set"))
            w.writerows(selection(args.max_n))
        return 0

    import ast

    START.update(seed=args.start_seed, scale=args.start_scale)
    options = {}
    for kv in args.option:
        key, _, value = kv.partition("=")
        try:
            options[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = value.strip()
    sets = SETS if args.sets == "all" else tuple(x.strip() for x in args.sets.split(","))
    listed = [r for r in load_rows(LIST_FILE) if r["set"] in sets]
    if args.names:
        wanted = {s.strip() for s in args.names.split(",")}
        listed = [r for r in listed if r["name"] in wanted]
    listed = [r for r in listed if int(r["n"]) <= args.max_n]
    run = [s.strip() for s in args.solvers.split(",") if s.strip()]
    peers = {r["name"]: r for r in load_rows(args.peers)} if args.peers else {}
    with warnings.catch_warnings():  # import optkit and the kernels once, before forking
        warnings.simplefilter("ignore")
        run_al_newton("HS28", dict(maxiter=2))
    start = ("x0" if args.start_seed is None
             else f"x0 perturbed (seed {args.start_seed}, scale {args.start_scale:g})")
    print(f"# al-newton options {options or 'defaults'}; timeout {args.timeout:g} s; "
          f"start {start}; {len(listed)} problems", flush=True)
    rows = []
    for item in listed:
        name = item["name"]
        row = dict(name=name, n=item["n"], m=item["m"], viol0=start_violation(name))
        for s in SOLVERS:
            if s in run:
                r = run_limited(RUNNERS[s], name, options if s == "al-newton" else {},
                                args.timeout)
                r["feasible"] = int(bool(np.isfinite(r["viol"]) and r["viol"] <= FEAS_TOL))
                r["cause"] = failure_cause(s, r)
                r["message"] = str(r["message"]).replace("\n", " ")[:120]
                row.update({f"{s}_{k}": r[k] for k in FIELDS})
            elif name in peers and f"{s}_status" in peers[name]:
                row.update({f"{s}_{k}": peers[name][f"{s}_{k}"] for k in FIELDS})
        have = [s for s in SOLVERS if f"{s}_status" in row]
        if "al-newton" in have and "slsqp" in have:
            mark_best(row, ("al-newton", "slsqp"), "best2")
        mark_best(row, have, "best3")
        rows.append(row)
        print(" | ".join([f"{name:<12}{item['n']:>4}{item['m']:>4}"] + [
            f"{s[:5]} {row[f'{s}_status']:>3} {float(row[f'{s}_f']):>13.6g} "
            f"{float(row[f'{s}_viol']):>8.1e} {float(row[f'{s}_time']):>6.2f} "
            f"{row[f'{s}_cause'][:18]:<18}" for s in have]), flush=True)
        if args.out:
            keys = list(rows[0].keys())
            for rr in rows:
                keys += [k for k in rr if k not in keys]
            with open(args.out, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=keys)
                w.writeheader()
                w.writerows(rows)
    if rows and all(f"{s}_status" in rows[0] for s in ("al-newton", "slsqp")):
        print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
