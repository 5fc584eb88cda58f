"""GPU run of issue 14's target: 2-D clouds, n = 20 000, reg 2e-3, L1 marginal error 1e-9.

optkit SNS and Sinkhorn on a dense float64 cost on the device (Triton kernels), optkit SNS
with a lazy cost, and POT's ``sinkhorn_log`` on the torch backend (stopThr = tol/sqrt(m),
POT's L2 column test). Every err is re-measured by optkit's kernels on the device. Times are
wall times with ``torch.cuda.synchronize()``, after a warm-up solve at small n (Triton
compile). Prints one JSON line per run and the hardware.

The batch case (``--batch B``, after the runs above): B problems of ``--batch-n`` points,
optkit's vectorised batch (``method="sinkhorn"``, one tensor program) vs optkit's
per-problem loop and POT's ``sinkhorn_log`` loop, at ``--batch-tol``.

    python bench/ot/gpu.py                       # the H200 target: n = 20000
    python bench/ot/gpu.py --device cpu --n 400  # a smoke run without a GPU
    python bench/ot/gpu.py --skip sns sinkhorn lazy pot --batch 64   # the batch case only
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from optkit.ot import cost_matrix, sinkhorn
from optkit.ot._torch_kernels import TorchKernels


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measured_err(C, a, b, f, g, reg):
    r, c, _, _ = TorchKernels(C).stats(f.double(), g.double(), 1.0 / reg)
    return float((r - a).abs().sum() + (c - b).abs().sum()) / float(a.sum())


def instance(n, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=gen, dtype=torch.float64).to(device)
    y = torch.rand(n, 2, generator=gen, dtype=torch.float64).to(device)
    C = cost_matrix(x, y, "sqeuclidean")
    scale = C.max()
    a = torch.full((n,), 1.0 / n, dtype=torch.float64, device=device)
    return a, a.clone(), C / scale, x / scale.sqrt(), y / scale.sqrt()


def timed(fn, device):
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t, out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--reg", type=float, default=2e-3)
    p.add_argument("--tol", type=float, default=1e-9)
    p.add_argument("--device", default="cuda")
    p.add_argument("--skip", nargs="*", default=[], help="runs to skip: sns sinkhorn lazy pot")
    p.add_argument("--batch", type=int, default=0, help="problems of the batch case (0: none)")
    p.add_argument("--batch-n", type=int, default=128)
    p.add_argument("--batch-reg", type=float, default=0.05)
    p.add_argument("--batch-tol", type=float, default=1e-6)
    args = p.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    info = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda)
    print(json.dumps(info), flush=True)
    wa, wb, wC, _, _ = instance(200, device, seed=1)
    sinkhorn(wa, wb, wC, 0.05, tol=1e-6)                      # compile and warm up
    a, b, C, x, y = instance(args.n, device)
    runs = {
        "sns": lambda: sinkhorn(a, b, C, args.reg, method="sns", tol=args.tol, maxiter=5000),
        "sinkhorn": lambda: sinkhorn(a, b, C, args.reg, method="sinkhorn", tol=args.tol,
                                     maxiter=20000, check_every=10),
        "lazy": lambda: sinkhorn(a, b, x=x, y=y, reg=args.reg, method="sns", tol=args.tol,
                                 maxiter=5000, lazy=True),
    }
    for name, fn in runs.items():
        if name in args.skip:
            continue
        elapsed, res = timed(fn, device)
        print(json.dumps({"run": f"optkit {name}", "n": args.n, "time": elapsed,
                          "err": measured_err(C, a, b, res.f, res.g, args.reg),
                          "nit": int(res.nit), "n_newton": int(res.n_newton),
                          "success": bool(res.success)}), flush=True)
    if "pot" not in args.skip:
        import ot

        elapsed, (_, log) = timed(lambda: ot.sinkhorn(
            a, b, C, args.reg, method="sinkhorn_log", stopThr=args.tol / math.sqrt(args.n),
            numItermax=100000, log=True), device)
        f, g = args.reg * log["log_u"], args.reg * log["log_v"]
        print(json.dumps({"run": "pot sinkhorn_log", "n": args.n, "time": elapsed,
                          "err": measured_err(C, a, b, f, g, args.reg),
                          "nit": int(log["niter"])}), flush=True)
    if args.batch:
        batch_case(args, device)


def batch_case(args, device):
    """The vectorised batch vs the per-problem loops (optkit, POT), one JSON line each."""
    import ot

    gen = torch.Generator().manual_seed(2)
    B, n, reg, tol = args.batch, args.batch_n, args.batch_reg, args.batch_tol
    x = torch.rand(B, n, 2, generator=gen, dtype=torch.float64).to(device)
    y = torch.rand(B, n, 2, generator=gen, dtype=torch.float64).to(device)
    C = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    a = torch.full((B, n), 1.0 / n, dtype=torch.float64, device=device)
    kw = {"method": "sinkhorn", "tol": tol, "maxiter": 100000, "warn": False}
    sinkhorn(a[:2], a[:2], C[:2], reg, **kw)                    # warm up
    runs = {
        "optkit batch": lambda: sinkhorn(a, a, C, reg, **kw).plan,
        "optkit loop": lambda: torch.stack([sinkhorn(a[k], a[k], C[k], reg, **kw).plan
                                            for k in range(B)]),
        "pot sinkhorn_log loop": lambda: torch.stack([ot.sinkhorn(
            a[k], a[k], C[k], reg, method="sinkhorn_log", stopThr=tol / math.sqrt(n),
            numItermax=100000) for k in range(B)]),
    }
    for name, fn in runs.items():
        elapsed, P = timed(fn, device)
        err = ((P.sum(-1) - a).abs().sum(-1) + (P.sum(-2) - a).abs().sum(-1)).max()
        print(json.dumps({"run": name, "B": B, "n": n, "time": elapsed, "err": float(err)}),
              flush=True)


if __name__ == "__main__":
    main()
