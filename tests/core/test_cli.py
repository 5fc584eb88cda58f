"""`optkit bench` end to end on a copy of the smooth suite (fast), with a blocked peer."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("benchopt")

from optkit.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BLOCKED = ("ot", "lion_pytorch", "torch_optimizer", "cbx", "cma")


@pytest.fixture()
def bench_dir(tmp_path, monkeypatch):
    root = tmp_path / "bench"
    shutil.copytree(REPO / "bench" / "smooth", root / "smooth",
                    ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    (root / "smooth" / "solvers" / "pot_peer.py").write_text(textwrap.dedent('''
        import ot  # a peer: blocked in the test
        from optkit._bench.suite import ScipySolver

        class Solver(ScipySolver):
            name = "pot-peer"
            method = "CG"
            requirements = ["pip::POT"]
    '''))
    (root / "smooth" / "quick.yml").write_text(
        'dataset: ["quadratic[n=10,cond=100.0]"]\nsolver: ["optkit-gd", "scipy-cg", "pot-peer"]\n')
    (root / "quick.yml").write_text("max_runs: 6\nn_repetitions: 1\ntimeout: 20\nsuites: [smooth]\n")
    monkeypatch.setenv("OPTKIT_BENCH_DIR", str(root))
    monkeypatch.chdir(tmp_path)  # results go to ./optkit-bench-outputs, never into the suites
    return root


def _blocking_env(tmp_path, bench_dir):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(f'''
        import importlib.abc, sys
        class _Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ImportError(f"{{name}} is blocked for this test")
        sys.meta_path.insert(0, _Block())
    '''))
    env = dict(os.environ, OPTKIT_BENCH_DIR=str(bench_dir), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return env


def test_quick_with_peers_blocked_exits_zero_and_notes_the_skip(tmp_path, bench_dir):
    env = _blocking_env(tmp_path, bench_dir)
    out = subprocess.run([sys.executable, "-m", "optkit.cli", "bench", "--no-plot"], env=env,
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Skipped" in out.stdout and "pot-peer" in out.stdout and "optkit[peers]" in out.stdout
    import pandas as pd

    (parquet,) = (tmp_path / "optkit-bench-outputs").glob("quick_*.parquet")
    assert not list(bench_dir.rglob("*.parquet"))  # nothing written next to the suites
    solvers = set(pd.read_parquet(parquet)["solver_name"])
    assert {"optkit-gd", "scipy-cg"} <= solvers and "pot-peer" not in solvers


def test_counts_in_results_are_monotone_and_exact(bench_dir):
    from optkit._bench import api

    out = api.run_suite("smooth", solvers=["optkit-gd"], datasets=["quadratic[n=10,cond=100.0]"],
                        max_runs=6, timeout=20, show_progress=False, quiet=True)
    df = api.read_results(out).sort_values("stop_val")
    for col in ("objective_n_value", "objective_n_grad"):
        assert (df[col].diff().dropna() >= 0).all()
    # gd evaluates one gradient per iteration plus the one at x0
    assert (df["objective_n_grad"] == df["stop_val"] + 1).all()
    from optkit._bench.plots import OracleCurvePlot

    plot = OracleCurvePlot()
    plot._check()
    (trace,) = plot.plot(df, dataset=df["dataset_name"].iloc[0], objective=df["objective_name"].iloc[0],
                         objective_column="objective_suboptimality", X_axis="objective_n_grad")
    assert trace["x"] == sorted(trace["x"]) and trace["x"][-1] == df["objective_n_grad"].max()


def test_list_run_plot_and_errors(bench_dir):
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "list"])
    assert res.exit_code == 0 and "smooth" in res.output
    res = runner.invoke(main, ["bench", "list", "smooth"])
    assert res.exit_code == 0 and "optkit-gd" in res.output and "rosenbrock" in res.output
    res = runner.invoke(main, ["bench", "run", "nope"])
    assert res.exit_code == 2 and "unknown benchmark suite 'nope'" in res.output
    res = runner.invoke(main, ["bench", "run", "smooth", "-s", "optkit-gd", "-d", "quadratic[n=10,cond=100.0]",
                               "-n", "4", "--timeout", "20"])
    assert res.exit_code == 0, res.output
    assert "optkit-gd" in res.output
    # 4 sampled points end gd's curve: benchopt's progress line and the table say the same
    progress = [line for line in res.output.splitlines() if "|--optkit-gd:" in line]
    row = [line for line in res.output.splitlines() if "│ optkit-gd" in line]
    assert "done (not enough run)" in progress[-1] and "done (not enough run)" in row[0]
    assert list((bench_dir.parent / "optkit-bench-outputs" / "smooth").glob("*.png"))
    assert not (bench_dir / "smooth" / "outputs").exists()
    res = runner.invoke(main, ["bench", "plot", "smooth", "--no-html"])
    assert res.exit_code == 0 and ".png" in res.output


def test_run_on_a_dask_local_cluster(bench_dir):
    pytest.importorskip("distributed")
    runner = CliRunner()
    res = runner.invoke(main, ["bench", "run", "smooth", "-s", "optkit-gd", "-s", "scipy-cg",
                               "-d", "quadratic[n=10,cond=100.0]", "-n", "4", "--timeout", "30",
                               "--parallel", "dask", "-j", "2", "--no-plot"])
    assert res.exit_code == 0, res.output
    assert "optkit-gd" in res.output and "scipy-cg" in res.output


@pytest.mark.parametrize("command", [["run", "nosuch"], ["list", "nosuch"], ["plot", "nosuch"]])
def test_unknown_suite_is_a_one_line_error(command):
    result = CliRunner().invoke(main, ["bench", *command])
    assert result.exit_code == 2
    assert "unknown benchmark suite 'nosuch'; known suites:" in result.output
    assert "Traceback" not in result.output and result.exception is None or \
        isinstance(result.exception, SystemExit)
