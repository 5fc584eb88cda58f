"""Grokking on CPU: addition mod 113 with ⊥AdamW, StableMax and AdamW (spec optim §7).

L. Prieto, M. Barsbey, P. A. M. Mediano, T. Birdal, "Grokking at the Edge of Numerical
Stability", ICLR 2025: without regularisation, AdamW drives the logits up until Softmax
Collapse and never generalises; ⊥AdamW (gradient orthogonal to the weights) and
StableMax avoid the collapse.

Data: all 113² pairs, label (a + b) mod 113, input one-hot(a) ‖ one-hot(b); a fixed
permutation (seed 42) puts 40 % in the training set. Model: bias-free MLP 226-200-200-113,
ReLU, ``torch.manual_seed(0)`` init. Full batch, fp32.

Usage::

    python bench/grokking.py                      # the four runs of spec §7, 300 epochs
    python bench/grokking.py --runs perp-adamw adamw --epochs 200
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from optkit.optim import PerpGrad, softmax_collapse_fraction, stablemax_cross_entropy

P = 113
TRAIN_FRACTION = 0.4

#: run name -> description
RUNS = {
    "perp-adamw": "⊥AdamW lr 0.01, λ 0, Eq. 12 (no rescale), cross-entropy",
    "perp-adamw-rescale": "⊥AdamW lr 0.01, λ 0, reference rescale, cross-entropy",
    "adamw": "AdamW lr 0.01, λ 0, cross-entropy (collapses, no grokking)",
    "adamw-wd": "AdamW lr 0.05, λ 4, cross-entropy (weight decay baseline)",
    "adamw-stablemax": "AdamW lr 0.01, λ 0, StableMax cross-entropy (groks only after many "
                       "more epochs: not in the default runs)",
}
DEFAULT_RUNS = ["perp-adamw", "perp-adamw-rescale", "adamw", "adamw-wd"]


def make_data():
    a, b = torch.meshgrid(torch.arange(P), torch.arange(P), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    x = torch.cat([F.one_hot(a, P), F.one_hot(b, P)], dim=1).float()
    y = (a + b) % P
    perm = torch.randperm(P * P, generator=torch.Generator().manual_seed(42))
    n_train = int(TRAIN_FRACTION * P * P)
    train, test = perm[:n_train], perm[n_train:]
    return (x[train], y[train]), (x[test], y[test])


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(2 * P, 200, bias=False), torch.nn.ReLU(),
        torch.nn.Linear(200, 200, bias=False), torch.nn.ReLU(),
        torch.nn.Linear(200, P, bias=False),
    )


def make_optimizer(name, params):
    adamw = dict(betas=(0.9, 0.999), eps=1e-8)
    if name == "perp-adamw":
        return PerpGrad(torch.optim.AdamW, params, lr=0.01, weight_decay=0.0, **adamw)
    if name == "perp-adamw-rescale":
        return PerpGrad(torch.optim.AdamW, params, rescale=True, lr=0.01, weight_decay=0.0,
                        **adamw)
    if name in ("adamw", "adamw-stablemax"):
        return torch.optim.AdamW(params, lr=0.01, weight_decay=0.0, **adamw)
    if name == "adamw-wd":
        return torch.optim.AdamW(params, lr=0.05, weight_decay=4.0, **adamw)
    raise ValueError(f"unknown run {name!r}; known: {sorted(RUNS)}")


def train(name, epochs=300, data=None, log_every=0):
    """Train one run; returns per-epoch history and summary numbers."""
    (xtr, ytr), (xte, yte) = data if data is not None else make_data()
    model = make_model()
    opt = make_optimizer(name, model.parameters())
    stable = name == "adamw-stablemax"
    loss_fn = stablemax_cross_entropy if stable else F.cross_entropy
    kind = "stablemax" if stable else "softmax"
    hist = {"train_acc": [], "test_acc": [], "train_loss": [], "collapse": []}
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        opt.zero_grad()
        logits = model(xtr)
        loss = loss_fn(logits, ytr)
        loss.backward()
        opt.step()
        with torch.no_grad():
            logits = model(xtr)
            test_logits = model(xte)
            hist["train_loss"].append(float(loss_fn(logits, ytr)))
            hist["train_acc"].append(float((logits.argmax(1) == ytr).float().mean()))
            hist["test_acc"].append(float((test_logits.argmax(1) == yte).float().mean()))
            hist["collapse"].append(float(softmax_collapse_fraction(logits, ytr, kind=kind)))
        if log_every and epoch % log_every == 0:
            print(f"  {name:20s} epoch {epoch:4d}  train {hist['train_acc'][-1]:.4f}  "
                  f"test {hist['test_acc'][-1]:.4f}  collapse {hist['collapse'][-1]:.3f}",
                  flush=True)
    seconds = time.perf_counter() - t0
    first_full = next((i + 1 for i, a in enumerate(hist["test_acc"]) if a == 1.0), None)
    return {
        "run": name, "epochs": epochs, "seconds": seconds,
        "final_train_acc": hist["train_acc"][-1], "final_test_acc": hist["test_acc"][-1],
        "best_test_acc": max(hist["test_acc"]), "first_100pct_epoch": first_full,
        "first_95pct_epoch": next((i + 1 for i, a in enumerate(hist["test_acc"]) if a >= 0.95),
                                  None),
        "final_collapse": hist["collapse"][-1], "history": hist,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, choices=list(RUNS))
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--json", help="write the summaries (and histories) to this file")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = make_data()
    results = []
    for name in args.runs:
        print(f"{name}: {RUNS[name]}", flush=True)
        results.append(train(name, args.epochs, data, args.log_every))
    print(f"\n{'run':20s} {'test@end':>9s} {'best':>7s} {'1st≥95%':>8s} {'1st100%':>8s} "
          f"{'collapse':>8s} {'s/epoch':>8s}")
    for r in results:
        print(f"{r['run']:20s} {r['final_test_acc']:9.4f} {r['best_test_acc']:7.4f} "
              f"{str(r['first_95pct_epoch']):>8s} {str(r['first_100pct_epoch']):>8s} "
              f"{r['final_collapse']:8.3f} {r['seconds'] / r['epochs']:8.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    return results


if __name__ == "__main__":
    main()
