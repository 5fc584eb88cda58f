"""`optkit bench run` under faults: interrupted by SIGINT, or a dask worker killed mid-run.

A tiny benchopt suite whose solver appends a line to a log file when a run starts and when
it finishes (so the test counts what was computed, not how long it took). The first run is
interrupted after its first finished run; the rerun with ``--cache`` must compute only the
runs that had not finished, and a rerun without ``--cache`` recomputes everything. Under
``--parallel dask`` the solver SIGKILLs the dask worker process that runs it (once): the
scheduler must rerun that task on a fresh worker, and the suite end with every result.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("benchopt")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

N_RUNS = 4
RUN_SECONDS = 2.0

OBJECTIVE = '''
from benchopt import BaseObjective


class Objective(BaseObjective):
    name = "tiny"
    min_benchopt_version = "1.9"

    def set_data(self, a):
        self.a = a

    def get_objective(self):
        return dict(a=self.a)

    def evaluate_result(self, x):
        return dict(value=(x - self.a) ** 2)

    def get_one_result(self):
        return dict(x=0.0)
'''

QUICK = """
max_runs: 1
n_repetitions: 1
timeout: 10
suites: [tiny]
"""

DATASET = '''
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "one"

    def get_data(self):
        return dict(a=1.0)
'''

SOLVER = f'''
import os
import time

from benchopt import BaseSolver


class Solver(BaseSolver):
    name = "logged"
    sampling_strategy = "run_once"
    parameters = {{"tag": list(range({N_RUNS}))}}

    def set_objective(self, a):
        self.a = a

    def _log(self, what):
        with open(os.environ["TINY_LOG"], "a") as fh:
            fh.write(f"{{what}} {{self.tag}}\\n")

    def run(self, _):
        self._log("start")
        if self.tag == 1 and os.environ.get("TINY_KILL_WORKER"):
            self._kill_own_worker_once()
        time.sleep({RUN_SECONDS})
        self.x = self.a
        self._log("done")

    def _kill_own_worker_once(self):
        from distributed import get_worker

        get_worker()  # raises ValueError outside a dask worker: the fault must hit one
        marker = os.environ["TINY_LOG"] + ".killed"
        if not os.path.exists(marker):
            open(marker, "w").close()
            self._log("killed")
            os.kill(os.getpid(), 9)

    def get_result(self):
        return dict(x=self.x)
'''


@pytest.fixture()
def suite_env(tmp_path):
    root = tmp_path / "bench"
    for rel, text in (("quick.yml", QUICK), ("tiny/objective.py", OBJECTIVE), ("tiny/datasets/one.py", DATASET),
                      ("tiny/solvers/logged.py", SOLVER)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    log = tmp_path / "runs.log"
    env = dict(os.environ, OPTKIT_BENCH_DIR=str(root), TINY_LOG=str(log), MPLBACKEND="Agg")
    return env, log, tmp_path


def _lines(log, what):
    if not log.exists():
        return []
    return [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith(what)]


def _bench(env, cwd, *flags, timeout=180):
    return subprocess.run([sys.executable, "-m", "optkit.cli", "bench", "run", "tiny", "--no-plot",
                           *flags], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_sigint_keeps_the_finished_runs_and_cache_resumes(suite_env):
    env, log, cwd = suite_env  # results and benchopt's cache go to cwd/optkit-bench-outputs
    # SIGINT back to its default in the child: a runner started in the background by a
    # non-interactive shell ignores SIGINT, and Python then keeps it ignored
    proc = subprocess.Popen([sys.executable, "-m", "optkit.cli", "bench", "run", "tiny",
                             "--no-plot"], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not _lines(log, "done") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _lines(log, "done"), "no run finished before the deadline"
    while len(_lines(log, "start")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # interrupt the second run in the middle
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "rerun with --cache" in out
    finished = _lines(log, "done")
    assert 1 <= len(finished) < N_RUNS  # the fault landed mid-suite

    log.unlink()
    resumed = _bench(env, cwd, "--cache")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    recomputed = _lines(log, "done")
    assert sorted(recomputed + finished) == list(range(N_RUNS))  # nothing redone, nothing lost
    assert not set(recomputed) & set(finished)

    log.unlink()
    fresh = _bench(env, cwd)  # without --cache every run is computed again
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert sorted(_lines(log, "done")) == list(range(N_RUNS))


def test_a_killed_dask_worker_is_rerun_and_nothing_is_lost(suite_env):
    pytest.importorskip("distributed")
    env, log, cwd = suite_env
    env["TINY_KILL_WORKER"] = "1"
    run = _bench(env, cwd, "--parallel", "dask", "-j", "2", timeout=280)
    assert _lines(log, "killed") == [1], "the fault was not injected\n" + run.stdout + run.stderr
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(_lines(log, "done")) == list(range(N_RUNS))  # the killed run was redone
    assert _lines(log, "start").count(1) == 2
    import pandas as pd

    results = pd.concat(pd.read_parquet(p) for p in (cwd / "optkit-bench-outputs" / "tiny")
                        .glob("*.parquet"))
    assert sorted(results["solver_name"].str.extract(r"tag=(\d+)")[0].astype(int)) == \
        list(range(N_RUNS))
    assert (results["objective_value"] == 0.0).all()  # x = a: every result is the right one
