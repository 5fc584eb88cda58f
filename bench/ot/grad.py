"""Gradient time of entropic OT on torch (CPU): optkit's ``grad=`` modes against POT's torch
backend (autodiff through ``sinkhorn_log`` and ``ot.solve(..., grad="envelope")``) and GeomLoss,
in one process, interleaved, median of ``--repeats`` runs after a warm-up; plus the envelope
backward against one forward sweep (spec ``ot.md`` §8.1, issue 14 target: <= 1.2x).

Example (single-threaded: on a shared, oversubscribed CPU torch's and numba's thread pools make
small passes 10-50x slower and the timings meaningless)::

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/ot/grad.py --n 500 --reg 0.1 --tol 1e-6
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/ot/grad.py --kkt

``--peers pot,geomloss`` (default) selects the peers; POT's autodiff keeps every iteration's
n x m temporaries (about 2 * 8 n^2 bytes per iteration), so keep n <= 1000 with it.

Problem: 2-D Gaussian clouds x, y (n points each, float64), cost ½|x - y|² (GeomLoss's p = 2),
uniform masses, ``reg`` = epsilon (GeomLoss ``blur = sqrt(reg)``). Each run computes the loss
and its gradient in ``x``. Losses: the optimal value OT_eps (optkit ``dual`` for the envelope;
POT ``ot.solve(...).value``; GeomLoss ``debias=False``) or the linear cost <C, P> (optkit
``cost`` for implicit/autodiff; POT ``sinkhorn2``). The column ``grad err`` is the relative
error of the gradient against the same loss's gradient at tol 1e-12 (optkit implicit), the
accuracy each timing buys. POT: ``stopThr = tol/sqrt(n)`` (its L2 column test against optkit's
L1 one); GeomLoss has no tolerance (``scaling`` 0.9 and 0.99: its eps-annealing stops at
``blur``, so its accuracy is set by the annealing ratio).
"""

import argparse
import statistics
import time

import numpy as np
import torch

from optkit.ot import cost_matrix, sinkhorn


def clouds(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 2, dtype=torch.float64, generator=g),
            torch.randn(n, 2, dtype=torch.float64, generator=g) * 0.8 + 0.5)


def optkit_grad(x, y, reg, tol, grad, method):
    xg = x.clone().requires_grad_()
    res = sinkhorn(None, None, x=xg, y=y, reg=reg, cost="half_sqeuclidean", tol=tol, grad=grad,
                   method=method, maxiter=100000)
    loss = res.dual if grad == "envelope" else res.cost
    (gx,) = torch.autograd.grad(loss, xg)
    return gx


def pot_autodiff(x, y, reg, tol):
    import ot

    xg = x.clone().requires_grad_()
    M = cost_matrix(xg, y, "half_sqeuclidean")
    loss = ot.sinkhorn2(torch.full((len(x),), 1.0 / len(x), dtype=torch.float64),
                        torch.full((len(y),), 1.0 / len(y), dtype=torch.float64), M, reg,
                        method="sinkhorn_log", stopThr=tol / np.sqrt(len(y)), numItermax=100000)
    (gx,) = torch.autograd.grad(loss, xg)
    return gx


def pot_envelope(x, y, reg, tol):
    import ot

    xg = x.clone().requires_grad_()
    M = cost_matrix(xg, y, "half_sqeuclidean")
    res = ot.solve(M, reg=reg, grad="envelope", tol=tol / np.sqrt(len(y)), max_iter=100000)
    (gx,) = torch.autograd.grad(res.value, xg)
    return gx


def geomloss_grad(x, y, reg, scaling):
    from geomloss import SamplesLoss

    xg = x.clone().requires_grad_()
    loss = SamplesLoss("sinkhorn", p=2, blur=float(np.sqrt(reg)), debias=False, scaling=scaling,
                       backend="tensorized")(xg, y)
    (gx,) = torch.autograd.grad(loss, xg)
    return gx


def envelope_backward_vs_sweep(x, y, reg, repeats):
    """Median times of the envelope backward (dual -> C, a leaf) and of one forward sweep
    (row + column LSE with the torch kernels) on the same C."""
    from optkit.ot._torch_kernels import TorchKernels
    from optkit.ot.log_sinkhorn import row_pass, sweep
    from optkit.ot.problem import make_problem

    C = cost_matrix(x, y, "half_sqeuclidean").requires_grad_()
    res = sinkhorn(None, None, C, reg, method="sinkhorn", tol=1e-6, maxiter=100000)
    n, m = C.shape
    problem = make_problem(TorchKernels(C.detach()), np.full(n, 1 / n), np.full(m, 1 / m), reg,
                           1e-6, np.zeros(n), np.zeros(m), device=C.device)
    f, g = res.f, res.g
    L = row_pass(problem, f, g)[0]
    back, fwd = [], []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        sweep(problem, f, g, L)
        fwd.append(time.perf_counter() - t)
        out = sinkhorn(None, None, C, reg, method="sinkhorn", tol=1e-6, init=(f, g))
        t = time.perf_counter()
        torch.autograd.grad(out.dual, C)
        back.append(time.perf_counter() - t)
    return statistics.median(back[1:]), statistics.median(fwd[1:])


def kkt_table(n_reg):
    """CG iterations and time of the implicit backward's adjoint solve (loss sum(P * W)) with
    the SNS sparsified-Hessian preconditioner against the Jacobi one, on ½|x-y|² scaled to max 1."""
    from optkit.ot.autograd import KKTAdjoint, gauge_fixed

    print(f"{'n':>6s} {'reg':>7s} {'precond':>8s} {'CG its':>7s} {'time [s]':>9s} {'rel res':>8s}")
    for n, reg in n_reg:
        x, y = clouds(n)
        C = cost_matrix(x, y, "half_sqeuclidean")
        C = C / C.max()
        res = sinkhorn(None, None, C, reg, tol=1e-12, maxiter=5000)
        f, g = gauge_fixed(res.f, res.g)
        W = torch.rand(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        P = KKTAdjoint(C, f, g, reg, 0).plan()
        uf, ug = (W * P).sum(1) / reg, (W * P).sum(0) / reg
        KKTAdjoint(C, f, g, reg, 0).solve(uf, ug)  # warm-up (numba JIT of the select pass)
        for kind in ("sns", "jacobi"):
            adjoint = KKTAdjoint(C, f, g, reg, 0, preconditioner=kind)
            t = time.perf_counter()
            adjoint.solve(uf, ug)
            elapsed = time.perf_counter() - t
            print(f"{n:6d} {reg:7.0e} {kind:>8s} {adjoint.n_cg:7d} {elapsed:9.3f} "
                  f"{adjoint.residual:8.1e}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--reg", type=float, default=0.1)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--peers", default="pot,geomloss")
    p.add_argument("--kkt", action="store_true",
                   help="only the adjoint-solve table (SNS vs Jacobi preconditioner)")
    args = p.parse_args()
    if args.kkt:
        kkt_table([(500, 0.1), (500, 0.01), (500, 0.002), (1000, 0.001), (2000, 0.001)])
        return
    x, y = clouds(args.n)
    reg, tol = args.reg, args.tol
    runs = {
        "optkit envelope (sns)": ("dual", lambda: optkit_grad(x, y, reg, tol, "envelope", "sns")),
        "optkit envelope (sinkhorn)": ("dual", lambda: optkit_grad(x, y, reg, tol, "envelope",
                                                                   "sinkhorn")),
        "optkit implicit (sns)": ("cost", lambda: optkit_grad(x, y, reg, tol, "implicit", "sns")),
        "optkit autodiff (sinkhorn)": ("cost", lambda: optkit_grad(x, y, reg, tol, "autodiff",
                                                                   "sinkhorn")),
    }
    if "pot" in args.peers:
        runs["POT sinkhorn2 autodiff (sinkhorn_log)"] = ("cost", lambda: pot_autodiff(x, y, reg,
                                                                                      tol))
        runs["POT solve grad=envelope"] = ("dual", lambda: pot_envelope(x, y, reg, tol))
    if "geomloss" in args.peers:
        for scaling in (0.9, 0.99):
            runs[f"GeomLoss SamplesLoss scaling={scaling}"] = (
                "dual", lambda s=scaling: geomloss_grad(x, y, reg, s))
    xg = x.clone().requires_grad_()
    exact = sinkhorn(None, None, x=xg, y=y, reg=reg, cost="half_sqeuclidean", tol=1e-12,
                     grad="implicit")
    ref = {kind: torch.autograd.grad(exact[kind], xg, retain_graph=True)[0]
           for kind in ("dual", "cost")}
    times = {k: [] for k in runs}
    grads = {}
    for rep in range(args.repeats + 1):  # the first round is a warm-up (JIT, caches)
        for name, (_, fn) in runs.items():
            t = time.perf_counter()
            grads[name] = fn()
            if rep:
                times[name].append(time.perf_counter() - t)
    base = statistics.median(times["optkit envelope (sns)"])
    print(f"n = {args.n}, reg = {reg}, tol = {tol}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, median of {args.repeats}")
    print(f"{'method':40s} {'time [s]':>10s} {'/ optkit env':>13s} {'grad err':>10s}")
    for name, (kind, _) in runs.items():
        med = statistics.median(times[name])
        err = float((grads[name] - ref[kind]).norm() / ref[kind].norm())
        print(f"{name:40s} {med:10.4f} {med / base:13.2f} {err:10.2e}")
    back, fwd = envelope_backward_vs_sweep(x, y, reg, max(25, args.repeats))
    print(f"envelope backward {back * 1e3:.2f} ms, one forward sweep {fwd * 1e3:.2f} ms: "
          f"ratio {back / fwd:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
