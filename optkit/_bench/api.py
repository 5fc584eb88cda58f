"""The one module that calls benchopt: run a suite, list its solvers, read results.

Pinned to benchopt's public API (``run_benchmark``, ``Benchmark``, ``read_results``).
A seed is forwarded by handing ``run_benchmark`` a ``Benchmark`` built with it
(``Benchmark(Benchmark(...))`` is a no-op in benchopt, so ours is used as is).

Where the suites are read from (:func:`bench_root`) and where results are written
(:func:`output_root`) are kept apart: the suites may sit read-only inside an installed
wheel (package data ``optkit.benchmarks``), results always go to a user folder.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

__all__ = ["bench_root", "output_root", "suite_path", "list_suites", "SolverStatus",
           "solver_statuses", "run_suite", "run_suite_logged", "SuiteRun", "parse_statuses",
           "read_results", "quick_config", "BENCH_DIR_ENV", "DEFAULT_OUTPUT_DIR"]

BENCH_DIR_ENV = "OPTKIT_BENCH_DIR"
DEFAULT_OUTPUT_DIR = "optkit-bench-outputs"
_QUICK_FILE = "quick.yml"


def _is_bench_dir(path: Path) -> bool:
    return path.is_dir() and (path / _QUICK_FILE).is_file()


def bench_root() -> Path:
    """The folder holding the benchmark suites (one benchopt benchmark per subfolder).

    Looked up in this order:

    1. ``$OPTKIT_BENCH_DIR`` when set (an explicit override, e.g. a modified copy);
    2. the ``bench/`` folder of a source checkout, next to the imported ``optkit``
       package (a clone used with ``pip install -e .`` or ``PYTHONPATH``);
    3. the suites shipped in the wheel as package data, ``optkit.benchmarks``,
       found through :mod:`importlib.resources`.
    """
    env = os.environ.get(BENCH_DIR_ENV)
    if env:
        root = Path(env)
        if not _is_bench_dir(root):
            raise FileNotFoundError(f"{BENCH_DIR_ENV}={env} is not a benchmark folder "
                                    f"(no {_QUICK_FILE} in it)")
        return root
    checkout = Path(__file__).resolve().parents[2] / "bench"
    if _is_bench_dir(checkout) and (checkout.parent / "pyproject.toml").is_file():
        return checkout
    try:
        packaged = importlib.resources.files("optkit.benchmarks")
    except ModuleNotFoundError:
        packaged = None
    if packaged is not None and _is_bench_dir(Path(str(packaged))):
        return Path(str(packaged))
    raise FileNotFoundError(
        "no benchmark suites found: this optkit install carries no optkit.benchmarks package "
        f"data and no source checkout; set {BENCH_DIR_ENV} to a bench/ folder"
    )


def output_root(output: str | os.PathLike | None = None) -> Path:
    """The user-writable folder for results and plots, created if needed.

    ``output`` when given, else ``./optkit-bench-outputs`` in the current directory;
    never the (possibly read-only, installed) suite folder.
    """
    root = Path(output) if output is not None else Path.cwd() / DEFAULT_OUTPUT_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


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


def _benchmark(suite: str, rng: int | None = None, no_cache: bool = True):
    from benchopt.benchmark import Benchmark

    return Benchmark(suite_path(suite), seed=rng, no_cache=no_cache)


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


class _Tee(io.TextIOBase):
    """Write to several text streams (benchopt's live progress and a copy to parse)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


@dataclass
class SuiteRun:
    """One ``benchopt`` run of a suite: the parquet and benchopt's own console log."""

    path: Path
    log: str

    def statuses(self, dataset_names) -> dict[tuple[str, str], str]:
        """benchopt's final status of each (dataset, solver), as its progress lines print it."""
        return parse_statuses(self.log, dataset_names)


# benchopt's progress wording (benchopt.utils.terminal_output.STATUS), longest first.
STATUS_WORDS = ("done (not enough run)", "done (timeout)", "not installed", "interrupted",
                "diverged", "error", "skip", "done")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SOLVER_LINE = re.compile(r"^\s+\|--(?P<solver>.+): (?P<status>"
                          + "|".join(re.escape(w) for w in STATUS_WORDS)
                          + r")(?: \(cached\))?\s*$")


def parse_statuses(log: str, dataset_names) -> dict[tuple[str, str], str]:
    """(dataset, solver) -> the status benchopt printed for it ("done (not enough run)", ...).

    benchopt prints each dataset's name on its own line, then one ``|--solver: status``
    line per solver once its repetitions are over; this reads those lines back so the
    summary table says exactly what the progress lines said.
    """
    known = set(dataset_names)
    dataset, out = None, {}
    for line in re.split(r"[\r\n]", _ANSI.sub("", log)):
        if line.strip() in known and not line.startswith(" "):
            dataset = line.strip()
            continue
        match = _SOLVER_LINE.match(line)
        if match and dataset is not None:
            out[(dataset, match["solver"])] = match["status"]
    return out


def run_suite(suite: str, **kwargs) -> Path:
    """Run one suite (see :func:`run_suite_logged`); return the parquet's path."""
    return run_suite_logged(suite, **kwargs).path


def run_suite_logged(suite: str, *, solvers=None, datasets=None, objectives=None,
                     max_runs: int = 10, n_repetitions: int = 1, timeout: float | None = None,
                     n_jobs: int | None = None, parallel_config: dict | None = None,
                     rng: int | None = None, cache: bool = False, show_progress: bool = True,
                     output_dir: str | os.PathLike | None = None,
                     quiet: bool = False) -> SuiteRun:
    """Run one suite through ``benchopt.run_benchmark``.

    The parquet is written to ``output_root(output_dir)/<suite>/benchopt_run_<time>.parquet``
    (an explicit path, so benchopt leaves the suite folder untouched). Every finished run
    is recorded in benchopt's cache (``output_root(output_dir)/cache`` unless
    ``$BENCHOPT_CACHE`` is set), so a run that is interrupted keeps what it had finished.
    ``cache=True`` reads it: runs found there are not redone. Without it every selected
    solver is forced (benchopt's ``forced_solvers``): recomputed and recorded again, so a
    stale entry (the cache is keyed on the suite, not on optkit's code) is never read.
    benchopt's console output is kept (and, unless ``quiet``, shown live) so that the
    per-solver statuses can be read back. Raises ``RuntimeError`` when a run failed.
    """
    from benchopt import run_benchmark

    folder = output_root(output_dir) / suite
    folder.mkdir(exist_ok=True)
    output_file = folder / f"benchopt_run_{datetime.now():%Y-%m-%d_%Hh%Mm%S.%f}.parquet"
    os.environ.setdefault("BENCHOPT_CACHE", str(output_root(output_dir) / "cache"))
    benchmark = _benchmark(suite, rng=rng, no_cache=False)
    if not cache:
        with contextlib.redirect_stdout(io.StringIO()):
            forced = list(solvers or []) or [cls.name for cls in benchmark.get_solvers()]
        solvers = []
    sink = io.StringIO()
    stream = sink if quiet else _Tee(sys.stdout, sink)
    try:
        with contextlib.redirect_stdout(stream):
            out = run_benchmark(
                benchmark, solver_names=list(solvers or []), dataset_names=list(datasets or []) or None,
                objective_filters=list(objectives or []) or None, max_runs=max_runs,
                n_repetitions=n_repetitions, timeout=timeout, n_jobs=n_jobs,
                parallel_config=parallel_config, plot_result=False, display=False, html=False,
                show_progress=show_progress, no_cache=False,
                forced_solvers=[] if cache else forced,
                output_file=str(output_file),
            )
    except RuntimeError as exc:
        raise RuntimeError(f"suite {suite!r} failed:\n{sink.getvalue()[-4000:]}") from exc
    return SuiteRun(Path(out), sink.getvalue())


def read_results(path):
    from benchopt.results import read_results as _read

    return _read(path)


def quick_config() -> dict:
    """``bench/quick.yml`` merged with each listed suite's ``bench/<suite>/quick.yml``.

    A suite's file selects ``dataset`` and ``solver`` and may override ``max_runs``,
    ``n_repetitions`` and ``timeout``.
    """
    root = bench_root()
    with open(root / _QUICK_FILE) as fh:
        cfg = yaml.safe_load(fh)
    suites = {}
    for name in cfg["suites"]:
        with open(suite_path(name) / _QUICK_FILE) as fh:
            suites[name] = yaml.safe_load(fh)
    cfg["suites"] = suites
    return cfg
