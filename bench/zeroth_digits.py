"""Small CPU reproduction of MeZO / QZO fine-tuning (spec zeroth.md §9) and memory accounting.

An MLP 64-256-256-10 (GELU) is Adam-pretrained on scikit-learn's digits (source), then
fine-tuned on a shifted copy (target: contrast x0.6, a 1-pixel shift, a fixed additive
pattern; 600 training images, the rest for test): Adam (first order, fp32), MeZO (fp32
weights) and QZO (int4, group 32, fp32 scales). Prints target test accuracy after the
checkpoints, forward passes, clip rate, |d| quantiles and the bytes each method holds
(measured with ``memory_report``), then the time of a ZO step relative to two forwards.

    python bench/zeroth_digits.py                      # N = 500, 2000; one seed (~3 min)
    python bench/zeroth_digits.py --steps 5000 --seeds 0 1 2
    python bench/zeroth_digits.py --peak-rss 50        # peak RSS of a step, 50M-param MLP
"""

from __future__ import annotations

import argparse
import copy
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from optkit.zeroth import QZO, MeZO, memory_report, quantize_model, scale_parameters

sys.path.insert(0, str(Path(__file__).resolve().parent / "zeroth"))
from benchmark_utils import BATCH, N_TRAIN, accuracy, load_data, pretrain  # noqa: E402

METHODS = {
    # name: (kind, options)
    "Adam FO fp32": ("adam", dict(lr=1e-3)),
    "MeZO fp32": ("mezo", dict(lr=3e-4, eps=1e-3)),
    "QZO eps=1e-3 C=100": ("qzo", dict(lr=1e-4, eps=1e-3, clip=100.0)),
    "QZO eps=1e-4 no clip": ("qzo", dict(lr=1e-5, eps=1e-4, clip=None)),
}


def finetune(base, data, kind, options, steps, checkpoints, seed=0):
    """Fine-tune a copy of ``base`` on the target; returns a dict of results."""
    xt, yt, xe, ye = data["target"]
    model = copy.deepcopy(base)
    if kind == "qzo":
        model, _ = quantize_model(model, bits=4, group_size=32)
        opt = QZO(scale_parameters(model), rng=seed, **options)
    elif kind == "mezo":
        opt = MeZO(model.parameters(), rng=seed, **options)
    else:
        opt = torch.optim.Adam(model.parameters(), **options)
    model.eval()
    start = accuracy(model, xe, ye)
    gen = torch.Generator().manual_seed(seed)
    accs, n_forward, extra = {}, 0, None
    for step in range(1, steps + 1):
        idx = torch.randint(len(yt), (BATCH,), generator=gen)
        xb, yb = xt[idx], yt[idx]

        def closure(xb=xb, yb=yb):
            return nn.functional.cross_entropy(model(xb), yb)

        if kind == "adam":
            opt.zero_grad()
            closure().backward()
            opt.step()
            n_forward += 1
        else:
            opt.step(closure)
            n_forward = opt.zo_stats["n_forward"]
        if extra is None:
            extra = memory_report(model, opt)
        if step in checkpoints:
            loss = float(nn.functional.cross_entropy(model(xe), ye).detach())
            accs[step] = accuracy(model, xe, ye) if math.isfinite(loss) else float("nan")
    out = {"start": start, "acc": accs, "n_forward": n_forward, "memory": extra}
    if kind != "adam":
        d = np.array(opt.zo_stats["recent_abs_d"])
        out["clip_rate"] = opt.zo_stats["n_clipped"] / max(steps, 1)
        out["d_quantiles"] = np.quantile(d, [0.5, 0.9]) if d.size else np.array([np.nan] * 2)
    return out


def step_time_ratio(base, data, reps=200):
    """Median CPU time of a ZO step divided by that of two forwards (interleaved)."""
    xt, yt, _, _ = data["target"]
    xb, yb = xt[:BATCH], yt[:BATCH]
    rows = {}
    for kind in ("mezo", "qzo"):
        model = copy.deepcopy(base)
        if kind == "qzo":
            model, _ = quantize_model(model, bits=4, group_size=32)
            opt = QZO(scale_parameters(model), lr=1e-5, eps=1e-4, clip=None, rng=0)
        else:
            opt = MeZO(model.parameters(), lr=1e-5, rng=0)

        def closure(model=model):
            return nn.functional.cross_entropy(model(xb), yb)

        t_step, t_fwd = [], []
        for _ in range(reps):
            t0 = time.process_time()
            opt.step(closure)
            t1 = time.process_time()
            with torch.no_grad():
                closure()
                closure()
            t2 = time.process_time()
            t_step.append(t1 - t0)
            t_fwd.append(t2 - t1)
        rows[kind] = (np.median(t_step), np.median(t_fwd))
    return rows


def peak_rss_mb(kind: str, millions: int) -> float:
    """Peak RSS (MB) of a process that builds a ~``millions``M-parameter MLP and runs 3 steps."""
    code = f"""
import resource, torch
from torch import nn
from optkit.zeroth import MeZO
torch.set_num_threads(1)
width = 4096
depth = max(1, round({millions} * 1e6 / (width * width)))
model = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])
x, y = torch.randn(16, width), torch.randn(16, width)
closure = lambda: nn.functional.mse_loss(model(x), y)
torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)  # torch.optim's lazy imports: ~70 MB
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if "{kind}" == "mezo":
    opt = MeZO(model.parameters(), lr=1e-6, rng=0)
    for _ in range(3):
        opt.step(closure)
elif "{kind}" == "adam":
    opt = torch.optim.Adam(model.parameters())
    for _ in range(3):
        opt.zero_grad(); closure().backward(); opt.step()
else:
    with torch.no_grad():
        for _ in range(3):
            closure()
n = sum(p.numel() for p in model.parameters())
print(n, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, base, peak = map(int, out.stdout.split())
    return n, base / 1024, peak / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--peak-rss", type=int, default=0, metavar="M",
                    help="only measure the peak RSS of inference / MeZO / Adam at M million params")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.peak_rss:
        print(f"peak RSS, MLP of ~{args.peak_rss}M fp32 parameters, 3 steps, batch 16")
        for kind in ("inference", "mezo", "adam"):
            n, base, peak = peak_rss_mb(kind, args.peak_rss)
            print(f"  {kind:9s} params={n / 1e6:.1f}M  after build {base:8.0f} MB   "
                  f"peak {peak:8.0f} MB   peak - weights {peak - 4 * n / 2 ** 20:8.0f} MB")
        return
    checkpoints = sorted({n for n in (500, 2000, 5000) if n < args.steps} | {args.steps})
    data = load_data()
    results = {name: [] for name in args.methods}
    zs = {"Zero-shot fp32": [], "Zero-shot-Q int4 g32": [], "source accuracy": []}
    for seed in args.seeds:
        base = pretrain(data, seed)
        zs["source accuracy"].append(accuracy(base, *data["source"][2:]))
        zs["Zero-shot fp32"].append(accuracy(base, *data["target"][2:]))
        q, _ = quantize_model(base, bits=4, group_size=32)
        zs["Zero-shot-Q int4 g32"].append(accuracy(q, *data["target"][2:]))
        for name in args.methods:
            kind, options = METHODS[name]
            t0 = time.perf_counter()
            res = finetune(base, data, kind, options, args.steps, set(checkpoints), seed)
            res["time"] = time.perf_counter() - t0
            results[name].append(res)

    def fmt(values):
        v = np.array(values, dtype=float)
        if len(v) == 1:
            return f"{v[0]:.3f}"
        half = 1.96 * v.std(ddof=1) / math.sqrt(len(v))
        return f"{v.mean():.3f}±{half:.3f}"

    print(f"digits, {len(args.seeds)} seed(s), batch {BATCH}, target test = {1797 - N_TRAIN} images")
    for k, v in zs.items():
        print(f"  {k:22s} {fmt(v)}")
    head = " | ".join(f"N={n}" for n in checkpoints)
    print(f"| method | options | {head} | forwards | clip rate | |d| p50/p90 | time s |")
    print("|---|---|" + "---|" * len(checkpoints) + "---|---|---|---|")
    for name, runs in results.items():
        kind, options = METHODS[name]
        accs = " | ".join(fmt([r["acc"][n] for r in runs]) for n in checkpoints)
        clip = fmt([r["clip_rate"] for r in runs]) if kind != "adam" else "-"
        dq = "/".join(f"{x:.3g}" for x in runs[0]["d_quantiles"]) if kind != "adam" else "-"
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        print(f"| {name} | {opts} | {accs} | {runs[0]['n_forward']} | {clip} | {dq} | "
              f"{np.mean([r['time'] for r in runs]):.1f} |")
    print("\nmemory held by the model and the optimizer after one step (bytes, measured):")
    print("| method | weights | codes+zp+scales | grads | optimizer state | transient z | "
          "transient dequant | beyond inference |")
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        m = runs[0]["memory"]
        quant = m["codes"] + m["zero_points"] + m["scales"]
        beyond = m["grads"] + m["optimizer_state"]
        print(f"| {name} | {m['weights']} | {quant} | {m['grads']} | {m['optimizer_state']} | "
              f"{m['transient_z']} | {m['transient_dequant']} | {beyond} |")
    base = pretrain(data, args.seeds[0])
    print("\nstep CPU time / two forwards (median of 200, interleaved, batch 64, 1 thread):")
    for kind, (ts, tf) in step_time_ratio(base, data).items():
        print(f"  {kind}: step {ts * 1e3:.3f} ms, two forwards {tf * 1e3:.3f} ms, ratio {ts / tf:.2f}")
    print(f"(peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
