"""Where `optkit bench` finds its suites and writes its results; benchopt statuses read back
into the table; the peer-ratio column; plots without empty legends; the wheel's contents."""

import contextlib
import io
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("benchopt")
pd = pytest.importorskip("pandas")

from optkit._bench import api, report  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_bench_dir_override_must_be_a_benchmark_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTKIT_BENCH_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="OPTKIT_BENCH_DIR"):
        api.bench_root()
    (tmp_path / "quick.yml").write_text("suites: []\n")
    assert api.bench_root() == tmp_path


def test_source_checkout_is_found_without_override(monkeypatch):
    monkeypatch.delenv("OPTKIT_BENCH_DIR", raising=False)
    assert api.bench_root() == REPO / "bench"
    assert {"ot", "cbo", "completion", "constrained", "optim"} <= set(api.list_suites())


def test_results_go_to_the_current_directory_or_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert api.output_root() == tmp_path / "optkit-bench-outputs"
    assert api.output_root(tmp_path / "elsewhere" / "deep") == tmp_path / "elsewhere" / "deep"
    assert (tmp_path / "elsewhere" / "deep").is_dir()


def _benchopt_log(events):
    """What benchopt itself prints for these (dataset, solver, status) events (the oracle)."""
    from benchopt.utils.terminal_output import TerminalOutput

    terminal = TerminalOutput(n_repetitions=1, show_progress=True)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for dataset, solver, status in events:
            if dataset is not None:
                terminal.set(dataset=dataset)
                terminal.display_dataset()
                terminal.set(objective="obj")
                terminal.display_objective()
            terminal.set(solver=solver)
            terminal.progress(0.5, (terminal.dataset, "obj", solver))
            terminal.show_status(status)
    return buf.getvalue()


def test_statuses_are_read_back_from_benchopt_progress_lines():
    events = [("ds[n=2]", "optkit-gd", "max_runs"), (None, "scipy-cg[tol=1e-3]", "done"),
              ("other", "optkit-gd", "timeout"), (None, "peer: x", "diverged")]
    got = api.parse_statuses(_benchopt_log(events), ["ds[n=2]", "other"])
    assert got == {("ds[n=2]", "optkit-gd"): "done (not enough run)",
                   ("ds[n=2]", "scipy-cg[tol=1e-3]"): "done",
                   ("other", "optkit-gd"): "done (timeout)",
                   ("other", "peer: x"): "diverged"}


def _curves():
    # two datasets; per solver a curve (time, metric); solver names decide peer or not
    rows = []
    curves = {"optkit-a": [(0.1, 1.0), (0.2, 1e-3), (0.4, 1e-7)],
              "peer-b": [(0.1, 1.0), (0.5, 1e-3), (1.0, 1e-5)],
              "peer-c": [(0.1, 1.0), (0.8, 1e-7)]}
    for solver, pts in curves.items():
        for k, (t, v) in enumerate(pts):
            rows.append(dict(dataset_name="d", solver_name=solver, idx_rep=0, stop_val=k, time=t,
                             objective_value=v, objective_suboptimality=v))
    return pd.DataFrame(rows)


def test_peer_ratio_time_to_target_and_final_value():
    df = _curves()
    by_time = report.peer_ratios(df, {"column": "suboptimality", "target": 1e-6})
    # optkit-a reaches 1e-6 at t=0.4, the fastest peer (peer-c) at 0.8; peer-b never does
    assert by_time[("d", "optkit-a")] == pytest.approx(0.5)
    assert by_time[("d", "peer-c")] == pytest.approx(1.0)
    assert by_time[("d", "peer-b")] == np.inf
    final = report.peer_ratios(df, {"column": "suboptimality"})
    assert final[("d", "optkit-a")] == pytest.approx(1.0)  # 1e-7 / best peer 1e-7
    assert final[("d", "peer-b")] == pytest.approx(100.0)
    none = report.peer_ratios(df[df.solver_name != "peer-c"], {"column": "value", "target": 1e-6})
    assert none[("d", "optkit-a")] == 0.0  # reached, no peer did


def test_plots_without_counts_warn_nothing(tmp_path):
    pytest.importorskip("matplotlib")
    df = _curves().assign(suite="s")  # no objective_n_* column: the oracle panel is empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = report.plot_results(df, tmp_path / "plots", html=False)
    assert [p.name for p in written] == ["plots.png"]


def test_html_plots_load_plotly_locally(tmp_path):
    pytest.importorskip("plotly")
    (page,) = report.plot_results(_curves().assign(suite="s"), tmp_path / "p", png=False)
    assert "cdn.plot.ly" not in page.read_text() and (tmp_path / "plotly.min.js").is_file()


@pytest.mark.slow
def test_wheel_ships_every_suite_and_finds_them_outside_the_checkout(tmp_path):
    pytest.importorskip("build")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp_path / "dist"), str(REPO)], check=True, capture_output=True,
                   timeout=600)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for suite in api.list_suites():
        assert f"optkit/benchmarks/{suite}/objective.py" in names
        assert f"optkit/benchmarks/{suite}/quick.yml" in names
    assert "optkit/benchmarks/quick.yml" in names
    assert not [n for n in names if n.endswith((".parquet", ".pyc"))]
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPTKIT_BENCH_DIR")}
    env["PYTHONPATH"] = str(target)
    code = ("import optkit, optkit._bench.api as a; "
            "print(optkit.__file__); print(a.bench_root()); print(a.list_suites())")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=True).stdout.split("\n")
    assert out[0].startswith(str(target)) and out[1] == str(target / "optkit" / "benchmarks")
    assert "ot" in out[2] and "completion" in out[2]


def test_peer_ratio_relative_target_needs_feasibility():
    df = _curves()
    df["objective_violation"] = 0.0
    # optkit-a's end point is infeasible: the best feasible final value is 1e-7 (peer-c)
    df.loc[(df.solver_name == "optkit-a") & (df.stop_val == 2), "objective_violation"] = 1.0
    ratios = report.peer_ratios(df, {"column": "value", "target_rel": 1e-9,
                                     "feasible": {"column": "violation", "tol": 1e-8}})
    assert ratios[("d", "optkit-a")] == np.inf  # never feasible at 1e-7 + 1e-9
    assert ratios[("d", "peer-c")] == pytest.approx(1.0)
    caption = report.ratio_caption("s", {"column": "value", "target_rel": 1e-9,
                                         "feasible": {"column": "violation", "tol": 1e-8}})
    assert "within 1e-09 (relative)" in caption and "violation <= 1e-08" in caption


def test_a_suite_needing_a_missing_peer_is_a_skip_not_a_crash():
    from optkit.cli import SuiteNeedsPeer, _load

    def needs(module):
        def load(suite):
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
        return load

    with pytest.raises(SuiteNeedsPeer, match="suite 'ot' needs the module 'ot'.*optkit\\[peers\\]"):
        _load("ot", needs("ot"))
    with pytest.raises(ModuleNotFoundError):  # optkit's own import errors are bugs: they propagate
        _load("ot", needs("optkit.ot._missing"))
