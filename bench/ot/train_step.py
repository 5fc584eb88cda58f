"""A Sinkhorn-divergence training step on mini-batches (issue 14): forward + backward of
S_ε(x, y) = OT_ε(x, y) − ½OT_ε(x, x) − ½OT_ε(y, y) w.r.t. the points x, on CPU.

- optkit: ``optkit.ot.sinkhorn_divergence`` when this checkout has it; otherwise two
  ``sinkhorn`` solves, x–y and x–x (the y–y term has no gradient in x), with the numba
  kernels on the detached points, and the envelope gradient by autograd through
  ⟨P*, C(x, ·)⟩ with the plans detached (exact at convergence, spec §8.1); the JSON line
  says which (``optkit_mode``).
- GeomLoss: ``SamplesLoss("sinkhorn", p=2, blur=sqrt(reg/2), debias=True)``: its cost is
  ½‖x−y‖² with ε = blur², the same problem scaled by ½; tensorized backend, ε-scaling
  ``--scaling``; it stops after its schedule (no tolerance).
- POT: ``ot.sinkhorn2(..., method="sinkhorn_log")`` three times on torch tensors, autograd
  through its iterations, ``stopThr``.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/ot/train_step.py --n 256 1024 4096
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

import optkit.ot as okot
from optkit.ot import cost_matrix, sinkhorn


def _plan(x, y, reg, tol):
    C = cost_matrix(x.detach().numpy(), y.detach().numpy(), "sqeuclidean")
    return torch.from_numpy(np.asarray(sinkhorn(None, None, C, reg, tol=tol).plan))


def optkit_step(x, y, reg, tol):
    if hasattr(okot, "sinkhorn_divergence"):
        loss = okot.sinkhorn_divergence(x, y, reg=reg, tol=tol)
        loss = loss if torch.is_tensor(loss) else loss.loss
        loss.backward()
        return float(loss.detach()), "sinkhorn_divergence"
    Pxy = _plan(x, y, reg, tol)
    Pxx = _plan(x, x, reg, tol)
    surrogate = (Pxy * cost_matrix(x, y.detach())).sum() \
        - 0.5 * (Pxx * cost_matrix(x, x)).sum()
    surrogate.backward()
    return float(surrogate.detach()), "two sinkhorn solves + envelope surrogate (value is not S_eps)"


def geomloss_step(x, y, reg, scaling):
    from geomloss import SamplesLoss

    loss = SamplesLoss("sinkhorn", p=2, blur=float(np.sqrt(reg / 2)), scaling=scaling,
                       debias=True, backend="tensorized")(x, y)
    loss.backward()
    return float(loss.detach()), "geomloss tensorized"


def pot_step(x, y, reg, tol):
    import ot

    n = x.shape[0]
    a = torch.full((n,), 1.0 / n, dtype=torch.float64)

    def w(u, v):
        return ot.sinkhorn2(a, a, cost_matrix(u, v), reg, method="sinkhorn_log",
                            stopThr=tol, numItermax=100000)

    loss = w(x, y) - 0.5 * w(x, x) - 0.5 * w(y, y).detach()
    loss.backward()
    return float(loss.detach()), "pot sinkhorn2 autodiff"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[256, 1024, 4096])
    p.add_argument("--reg", type=float, default=0.01)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--scaling", type=float, default=0.9)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--peers", nargs="*", default=["geomloss", "pot"])
    args = p.parse_args()
    steps = {"optkit": lambda x, y: optkit_step(x, y, args.reg, args.tol),
             "geomloss": lambda x, y: geomloss_step(x, y, args.reg, args.scaling),
             "pot": lambda x, y: pot_step(x, y, args.reg, args.tol)}
    steps = {k: v for k, v in steps.items() if k == "optkit" or k in args.peers}
    for n in args.n:
        gen = torch.Generator().manual_seed(n)
        x0 = torch.rand(n, 2, generator=gen, dtype=torch.float64)
        y = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 0.8 + 0.1
        row = {"n": n, "reg": args.reg}
        for name, step in steps.items():
            times = []
            for rep in range(args.repeats + 1):   # first repeat: warm-up (JIT, compile)
                x = x0.clone().requires_grad_(True)
                t = time.perf_counter()
                value, mode = step(x, y)
                if rep:
                    times.append(time.perf_counter() - t)
            row[f"{name}_time"] = statistics.median(times)
            row[f"{name}_value"] = value
            row[f"{name}_mode"] = mode
        for name in steps:
            if name != "optkit":
                row[f"ratio_{name}_over_optkit"] = row[f"{name}_time"] / row["optkit_time"]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
