"""The one module that calls benchopt: run a suite, list its solvers, read results.

Pinned to benchopt's public API (``run_benchmark``, ``Benchmark``, ``read_results``).
A seed is forwarded by handing ``run_benchmark`` a ``Benchmark`` built with it
(``Benchmark(Benchmark(...))`` is a no-op in benchopt, so ours is used as is).
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["bench_root", "suite_path", "list_suites", "SolverStatus", "solver_statuses",
           "run_suite", "read_results", "quick_config"]


def bench_root() -> Path:
    """The ``bench/`` folder: ``$OPTKIT_BENCH_DIR`` or the one next to the package source."""
    env = os.environ.get("OPTKIT_BENCH_DIR")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "bench"
    if not root.is_dir():
        raise FileNotFoundError(
            f"benchmark folder {root} not found; set OPTKIT_BENCH_DIR to the repository's bench/"
        )
    return root


def list_suites() -> list[str]:
    """Names of the suites: folders of ``bench/`` holding an ``objective.py``."""
    return sorted(p.name for p in bench_root().iterdir() if (p / "objective.py").is_file())


def suite_path(suite: str) -> Path:
    suites = list_suites()
    if suite not in suites:
        raise ValueError(f"unknown benchmark suite {suite!r}; known suites: {suites}")
    return bench_root() / suite


@dataclass
class SolverStatus:
    name: str
    installed: bool
    reason: str = ""
    requirements: tuple = ()

    @property
    def is_optkit(self) -> bool:
        return self.name.startswith("optkit")


def _benchmark(suite: str, seed: int | None = None, no_cache: bool = True):
    from benchopt.benchmark import Benchmark

    return Benchmark(suite_path(suite), seed=seed, no_cache=no_cache)


def solver_statuses(suite: str) -> list[SolverStatus]:
    """Every solver of ``suite``, installed or not (with the import error)."""
    out = []
    with contextlib.redirect_stdout(io.StringIO()):
        solvers = _benchmark(suite).get_solvers()
    for cls in solvers:
        installed = bool(cls.is_installed(quiet=True))
        exc = getattr(cls, "_exc", None)
        out.append(SolverStatus(cls.name, installed, "" if installed else str(exc),
                                tuple(getattr(cls, "requirements", ()) or ())))
    return out


def dataset_names(suite: str) -> list[str]:
    with contextlib.redirect_stdout(io.StringIO()):
        return [cls.name for cls in _benchmark(suite).get_datasets()]


def run_suite(suite: str, *, solvers=None, datasets=None, objectives=None, max_runs: int = 10,
              n_repetitions: int = 1, timeout: float | None = None, n_jobs: int | None = None,
              parallel_config: dict | None = None, seed: int | None = None, cache: bool = False,
              show_progress: bool = True, output_name: str | None = None,
              quiet: bool = False) -> Path:
    """Run one suite through ``benchopt.run_benchmark``; return the parquet's path.

    Every finished run is recorded in benchopt's cache (``bench/<suite>/__cache__``), so a
    run that is interrupted keeps what it had finished. ``cache=True`` reads it: runs found
    there are not redone. Without it every selected solver is forced (benchopt's
    ``forced_solvers``): recomputed and recorded again, so a stale entry (the cache is keyed
    on the suite, not on optkit's code) is never read.

    Raises ``RuntimeError`` (from benchopt) when a run failed.
    """
    from benchopt import run_benchmark

    benchmark = _benchmark(suite, seed=seed, no_cache=False)
    if not cache:
        with contextlib.redirect_stdout(io.StringIO()):
            forced = list(solvers or []) or [cls.name for cls in benchmark.get_solvers()]
        solvers = []
    sink = io.StringIO()
    ctx = contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext()
    try:
        with ctx:
            out = run_benchmark(
                benchmark, solver_names=list(solvers or []), dataset_names=list(datasets or []) or None,
                objective_filters=list(objectives or []) or None, max_runs=max_runs,
                n_repetitions=n_repetitions, timeout=timeout, n_jobs=n_jobs,
                parallel_config=parallel_config, plot_result=False, display=False, html=False,
                show_progress=show_progress, no_cache=False,
                forced_solvers=[] if cache else forced,
                output_file=output_name or "None",
            )
    except RuntimeError as exc:
        raise RuntimeError(f"suite {suite!r} failed:\n{sink.getvalue()[-4000:]}") from exc
    return Path(out)


def read_results(path):
    from benchopt.results import read_results as _read

    return _read(path)


def quick_config() -> dict:
    """``bench/quick.yml`` merged with each listed suite's ``bench/<suite>/quick.yml``.

    A suite's file selects ``dataset`` and ``solver`` and may override ``max_runs``,
    ``n_repetitions`` and ``timeout``.
    """
    root = bench_root()
    with open(root / "quick.yml") as fh:
        cfg = yaml.safe_load(fh)
    suites = {}
    for name in cfg["suites"]:
        with open(suite_path(name) / "quick.yml") as fh:
            suites[name] = yaml.safe_load(fh)
    cfg["suites"] = suites
    return cfg
