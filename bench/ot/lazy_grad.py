"""Gradients on lazy costs vs the dense path (issue 14): ``sinkhorn(x=, y=, lazy=True,
grad=mode)`` against ``lazy=False`` (the cost formed, autograd through it), same clouds, same
solver, in one run.

Each configuration runs twice, each time in a fresh subprocess: once for the times (default
allocator) and once for the peak resident memory, with glibc's mmap threshold fixed at 64 KiB
(``MALLOC_MMAP_THRESHOLD_``) so that freed blocks leave the resident set (with the default
dynamic threshold, freed blocks stay in the heap and the resident set grows with the passes,
not with the live data; the fixed threshold makes every block allocation an mmap, which
slows the lazy passes 2-5x, hence the separate timing run):
2-D uniform clouds, n = m, squared Euclidean cost, ``method="sinkhorn"``, torch float64 on
CPU; loss = ``dual`` (envelope) or ``cost`` = <C, P> (implicit, autodiff), gradient w.r.t. x
and y. Printed: forward (solve) and backward wall times, the peak resident memory above the
state after the warm-up, the CG iterations of the implicit adjoint, and the lazy/dense ratios.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/ot/lazy_grad.py --n 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np, torch
from optkit.ot import sinkhorn

def rss():
    with open("/proc/self/status") as fh:
        return {l.split(":")[0]: int(l.split()[1]) / 1024 for l in fh if l.startswith("Vm")}

n, reg, tol, mode, lazy = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
rng = np.random.default_rng(0)
x0, y0 = torch.from_numpy(rng.random((n, 2))), torch.from_numpy(rng.random((n, 2)))

def run(x0, y0):
    x, y = x0.clone().requires_grad_(), y0.clone().requires_grad_()
    t = time.perf_counter()
    res = sinkhorn(None, None, x=x, y=y, reg=reg, tol=tol, method="sinkhorn", grad=mode, lazy=lazy)
    t1 = time.perf_counter()
    (res.dual if mode == "envelope" else res.cost).backward()
    t2 = time.perf_counter()
    return res, t1 - t, t2 - t1, x.grad

run(x0[:50], y0[:50])  # compile and warm up
before = rss()["VmRSS"]
res, fwd, bwd, gx = run(x0, y0)
print(json.dumps({"fwd": fwd, "bwd": bwd, "peak_mib": rss()["VmHWM"] - before, "nit": int(res.nit),
                  "grad_x_norm": float(gx.norm())}))
"""


def child(n, reg, tol, mode, lazy, env):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(reg), str(tol), mode,
                          "1" if lazy else "0"], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(n, reg, tol, mode, lazy):
    """Times from a run with the default allocator, peak memory from a run with a fixed mmap
    threshold."""
    timed = child(n, reg, tol, mode, lazy, dict(os.environ))
    memory = child(n, reg, tol, mode, lazy, {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"})
    return {**timed, "peak_mib": memory["peak_mib"]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--reg", type=float, default=0.1)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--modes", default="envelope,implicit,autodiff")
    args = p.parse_args()
    print(f"n = m = {args.n}, reg {args.reg}, tol {args.tol}; dense float64 C: "
          f"{8 * args.n ** 2 / 2 ** 20:.0f} MiB")
    print(f"{'mode':>9s} {'path':>5s} {'nit':>4s} {'fwd [s]':>8s} {'bwd [s]':>8s} "
          f"{'peak [MiB]':>10s} {'|grad x|':>10s}")
    for mode in args.modes.split(","):
        rows = {}
        for lazy in (True, False):
            r = measure(args.n, args.reg, args.tol, mode, lazy)
            rows[lazy] = r
            print(f"{mode:>9s} {'lazy' if lazy else 'dense':>5s} {r['nit']:4d} {r['fwd']:8.2f} "
                  f"{r['bwd']:8.2f} {r['peak_mib']:10.1f} {r['grad_x_norm']:10.6f}")
        lz, dn = rows[True], rows[False]
        print(f"{mode:>9s} lazy/dense: fwd {lz['fwd'] / dn['fwd']:.2f}, bwd "
              f"{lz['bwd'] / dn['bwd']:.2f}, peak memory {lz['peak_mib'] / dn['peak_mib']:.3f}")


if __name__ == "__main__":
    main()
