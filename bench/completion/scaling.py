"""Scaling of optkit.completion (spec §7.2), outside benchopt: plain timings, one process.

    OPENBLAS_NUM_THREADS=1 python bench/completion/scaling.py omega [--n 2000 5000 ...]
    OPENBLAS_NUM_THREADS=1 python bench/completion/scaling.py rank  [--k 5 10 20 50 100] [--nnz N]
    OPENBLAS_NUM_THREADS=1 python bench/completion/scaling.py peer  [--n 2000]
    OPENBLAS_NUM_THREADS=1 python bench/completion/scaling.py phase [--k 5 10] [--solvers exact]
    OPENBLAS_NUM_THREADS=1 python bench/completion/scaling.py kernel [--n 2000 10000]
    OPENBLAS_NUM_THREADS=1 python bench/completion/scaling.py ratio [--n 2000 20000]

``omega``: k = 10, rho = 5; time per iteration and time to relative error 1e-6 per solver
(the error is computed in the callback from k x k factors and its time is excluded); the
log-log slope of time-to-1e-6 against |Omega|. ``rank``: one half-step, fixed |Omega|, sketch
vs exact as k grows. ``peer``: fancyimpute SoftImpute on the same problem (dense, n <= ~3000).
``phase``: success fractions over oversampling rho (spec §7.1, fewer seeds). ``kernel``:
optkit's CG half-steps against implicit's ALS CG solver (timing only, different loss).
``ratio``: interleaved per-iteration times at two sizes (the x10-entries cost).
Results are printed as markdown tables.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from optkit.completion import altmin, half_step
from optkit.completion.datasets import low_rank_problem, relative_error


def _run(obs, k, solver, truth, target=1e-6, maxiter=60):
    """Algorithm time (callback excluded; setup and SVD start included) to the first error
    <= target, and the median time per iteration (gap between callbacks)."""
    state = {"cb": 0.0, "hit": None, "errors": [], "stamps": []}
    m = obs[3][0]
    t_start = time.perf_counter()

    def cb(intermediate_result):
        t0 = time.perf_counter()
        state["stamps"].append(t0 - t_start - state["cb"])
        x = intermediate_result.x  # the stacked factors [U; V]
        err = relative_error(x[:m], x[m:], *truth)
        state["errors"].append(err)
        state["cb"] += time.perf_counter() - t0
        if err <= target and state["hit"] is None:
            state["hit"] = (intermediate_result.nit, state["stamps"][-1])
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        altmin(obs, k, solver=solver, maxiter=maxiter, tol=0.0, rng=0, callback=cb)
    stamps = np.array(state["stamps"])
    per_iter = float(np.median(np.diff(stamps))) if stamps.size > 1 else float("nan")
    its, t_hit = state["hit"] if state["hit"] else (None, None)
    return dict(per_iter=per_iter, its_to_target=its,
                time_to_target=t_hit, final_error=state["errors"][-1])


def omega(ns, k=10, rho=5, solvers=("exact", "sketch", "cg")):
    print(f"k = {k}, rho = {rho}: time to relative error 1e-6 (s), per-iteration time (s)\n")
    print("| n | abs(Omega) | solver | iterations | time/iter (s) | time to 1e-6 (s) |")
    print("|---|---|---|---|---|---|")
    rows = []
    for n in ns:
        p = rho * k * (2 * n - k) / n**2
        obs, us, vs = low_rank_problem(n, n, k, p, rng=0)
        for solver in solvers:
            r = _run(obs, k, solver, (us, vs))
            rows.append((n, obs[0].size, solver, r))
            hit = f"{r['time_to_target']:.2f}" if r["time_to_target"] else \
                f"not reached ({r['final_error']:.1e})"
            print(f"| {n} | {obs[0].size} | {solver} | {r['its_to_target']} | "
                  f"{r['per_iter']:.3f} | {hit} |", flush=True)
    print("\nlog-log slope of time to 1e-6 vs abs(Omega), and x10 entries cost:")
    for solver in solvers:
        pts = [(nnz, r["time_to_target"], r["per_iter"]) for _, nnz, s, r in rows
               if s == solver and r["time_to_target"]]
        if len(pts) >= 2:
            x, y, z = (np.log(np.array(c, dtype=float)) for c in zip(*pts))
            slope, slope_it = np.polyfit(x, y, 1)[0], np.polyfit(x, z, 1)[0]
            print(f"- {solver}: slope {slope:.2f} (time to 1e-6), {slope_it:.2f} (per iteration); "
                  f"x10 entries -> x{10 ** slope:.1f} time")


def rank(ks, n=1000, nnz=600_000, repeats=3):
    p = nnz / n**2
    print(f"one V half-step, n = m = {n}, abs(Omega) ~ {nnz}, noisy targets, sketch size 4k\n")
    print("| k | exact (s) | sketch (s) | ratio sketch/exact | mean CGLS its | sketched columns |")
    print("|---|---|---|---|---|---|")
    for k in ks:
        (rows, cols, vals, shape), _, _ = low_rank_problem(n, n, k, p, rng=0)
        vals = vals + 0.1 * np.random.default_rng(1).standard_normal(vals.size)
        obs = (rows, cols, vals, shape)
        U = np.linalg.qr(np.random.default_rng(2).standard_normal((n, k)))[0]
        times = {"exact": [], "sketch": []}
        stats = {}
        for _ in range(repeats):
            for solver in ("exact", "sketch"):
                t0 = time.perf_counter()
                extra = {"rng": 0} if solver == "sketch" else {}
                _, stats[solver] = half_step(obs, U, solver=solver, **extra)
                times[solver].append(time.perf_counter() - t0)
        te, ts = np.median(times["exact"]), np.median(times["sketch"])
        st = stats["sketch"]
        print(f"| {k} | {te:.3f} | {ts:.3f} | {ts / te:.2f} | {st['sketch_iters_mean']:.1f} | "
              f"{st['sketch_groups']} of {n} |", flush=True)


def peer(ns, k=10, rho=5, iters=(10, 30, 100)):
    import fancyimpute.soft_impute
    import fancyimpute.solver
    from fancyimpute import SoftImpute
    from sklearn.utils import check_array

    def shim(X, force_all_finite=True, **kwargs):  # keyword renamed in scikit-learn 1.8
        return check_array(X, ensure_all_finite=force_all_finite, **kwargs)

    for module in (fancyimpute.solver, fancyimpute.soft_impute):
        module.check_array = shim
    print("| n | solver | iterations | time (s) | relative error |")
    print("|---|---|---|---|---|")
    for n in ns:
        p = rho * k * (2 * n - k) / n**2
        (rows, cols, vals, shape), us, vs = low_rank_problem(n, n, k, p, rng=0)
        M = us @ vs.T
        X = np.full(shape, np.nan)
        X[rows, cols] = vals
        for it in iters:
            t0 = time.perf_counter()
            filled = SoftImpute(max_iters=it, max_rank=k, convergence_threshold=1e-16,
                                init_fill_method="zero", verbose=False).fit_transform(X)
            t = time.perf_counter() - t0
            err = np.linalg.norm(filled - M) / np.linalg.norm(M)
            print(f"| {n} | fancyimpute SoftImpute(max_rank={k}) | {it} | {t:.2f} | {err:.2e} |",
                  flush=True)
        r = _run((rows, cols, vals, shape), k, "exact", (us, vs))
        print(f"| {n} | optkit altmin exact | {r['its_to_target']} | {r['time_to_target']:.2f} | "
              f"{r['final_error']:.2e} |", flush=True)


def phase(ks, rhos=(1, 1.5, 2, 3, 4, 5, 6), seeds=3, n=1000, solvers=("exact",)):
    """Spec §7.1: fraction of seeds reaching relative error <= 1e-4 (and 1e-3) in 30 its."""
    print(f"n = {n}, 30 iterations, {seeds} seeds: successes at 1e-4 (1e-3) per cell\n")
    print("| k | solver | " + " | ".join(f"rho={r}" for r in rhos) + " |")
    print("|---|---|" + "---|" * len(rhos))
    for k in ks:
        for solver in solvers:
            cells = []
            for rho in rhos:
                p = rho * k * (2 * n - k) / n**2
                errs = []
                for seed in range(seeds):
                    obs, us, vs = low_rank_problem(n, n, k, p, rng=seed)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        res = altmin(obs, k, solver=solver, maxiter=30, rng=seed)
                    errs.append(relative_error(res.U, res.V, us, vs))
                errs = np.array(errs)
                cells.append(f"{(errs <= 1e-4).sum()}/{seeds} ({(errs <= 1e-3).sum()}/{seeds})")
            print(f"| {k} | {solver} | " + " | ".join(cells) + " |", flush=True)


def kernel(ns, k=10, rho=5, iters=10):
    """Per-iteration time of optkit's warm-started CG (3 steps) against implicit's ALS with
    ``use_cg=True, cg_steps=3`` on the same sparsity pattern, one thread each. implicit fits
    the implicit-feedback loss over all m*n entries (Hu-Koren-Volinsky), so this compares the
    CG kernels' cost only, never the error. optkit's per-iteration time also includes its
    observed-RMSE and relative-change metrics; implicit's runs without its training loss."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares

    print("| n | abs(Omega) | dtype | optkit cg (s/iter) | implicit ALS cg (s/iter) |")
    print("|---|---|---|---|---|")
    for n in ns:
        p = rho * k * (2 * n - k) / n**2
        (rows, cols, vals, shape), _, _ = low_rank_problem(n, n, k, p, rng=0)
        for dtype in (np.float32, np.float64):
            obs = (rows, cols, vals.astype(dtype), shape)
            res = altmin(obs, k, solver="cg", maxiter=iters, tol=0.0, rng=0)
            t_opt = np.median(np.diff(res.trace["time"]))
            mat = sp.csr_matrix((np.abs(vals).astype(dtype), (rows, cols)), shape=shape)
            model = AlternatingLeastSquares(factors=k, regularization=0.01, iterations=iters,
                                            use_cg=True, dtype=dtype, num_threads=1,
                                            calculate_training_loss=False, random_state=0)
            model.cg_steps = 3  # implicit's default, set as an attribute (not an argument)
            t0 = time.perf_counter()
            model.fit(mat, show_progress=False)
            t_imp = (time.perf_counter() - t0) / iters
            print(f"| {n} | {rows.size} | {np.dtype(dtype).name} | {t_opt:.3f} | {t_imp:.3f} |",
                  flush=True)


def ratio(ns=(2000, 20000), k=10, rho=5, rounds=3, iters=4, solvers=("exact", "cg")):
    """Interleaved per-iteration times at two sizes (median over rounds): the x10-entries cost
    without the drift of a loaded machine between separate runs."""
    problems = {}
    for n in ns:
        p = rho * k * (2 * n - k) / n**2
        problems[n] = low_rank_problem(n, n, k, p, rng=0)[0]
    times = {(n, s): [] for n in ns for s in solvers}
    for _ in range(rounds):
        for solver in solvers:
            for n in ns:
                res = altmin(problems[n], k, solver=solver, maxiter=iters, tol=0.0, rng=0)
                times[n, solver].append(float(np.median(np.diff(res.trace["time"]))))
    print("| solver | " + " | ".join(f"n={n} abs(Omega)={problems[n][0].size} (s/iter)"
                                     for n in ns) + " | ratio | entries ratio |")
    print("|---|" + "---|" * (len(ns) + 2))
    for solver in solvers:
        med = [np.median(times[n, solver]) for n in ns]
        print(f"| {solver} | " + " | ".join(f"{t:.3f}" for t in med) +
              f" | x{med[-1] / med[0]:.1f} | x{problems[ns[-1]][0].size / problems[ns[0]][0].size:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["omega", "rank", "peer", "phase", "kernel", "ratio"])
    ap.add_argument("--n", type=int, nargs="*")
    ap.add_argument("--k", type=int, nargs="*")
    ap.add_argument("--nnz", type=int, default=600_000, help="abs(Omega) of the rank sweep")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--solvers", nargs="*", default=["exact", "sketch", "cg"])
    args = ap.parse_args()
    if args.what == "omega":
        omega(args.n or [2000, 5000, 10000, 20000], solvers=args.solvers)
    elif args.what == "rank":
        rank(args.k or [5, 10, 20, 50, 100], n=(args.n or [1000])[0], nnz=args.nnz,
             repeats=args.repeats)
    elif args.what == "ratio":
        ratio(tuple(args.n or (2000, 20000)), solvers=tuple(args.solvers))
    elif args.what == "kernel":
        kernel(args.n or [2000, 10000])
    elif args.what == "phase":
        phase(args.k or [5, 10], solvers=args.solvers)
    else:
        peer(args.n or [2000])


if __name__ == "__main__":
    main()
