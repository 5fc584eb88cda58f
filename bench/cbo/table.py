"""Print the success table of a ``cbo`` suite run: ``python bench/cbo/table.py [PARQUET]``.

Without an argument, the newest parquet in ``bench/cbo/outputs``. One row per dataset and
solver: success rate (||x - x*||_inf < 0.25), runs, mean evaluations per run, median f - f*.
"""

import sys
from pathlib import Path

import pandas as pd


def success_table(path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    last = df.sort_values("stop_val").groupby(["dataset_name", "solver_name"]).last()
    out = pd.DataFrame({
        "success": last["objective_success_rate"],
        "runs": last["p_dataset_n_runs"],
        "evals/run": last["objective_evals_per_run"].round(0).astype(int),
        "median f-f*": last["objective_value"].map("{:.3g}".format),
        "time (s)": last["time"].round(1),
    })
    out.index = out.index.set_levels(
        [lvl.str.replace("functions", "", regex=False) for lvl in out.index.levels])
    return out


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else max(
        (Path(__file__).parent / "outputs").glob("*.parquet"), key=lambda p: p.stat().st_mtime)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(success_table(path).to_string())
