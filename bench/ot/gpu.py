"""GPU run of issue 14's target: 2-D clouds, n = 20 000, reg 2e-3, L1 marginal error 1e-9.

optkit SNS and Sinkhorn on a dense float64 cost on the device (Triton kernels), optkit SNS
with a lazy cost, and POT's ``sinkhorn_log`` on the torch backend (stopThr = tol/sqrt(m),
POT's L2 column test). Every err is re-measured by optkit's kernels on the device. Times are
wall times with ``torch.cuda.synchronize()``, after a warm-up solve at small n (Triton
compile). Prints one JSON line per run and the hardware.

    python bench/ot/gpu.py                       # the H200 target: n = 20000
    python bench/ot/gpu.py --device cpu --n 400  # a smoke run without a GPU
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


if __name__ == "__main__":
    main()
