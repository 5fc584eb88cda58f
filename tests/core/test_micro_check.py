"""bench/micro/check.py, the micro-benchmark gate: budgets, comparison, rerun, report.

pytest is replaced by a fake runner that writes fabricated pytest-benchmark JSON and junit XML,
so these tests check the checker's logic, not any timing.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("micro_check", ROOT / "bench/micro/check.py")
check = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = check  # dataclasses look their module up
_spec.loader.exec_module(check)

BUDGETS = """
[fast-kernel]
budget = 0.8
ci_budget = 0.9
peer = "peer.fast"
floor = "5/7"

[slow-kernel]
budget = 2.0
peer = "peer.slow"

[needs-peer]
budget = 1.0
peer = "peer.optional"
"""

FILE = "bench/micro/test_optim.py"  # a real file: junit class names map back to it


def nodeid(kernel):
    return f"{FILE}::test_ratio_{kernel.replace('-', '_')}"


def write_json(path, ratios):
    benchmarks = [{"fullname": nodeid(k), "extra_info": {"kernel": k, "ratio": r,
                                                         "peer": f"peer.{k}"}}
                  for k, r in ratios.items()]
    benchmarks.append({"fullname": f"{FILE}::test_step[adamw]", "extra_info": {}})  # no ratio
    path.write_text(json.dumps({"benchmarks": benchmarks}))


def write_junit(path, skipped=(), failed=()):
    cases = []
    for kernel, reason in dict(skipped).items():
        cases.append(f'<testcase classname="bench.micro.test_optim" name="test_ratio_'
                     f'{kernel.replace("-", "_")}"><skipped message="{reason}"/></testcase>')
    for kernel, message in dict(failed).items():
        cases.append(f'<testcase classname="bench.micro.test_optim" name="test_ratio_'
                     f'{kernel.replace("-", "_")}"><failure message="{message}"/></testcase>')
    path.write_text(f"<testsuites><testsuite>{''.join(cases)}</testsuite></testsuites>")


class FakePytest:
    """Answers each run with the next (ratios, skipped, failed); records the selections."""

    def __init__(self, *runs, code=0):
        self.runs, self.calls, self.code = list(runs), [], code

    def __call__(self, config, selection, json_path, junit_path):
        self.calls.append((config, list(selection)))
        ratios, skipped, failed = self.runs.pop(0)
        write_json(json_path, ratios)
        write_junit(junit_path, skipped, failed)
        return self.code


@pytest.fixture
def budgets_file(tmp_path):
    path = tmp_path / "budgets.toml"
    path.write_text(BUDGETS)
    return path


@pytest.fixture
def budgets(budgets_file):
    return check.load_budgets(budgets_file)


def test_load_budgets_and_the_ci_budget(budgets):
    fast = budgets["fast-kernel"]
    assert (fast.budget, fast.ci_budget, fast.peer, fast.floor) == (0.8, 0.9, "peer.fast", "5/7")
    assert fast.limit("ci") == 0.9 and fast.limit("full") == 0.8
    assert budgets["slow-kernel"].limit("ci") == 2.0  # no ci_budget: the budget


@pytest.mark.parametrize("table,match", [
    ('[k]\npeer = "p"\n', "needs a budget"),
    ("[k]\nbudget = 1.0\n", "needs a peer"),
    ('[k]\nbudget = 0\npeer = "p"\n', "budget must be a positive number"),
    ('[k]\nbudget = 1.0\nci_budget = "x"\npeer = "p"\n', "ci_budget must be a positive"),
    ('[k]\nbudget = 1.0\npeer = "p"\nbugdet = 2\n', "unknown keys"),
    ('k = 1.0\n', "must be a table"),
])
def test_bad_budget_tables_are_named(tmp_path, table, match):
    path = tmp_path / "budgets.toml"
    path.write_text(table)
    with pytest.raises(ValueError, match=match):
        check.load_budgets(path)


def test_compare_thresholds(budgets):
    def status(kernel, ratio, config="full"):
        results = {kernel: check.Result(kernel, ratio, "p", nodeid(kernel))}
        line = next(ln for ln in check.compare(results, budgets, config) if ln.kernel == kernel)
        return line.status

    assert status("slow-kernel", 2.0) == "OK"
    assert status("slow-kernel", 2.4) == "NOISE"
    assert status("slow-kernel", 2.5) == "NOISE"  # exactly budget x 1.25 still passes
    assert status("slow-kernel", 2.51) == "FAIL"
    assert status("fast-kernel", 0.85, "full") == "NOISE"
    assert status("fast-kernel", 0.85, "ci") == "OK"  # the ci_budget, 0.9
    assert status("fast-kernel", 1.05, "full") == "FAIL"  # > 0.8 x 1.25
    assert status("fast-kernel", 1.05, "ci") == "NOISE"  # <= 0.9 x 1.25


def test_compare_reports_missing_budgets_skips_errors_and_unrun_kernels(budgets):
    results = {k: check.Result(k, 0.5, "p", nodeid(k)) for k in ("fast-kernel", "new-kernel")}
    skipped = {nodeid("needs-peer"): "could not import 'peerlib'"}
    failed = {nodeid("slow-kernel"): "ZeroDivisionError", f"{FILE}::test_ratio_other": "boom"}
    lines = {ln.kernel: ln for ln in check.compare(results, budgets, "ci", skipped=skipped,
                                                    failed=failed)}
    assert lines["fast-kernel"].status == "OK"
    assert lines["new-kernel"].status == "NO BUDGET" and lines["new-kernel"].failed
    assert lines["needs-peer"].status == "SKIP" and not lines["needs-peer"].failed
    assert "could not import 'peerlib'" in lines["needs-peer"].note
    assert lines["slow-kernel"].status == "ERROR" and "ZeroDivisionError" in lines["slow-kernel"].note
    assert lines["test_ratio_other"].status == "ERROR"  # a failed test that names no budget

    lines = {ln.kernel: ln for ln in check.compare({}, budgets, "ci")}
    assert {ln.status for ln in lines.values()} == {"NOT RUN"}
    assert all(ln.failed for ln in lines.values())


def test_read_results_rejects_a_kernel_recorded_twice(tmp_path):
    path = tmp_path / "b.json"
    entry = {"fullname": "a", "extra_info": {"kernel": "k", "ratio": 1.0}}
    path.write_text(json.dumps({"benchmarks": [entry, {**entry, "fullname": "b"}]}))
    with pytest.raises(ValueError, match="'k' is recorded by two tests"):
        check.read_results(path)


def test_every_ratio_test_skipped_leaves_an_empty_json(tmp_path, budgets_file, capsys):
    """pytest-benchmark writes an empty file when no benchmark ran: all budgets SKIP, exit 0."""
    def runner(config, selection, json_path, junit_path):
        json_path.write_text("")
        write_junit(junit_path, skipped={k: "could not import 'peer'" for k in
                                         ("fast-kernel", "slow-kernel", "needs-peer")})
        return 0

    assert check.main(["--budgets", str(budgets_file)], runner=runner) == 0
    out = capsys.readouterr().out
    assert out.count("SKIP") == 3 and "could not import 'peer'" in out


def test_read_outcomes_maps_junit_class_names_to_node_ids(tmp_path):
    path = tmp_path / "j.xml"
    write_junit(path, skipped={"needs-peer": "no peer"}, failed={"slow-kernel": "assert 0"})
    skipped, failed = check.read_outcomes(path)
    assert skipped == {nodeid("needs-peer"): "no peer"}
    assert failed == {nodeid("slow-kernel"): "assert 0"}


def test_rerun_only_the_failing_kernel_and_judge_the_rerun(tmp_path, budgets_file, capsys):
    fake = FakePytest(({"fast-kernel": 0.5, "slow-kernel": 9.0, "needs-peer": 1.1}, {}, {}),
                      ({"slow-kernel": 2.2}, {}, {}))
    code = check.main(["--budgets", str(budgets_file), "--keep", str(tmp_path / "out")],
                      runner=fake)
    assert fake.calls == [("ci", []), ("ci", [nodeid("slow-kernel")])]
    out = capsys.readouterr().out
    assert code == 0
    row = next(r for r in out.splitlines() if r.startswith("slow-kernel"))
    assert "2.200" in row and "NOISE" in row and "rerun" in row and "peer.slow" in row
    assert "1.100" in next(r for r in out.splitlines() if r.startswith("needs-peer"))


def test_a_kernel_still_past_the_budget_after_the_rerun_fails(budgets_file, capsys):
    fake = FakePytest(({"fast-kernel": 0.5, "slow-kernel": 9.0}, {"needs-peer": "no peer"}, {}),
                      ({"slow-kernel": 2.6}, {}, {}), code=0)
    assert check.main(["--budgets", str(budgets_file), "--config", "full"], runner=fake) == 1
    assert fake.calls[0][0] == "full"
    out = capsys.readouterr().out
    assert "FAIL" in next(r for r in out.splitlines() if r.startswith("slow-kernel"))
    assert "SKIP" in next(r for r in out.splitlines() if r.startswith("needs-peer"))


def test_no_rerun_within_the_noise_allowance_or_when_disabled(budgets_file):
    fake = FakePytest(({"fast-kernel": 1.1, "slow-kernel": 2.4, "needs-peer": 1.0}, {}, {}))
    assert check.main(["--budgets", str(budgets_file)], runner=fake) == 0
    assert len(fake.calls) == 1

    fake = FakePytest(({"fast-kernel": 0.5, "slow-kernel": 9.0, "needs-peer": 1.0}, {}, {}))
    assert check.main(["--budgets", str(budgets_file), "--no-rerun"], runner=fake) == 1
    assert len(fake.calls) == 1


def test_an_unbudgeted_kernel_fails_the_gate(budgets_file, capsys):
    fake = FakePytest(({"fast-kernel": 0.5, "slow-kernel": 1.0, "needs-peer": 1.0,
                        "brand-new": 0.1}, {}, {}))
    assert check.main(["--budgets", str(budgets_file)], runner=fake) == 1
    assert "NO BUDGET" in capsys.readouterr().out


def test_pytest_that_cannot_run_fails_the_gate(budgets_file, capsys):
    fake = FakePytest(({}, {}, {}), code=4)  # usage error
    assert check.main(["--budgets", str(budgets_file)], runner=fake) == 1
    assert "pytest exited with status 4" in capsys.readouterr().err


def test_bad_tolerance_is_refused(budgets_file):
    with pytest.raises(SystemExit):
        check.main(["--budgets", str(budgets_file), "--tolerance", "0.9"], runner=FakePytest())
