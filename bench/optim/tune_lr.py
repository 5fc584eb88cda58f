"""Tune the learning rate of Lion and AdamW for the quick suite's optim row.

Each optimizer runs, through ``optkit bench``'s own runner, on the quick protocol (digits,
MLP 64-32-32-10, batch 64, ``max_runs`` benchopt points, hence the same number of steps as
``optkit bench``) over a log grid of learning rates; the learning rate with the lowest final
full-batch training loss (the quick table's "final value") is the tuned one. Weight decay
stays at each optimizer's usual setting (AdamW 0.01; Lion 0.1, i.e. lr * wd comparable, as
Chen et al. 2023 advise a 3-10x smaller lr and 3-10x larger wd for Lion than for AdamW).

Run from anywhere:  python bench/optim/tune_lr.py [--max-runs 12] [--output DIR]
"""

from __future__ import annotations

import argparse

GRID = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
SOLVERS = {"optkit-lion": "kappa=sign,weight_decay=0.1", "torch-adamw": "weight_decay=0.01"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-runs", type=int, default=12)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    from optkit._bench import api, report

    grid = ",".join(f"{lr:g}" for lr in GRID)
    selectors = [f"{name}[{fixed},lr=[{grid}]]" for name, fixed in SOLVERS.items()]
    out = api.run_suite("optim", solvers=selectors, datasets=["digits[hidden=32]"],
                        max_runs=args.max_runs, timeout=60, show_progress=False, quiet=True,
                        output_dir=args.output)
    finals = report.final_points(api.read_results(out))
    print(f"grid: lr in {GRID}; steps: {int(finals['objective_n_grad'].max())}; results: {out}")
    for name in SOLVERS:
        rows = finals[finals["solver_name"].str.startswith(name + "[")]
        rows = rows.assign(lr=rows["p_solver_lr"].astype(float)).sort_values("lr")
        for _, r in rows.iterrows():
            print(f"  {name:12s} lr={r.lr:<8g} final training loss {r.objective_value:.4f}  "
                  f"test accuracy {r.objective_test_accuracy:.3f}")
        best = rows.loc[rows["objective_value"].idxmin()]
        print(f"  -> {name}: tuned lr = {best.lr:g} (loss {best.objective_value:.4f})")


if __name__ == "__main__":
    main()
