"""The benchmark page's data: refresh it from ``optkit bench`` output, render it for Sphinx.

``python docs/bench_page.py [RESULTS.parquet]`` copies the curves of a quick run (by default
the newest ``optkit-bench-outputs/quick_*.parquet`` that ``optkit bench`` wrote in the
repository root) into the committed
``docs/bench/quick_results.csv``: only the columns the summary table and the convergence
plots read, so the file stays small and reviewable. The documentation build then calls
:func:`render`, which turns that file into the summary table (``optkit.bench``'s own
:func:`~optkit._bench.report.summary_rows`) and the PNG and HTML convergence plots
(:func:`~optkit._bench.report.plot_results`), without running any benchmark.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
RESULTS = DOCS / "bench" / "quick_results.csv"
KEEP_COLUMNS = ("suite", "dataset_name", "solver_name", "idx_rep", "stop_val", "time",
                "objective_value", "objective_suboptimality", "objective_constr_violation",
                "objective_n_value", "objective_n_grad", "objective_n_hvp", "objective_n_samples",
                "objective_n_forward", "run_date", "system-cpus", "system-processor",
                "env-OMP_NUM_THREADS", "version-numpy", "version-scipy")


def refresh(parquet: Path | None = None) -> Path:
    """Write :data:`RESULTS` from a quick-run parquet file (the newest one by default)."""
    import pandas as pd

    if parquet is None:
        found = sorted((DOCS.parent / "optkit-bench-outputs").glob("quick_*.parquet"),
                       key=lambda p: p.stat().st_mtime)
        if not found:
            raise SystemExit("no optkit-bench-outputs/quick_*.parquet: run `optkit bench` first")
        parquet = found[-1]
    df = pd.read_parquet(parquet)
    df[[c for c in KEEP_COLUMNS if c in df]].to_csv(RESULTS, index=False, float_format="%.6g")
    return RESULTS


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3g}"
    return str(value).replace("|", "/")


def _table_rst(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = [".. list-table::", "   :header-rows: 1", "   :class: bench-table", ""]
    for row in [dict(zip(columns, columns))] + rows:
        lines.append(f"   * - {_cell(row[columns[0]])}")
        lines += [f"     - {_cell(row[c])}" for c in columns[1:]]
    return "\n".join(lines) + "\n"


def render(out_dir: Path) -> None:
    """Write ``quick_table.rst``, ``quick_meta.rst``, ``quick.png`` and
    ``static/bench/quick.html`` (with ``plotly.min.js`` beside it) under ``out_dir``."""
    import pandas as pd

    from optkit._bench import api, report

    df = pd.read_csv(RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    quick = api.quick_config()["suites"]
    rows = []
    for suite, part in df.groupby("suite", sort=False):
        suite_rows = report.summary_rows(part, suite)
        if "ratio" in quick.get(suite, {}):
            ratios = report.peer_ratios(part, quick[suite]["ratio"])
            for r in suite_rows:
                r["ratio"] = ratios.get((r["dataset"], r["solver"]), float("nan"))
        rows += suite_rows
    (out_dir / "quick_table.rst").write_text(_table_rst(rows))
    first = df.iloc[0]
    threads = first["env-OMP_NUM_THREADS"]
    (out_dir / "quick_meta.rst").write_text(
        f"Measured on {first['run_date'][:10]} with {first['system-cpus']} CPUs "
        f"({first['system-processor']}), ``OMP_NUM_THREADS`` "
        f"{'unset' if pd.isna(threads) else int(threads)}, numpy {first['version-numpy']}, "
        f"scipy {first['version-scipy']}.\n")
    html_dir = out_dir / "static" / "bench"
    if html_dir.exists():
        shutil.rmtree(html_dir)
    html_dir.mkdir(parents=True)
    report.plot_results(df, out_dir / "quick", png=True, html=False)
    report.plot_results(df, html_dir / "quick", png=False, html=True)


if __name__ == "__main__":
    print(refresh(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
