"""The ``optkit`` command line: ``optkit bench`` runs the benchmark suites (benchopt)."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime
from pathlib import Path

import click

PEERS_HINT = "pip install 'optkit[peers]'"


def _console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _check_suite(ctx, param, suite):
    """A one-line usage error (not a traceback) for an unknown suite name."""
    if suite is None or suite == "quick":
        return suite
    from optkit._bench import api

    try:
        api.suite_path(suite)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return suite


def _base_name(selector: str) -> str:
    return re.split(r"\[", selector, maxsplit=1)[0]


@click.group()
@click.version_option(package_name="optkit")
def main():
    """optkit: modern optimization algorithms and their benchmarks."""


OUTPUT_HELP = ("Folder for results and plots [default: ./optkit-bench-outputs]; "
               "never the suite folder, which may be read-only inside an installed wheel.")


@main.group(invoke_without_command=True)
@click.option("--no-plot", is_flag=True, help="Do not write the HTML/PNG convergence plots.")
@click.option("--output", type=click.Path(file_okay=False), default=None, help=OUTPUT_HELP)
@click.pass_context
def bench(ctx, no_plot, output):
    """Benchmark suites against the peers. Alone: the built-in quick suite.

    \b
    The suites are read from, in this order:
      1. $OPTKIT_BENCH_DIR, when set (a folder like the repository's bench/);
      2. the bench/ folder of a source checkout (pip install -e .);
      3. the suites shipped inside the wheel (package optkit.benchmarks).
    Results go to ./optkit-bench-outputs/ (or --output), from any folder.
    """
    ctx.ensure_object(dict)
    ctx.obj["output"] = output
    if ctx.invoked_subcommand is None:
        sys.exit(run_quick(plot=not no_plot, output=output))


@bench.command("list")
@click.argument("suite", required=False, callback=_check_suite)
def list_cmd(suite):
    """List suites, or SUITE's datasets and solvers (installed or not)."""
    from rich.markup import escape
    from rich.table import Table

    from optkit._bench import api

    console = _console()
    if suite is None:
        console.print("Suites: " + ", ".join(api.list_suites()) + " (and 'quick', the default run)")
        return
    table = Table(title=f"suite {suite}")
    for col in ("kind", "name", "installed", "note"):
        table.add_column(col)
    for name in _load(suite, api.dataset_names):
        table.add_row("dataset", name, "yes", "")
    for st in _load(suite, api.solver_statuses):
        note = "" if st.installed else f"{st.reason.splitlines()[-1] if st.reason else ''} ({PEERS_HINT})"
        table.add_row("solver", st.name, "yes" if st.installed else "no", escape(note))
    console.print(table)


@bench.command("run")
@click.argument("suite", callback=_check_suite)
@click.option("-s", "--solver", "solvers", multiple=True, help="Solver selector (benchopt syntax).")
@click.option("-d", "--dataset", "datasets", multiple=True, help="Dataset selector.")
@click.option("-o", "--objective", "objectives", multiple=True, help="Objective filter.")
@click.option("-n", "--max-runs", default=10, show_default=True, type=int)
@click.option("-r", "--n-repetitions", default=1, show_default=True, type=int)
@click.option("--timeout", default=60.0, show_default=True, type=float, help="Seconds per solver run.")
@click.option("-j", "--n-jobs", default=None, type=int, help="Parallel workers.")
@click.option("--parallel", type=click.Choice(["loky", "dask"]), default=None,
              help="Parallel backend (dask: a dask.distributed cluster).")
@click.option("--dask-address", default=None, help="Scheduler address (default: a local cluster).")
@click.option("--rng", default=None, type=int, help="Global benchmark seed (benchopt's seed).")
@click.option("--cache", is_flag=True, help="Reuse the runs in benchopt's cache (every finished run is "
              "recorded there, also by an interrupted run; keyed on the suite, not on optkit's code).")
@click.option("--no-plot", is_flag=True)
@click.option("--output", type=click.Path(file_okay=False), default=None, help=OUTPUT_HELP)
@click.pass_context
def run_cmd(ctx, suite, solvers, datasets, objectives, max_runs, n_repetitions, timeout, n_jobs,
            parallel, dask_address, rng, cache, no_plot, output):
    """Run SUITE (or 'quick') and save a parquet plus convergence plots."""
    output = output or (ctx.obj or {}).get("output")
    if suite == "quick":
        sys.exit(run_quick(plot=not no_plot, output=output))
    from optkit._bench import api, report

    parallel_config = None
    if parallel == "dask":
        parallel_config = {"backend": "dask"}
        if dask_address:
            parallel_config["dask_address"] = dask_address
    elif parallel == "loky":
        parallel_config = {"backend": "loky"}
    skipped = _missing_peers(suite, solvers)
    try:
        run = api.run_suite_logged(
            suite, solvers=[s for s in solvers if _base_name(s) not in skipped] or None,
            datasets=datasets, objectives=objectives, max_runs=max_runs,
            n_repetitions=n_repetitions, timeout=timeout, n_jobs=n_jobs,
            parallel_config=parallel_config, rng=rng, cache=cache, output_dir=output)
    except (KeyboardInterrupt, SystemExit):  # benchopt exits 1 on a solver run it interrupted
        _console().print(f"interrupted: the finished runs of {suite!r} are kept in benchopt's "
                         f"cache; rerun with --cache to resume without redoing them")
        sys.exit(130)
    out = run.path
    df = api.read_results(out)
    df["suite"] = suite
    rows = report.summary_rows(df, suite, run.statuses(df["dataset_name"].unique()))
    console = _console()
    _print_table(console, rows, f"optkit bench run {suite}", ratio=False)
    _print_skipped(console, skipped)
    console.print(f"results: {out}")
    if not no_plot:
        for path in report.plot_results(df, out.with_suffix("")):
            console.print(f"plot: {path}")


@bench.command("plot")
@click.argument("suite", required=False, callback=_check_suite)
@click.option("-f", "--file", "file_", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--png/--no-png", default=True)
@click.option("--html/--no-html", default=True)
@click.option("--output", type=click.Path(file_okay=False), default=None, help=OUTPUT_HELP)
@click.pass_context
def plot_cmd(ctx, suite, file_, png, html, output):
    """Convergence plots (vs time and vs oracle calls) of the latest (or given) result file."""
    from optkit._bench import api, report

    if file_ is None:
        root = api.output_root(output or (ctx.obj or {}).get("output"))
        folder = root if suite in (None, "quick") else root / suite
        files = sorted(folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime)
        if not files:
            raise click.UsageError(f"no result file in {folder}; run `optkit bench` first")
        file_ = files[-1]
    path = Path(file_)
    df = api.read_results(path)
    if "suite" not in df:
        df["suite"] = suite or path.parent.name
    for out in report.plot_results(df, path.with_suffix(""), png=png, html=html):
        click.echo(f"plot: {out}")


class SuiteNeedsPeer(click.ClickException):
    """A suite whose shared code (objective, datasets, benchmark_utils) imports a peer library
    that is not installed (e.g. suite ot needs POT for its LP references)."""

    def __init__(self, suite: str, module: str):
        super().__init__(f"suite {suite!r} needs the module {module!r}, which is not installed "
                         f"(install it with {PEERS_HINT})")
        self.module = module


def _load(suite: str, fn, *args):
    """``fn(suite, *args)``, turning a missing third-party module into :class:`SuiteNeedsPeer`
    (optkit's own import errors propagate: they are bugs, not missing peers)."""
    try:
        return fn(suite, *args)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "optkit":
            raise
        raise SuiteNeedsPeer(suite, exc.name) from None


def _missing_peers(suite: str, selectors=()) -> dict[str, str]:
    """Selected solvers that are not installed: name -> reason. optkit's own raise."""
    from optkit._bench import api

    wanted = {_base_name(s) for s in selectors}
    missing = {}
    for st in _load(suite, api.solver_statuses):
        if st.installed or (wanted and st.name not in wanted):
            continue
        if st.is_optkit:
            raise click.ClickException(f"optkit solver {st.name!r} of suite {suite!r} failed to import:\n"
                                       f"{st.reason}")
        missing[st.name] = (st.reason.strip().splitlines() or ["not installed"])[-1]
    return missing


def run_quick(plot: bool = True, output=None) -> int:
    """The quick suite: every suite's small case, one summary table. Returns the exit code."""
    import pandas as pd
    from rich.markup import escape

    from optkit._bench import api, report

    console = _console()
    cfg = api.quick_config()
    out_root = api.output_root(output)
    stem = out_root / f"quick_{datetime.now():%Y-%m-%d_%Hh%Mm%Ss}"
    frames, rows, skipped, failed, captions = [], [], {}, [], []
    t0 = time.perf_counter()
    for suite, sel in cfg["suites"].items():
        solvers = list(sel.get("solver", []))
        try:
            missing = _missing_peers(suite, solvers)
        except SuiteNeedsPeer as exc:
            skipped[f"{suite} (whole suite)"] = f"needs {exc.module!r}"
            continue
        except click.ClickException as exc:
            failed.append(f"{suite}: {exc.message}")
            continue
        skipped.update({f"{suite}/{k}": v for k, v in missing.items()})
        keep = [s for s in solvers if _base_name(s) not in missing]
        with console.status(f"[bold]quick[/] suite {suite} ({len(keep)} solvers) "
                            f"[{time.perf_counter() - t0:.0f} s]"):
            try:
                run = api.run_suite_logged(
                    suite, solvers=keep, datasets=sel.get("dataset"),
                    max_runs=sel.get("max_runs", cfg["max_runs"]),
                    n_repetitions=sel.get("n_repetitions", cfg["n_repetitions"]),
                    timeout=sel.get("timeout", cfg["timeout"]), show_progress=False, quiet=True,
                    output_dir=stem)
            except RuntimeError as exc:
                failed.append(f"{suite}: {exc}")
                continue
        df = api.read_results(run.path)
        df["suite"] = suite
        frames.append(df)
        statuses = run.statuses(df["dataset_name"].unique())
        suite_rows = report.summary_rows(df, suite, statuses)
        if "ratio" in sel:
            ratios = report.peer_ratios(df, sel["ratio"])
            for r in suite_rows:
                r["ratio"] = ratios.get((r["dataset"], r["solver"]), float("nan"))
            captions.append(report.ratio_caption(suite, sel["ratio"]))
        rows += suite_rows
        for (dataset, solver), status in statuses.items():
            console.print(escape(f"  {suite} | {dataset} | {solver}: {status}"))
        got = {r["solver"].split("[")[0] for r in suite_rows}
        for s in keep:
            if _base_name(s).startswith("optkit") and _base_name(s) not in got:
                failed.append(f"{suite}: optkit solver {s} produced no result")
        failed += [f"{suite}: {r['solver']} on {r['dataset']}: {r['status']}" for r in suite_rows
                   if r["status"] in report.FAILURE_STATUSES and not report.is_peer(r["solver"])]
    _print_table(console, rows, f"optkit bench (quick) — {time.perf_counter() - t0:.0f} s")
    if captions:
        console.print("[bold]ratio to best peer[/] (peers: every solver not named optkit*):")
        for line in captions:
            console.print(f"  - {line}")
    _print_skipped(console, skipped)
    if frames:
        merged = pd.concat(frames, ignore_index=True)
        merged.to_parquet(stem.with_suffix(".parquet"))
        console.print(f"results: {stem.with_suffix('.parquet')}")
        if plot:
            for path in report.plot_results(merged, stem):
                console.print(f"plot: {path}")
    for msg in failed:
        console.print(f"[red]FAILED[/] {msg}")
    return 1 if failed else 0


def _format_ratio(ratio: float) -> str:
    if ratio != ratio:
        return "-"
    if ratio == float("inf"):
        return "not reached"
    if ratio == 0:
        return "peers did not reach"
    return f"{ratio:.3g}"


def _print_table(console, rows, title, ratio: bool = True):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    columns = ["suite", "dataset", "solver", "final value", "suboptimality", "oracle calls", "time (s)"]
    columns += ["ratio to best peer"] * ratio + ["status"]
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        sub = "-" if not r["suboptimality"] == r["suboptimality"] else f"{r['suboptimality']:.3g}"
        cells = [r["suite"], escape(r["dataset"]), escape(r["solver"]), f"{r['value']:.6g}", sub,
                 r["count"], f"{r['time']:.3g}"]
        cells += [_format_ratio(r["ratio"])] * ratio + [r["status"]]
        table.add_row(*cells)
    console.print(table)


def _print_skipped(console, skipped):
    if not skipped:
        return
    from rich.markup import escape

    console.print(f"[bold]Skipped[/] (peer not installed; install with [cyan]{escape(PEERS_HINT)}[/]):")
    for name, reason in skipped.items():
        console.print(f"  - {escape(name)}: {escape(reason)}")


if __name__ == "__main__":
    main()
