"""The micro-benchmark gate: every ``test_ratio_*`` kernel of ``bench/micro`` against its budget.

Runs ``pytest bench/micro -k ratio`` with ``OPTKIT_MICRO_CONFIG`` set to the configuration,
reads each kernel's ``ratio`` (ours / peer, interleaved medians: see ``conftest.py``) from the
pytest-benchmark JSON, and compares it with ``bench/micro/budgets.toml``::

    [lion-fused-vs-adamw-fused]
    budget = 0.8            # at the "full" size
    ci_budget = 0.9         # optional: the budget at the "ci" size
    peer = "torch.optim.AdamW(fused=True)"
    floor = "5 vs 7 tensor streams = 0.71"   # optional: why it cannot go lower

One line per kernel: ``kernel  ratio  budget  peer  status``. Timings are noisy, so a kernel
fails only when its ratio exceeds budget × 1.25 (``--tolerance``), and only after its test has
been rerun once (the rerun's ratio is the one judged). Statuses:

- ``OK``: ratio ≤ budget; ``NOISE``: budget < ratio ≤ budget × tolerance (passes, flagged);
- ``FAIL``: ratio > budget × tolerance after the rerun;
- ``NO BUDGET``: a kernel recorded in the JSON without a ``budgets.toml`` entry (fails);
- ``ERROR``: the kernel's test failed (fails); ``SKIP``: its test was skipped, with pytest's
  reason (a peer library missing, say; passes); ``NOT RUN``: a budget whose kernel no test
  recorded (fails: a renamed kernel key or a deleted test).

The exit status is 1 when any line fails or pytest itself could not run, else 0. CI runs the
small configuration (≤ 3 minutes on 2 cores); the full one is the issue's reference sizes::

    python bench/micro/check.py --config ci
    python bench/micro/check.py --config full
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the dev extra installs tomli on Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONFIGS = ("ci", "full")
TOLERANCE = 1.25
FAILING = frozenset({"FAIL", "NO BUDGET", "ERROR", "NOT RUN"})


@dataclass(frozen=True)
class Budget:
    """One ``budgets.toml`` table."""

    kernel: str
    budget: float
    peer: str
    ci_budget: float | None = None
    floor: str | None = None

    def limit(self, config: str) -> float:
        """The budget at ``config``: ``ci_budget`` when the configuration is ``ci`` and it is set."""
        return self.ci_budget if config == "ci" and self.ci_budget is not None else self.budget


@dataclass(frozen=True)
class Result:
    """One kernel's ratio, as its ``test_ratio_*`` test recorded it."""

    kernel: str
    ratio: float
    peer: str
    nodeid: str


@dataclass(frozen=True)
class Line:
    """One line of the report."""

    kernel: str
    status: str
    ratio: float | None = None
    budget: float | None = None
    peer: str = ""
    note: str = ""
    nodeid: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in FAILING


def _positive(table: dict, key: str, kernel: str, path: Path) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{path}: [{kernel}] {key} must be a positive number, got {value!r}")
    return float(value)


def load_budgets(path: Path) -> dict[str, Budget]:
    """Read ``budgets.toml``: one table per kernel key, ``budget`` and ``peer`` required."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    budgets = {}
    for kernel, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: {kernel!r} must be a table ([{kernel}]), got {table!r}")
        unknown = set(table) - {"budget", "ci_budget", "peer", "floor"}
        if unknown:
            raise ValueError(f"{path}: [{kernel}] has unknown keys {sorted(unknown)}")
        budget = _positive(table, "budget", kernel, path)
        if budget is None:
            raise ValueError(f"{path}: [{kernel}] needs a budget")
        peer = table.get("peer")
        if not isinstance(peer, str) or not peer:
            raise ValueError(f"{path}: [{kernel}] needs a peer (the library call it is timed against)")
        budgets[kernel] = Budget(kernel, budget, peer, _positive(table, "ci_budget", kernel, path),
                                 table.get("floor"))
    return budgets


def read_results(path: Path) -> dict[str, Result]:
    """The ratios recorded in a pytest-benchmark JSON (benchmarks without ``kernel`` are ignored).

    pytest-benchmark leaves the file empty when no benchmark ran (every test skipped).
    """
    text = Path(path).read_text()
    if not text.strip():
        return {}
    data = json.loads(text)
    results: dict[str, Result] = {}
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "kernel" not in info:
            continue
        kernel, nodeid = info["kernel"], bench["fullname"]
        if kernel in results:
            raise ValueError(f"kernel {kernel!r} is recorded by two tests: "
                             f"{results[kernel].nodeid} and {nodeid}")
        results[kernel] = Result(kernel, float(info["ratio"]), info.get("peer", ""), nodeid)
    return results


def _nodeid(case: ET.Element) -> str:
    """A junit ``testcase``'s pytest node id (``classname`` is the dotted module path + class)."""
    parts = case.get("classname", "").split(".")
    for i in range(len(parts), 0, -1):  # the longest prefix that is a file
        path = "/".join(parts[:i]) + ".py"
        if (ROOT / path).is_file():
            return "::".join([path, *parts[i:], case.get("name", "")])
    return "/".join(parts) + ".py::" + case.get("name", "")  # a module-level test


def read_outcomes(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(skipped, failed): node id → pytest's reason/message, from a ``--junitxml`` report."""
    skipped, failed = {}, {}
    for case in ET.parse(path).getroot().iter("testcase"):
        for tag, out in (("skipped", skipped), ("failure", failed), ("error", failed)):
            element = case.find(tag)
            if element is not None:
                message = element.get("message", "") or (element.text or "").strip()
                out[_nodeid(case)] = message.splitlines()[0] if message else tag
    return skipped, failed


def _test_of(kernel: str, nodeids: Sequence[str]) -> str | None:
    """The ratio test named after ``kernel`` (``a-b`` → ``test_ratio_a_b``), if exactly one is."""
    stem = "test_ratio_" + re.sub(r"[^0-9a-zA-Z]+", "_", kernel).strip("_").lower()
    hits = [n for n in nodeids if n.split("::")[-1].split("[")[0].lower() == stem]
    return hits[0] if len(hits) == 1 else None


def compare(results: dict[str, Result], budgets: dict[str, Budget], config: str, *,
            skipped: dict[str, str] | None = None, failed: dict[str, str] | None = None,
            tolerance: float = TOLERANCE) -> list[Line]:
    """One :class:`Line` per kernel (budgeted or recorded), plus one per failed unmatched test."""
    skipped, failed = skipped or {}, failed or {}
    lines, matched = [], set()
    for kernel in sorted(set(budgets) | set(results)):
        budget, result = budgets.get(kernel), results.get(kernel)
        if result is not None:
            matched.add(result.nodeid)
            if budget is None:
                lines.append(Line(kernel, "NO BUDGET", result.ratio, None, result.peer,
                                  "add a table to bench/micro/budgets.toml", result.nodeid))
                continue
            limit = budget.limit(config)
            if result.ratio <= limit:
                status, note = "OK", ""
            elif result.ratio <= limit * tolerance:
                status, note = "NOISE", f"over budget, within x{tolerance:g}"
            else:
                status, note = "FAIL", f"> budget x {tolerance:g} = {limit * tolerance:.3g}"
            lines.append(Line(kernel, status, result.ratio, limit, budget.peer, note,
                              result.nodeid))
            continue
        test = _test_of(kernel, [*failed, *skipped])
        if test is not None and test in failed:
            matched.add(test)
            lines.append(Line(kernel, "ERROR", None, budget.limit(config), budget.peer,
                              f"{test} failed: {failed[test]}", test))
        elif test is not None:
            matched.add(test)
            lines.append(Line(kernel, "SKIP", None, budget.limit(config), budget.peer,
                              f"{test}: {skipped[test]}", test))
        else:
            lines.append(Line(kernel, "NOT RUN", None, budget.limit(config), budget.peer,
                              "no test recorded this kernel (renamed, deleted or skipped: "
                              "see the skipped tests below)"))
    for nodeid, message in failed.items():
        if nodeid not in matched:
            lines.append(Line(nodeid.split("::")[-1], "ERROR", note=f"{nodeid} failed: {message}",
                              nodeid=nodeid))
    return lines


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def format_lines(lines: Sequence[Line]) -> str:
    """The report table: kernel, ratio, budget, peer, status (and a note)."""
    rows = [("kernel", "ratio", "budget", "peer", "status")]
    rows += [(ln.kernel, _fmt(ln.ratio), _fmt(ln.budget), ln.peer or "-",
              ln.status + (f"  ({ln.note})" if ln.note else "")) for ln in lines]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(f"{r[0]:{widths[0]}s}  {r[1]:>{widths[1]}s}  {r[2]:>{widths[2]}s}  "
                     f"{r[3]:{widths[3]}s}  {r[4]}" for r in rows)


Runner = Callable[[str, Sequence[str], Path, Path], int]


def run_pytest(config: str, selection: Sequence[str], json_path: Path, junit_path: Path) -> int:
    """``pytest`` on the ratio tests (``selection``: node ids, or all of ``bench/micro``)."""
    targets = list(selection) or [str(HERE.relative_to(ROOT)), "-k", "ratio"]
    cmd = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider",
           "--benchmark-json", str(json_path), "--junitxml", str(junit_path)]
    env = {**os.environ, "OPTKIT_MICRO_CONFIG": config}
    print("$", f"OPTKIT_MICRO_CONFIG={config}", "python", " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def _run(runner: Runner, config: str, selection: Sequence[str], workdir: Path, tag: str):
    json_path, junit_path = workdir / f"{tag}.json", workdir / f"{tag}.xml"
    code = runner(config, selection, json_path, junit_path)
    if code not in (0, 1, 5):  # 1: a test failed (reported per kernel), 5: nothing collected
        raise RuntimeError(f"pytest exited with status {code}")
    results = read_results(json_path) if json_path.exists() else {}
    skipped, failed = read_outcomes(junit_path) if junit_path.exists() else ({}, {})
    return results, skipped, failed


def check(config: str, budgets: dict[str, Budget], runner: Runner, workdir: Path, *,
          tolerance: float = TOLERANCE, rerun: bool = True) -> tuple[list[Line], dict[str, str]]:
    """Run the ratio tests, rerun the ones past budget × tolerance once, compare.

    Returns the lines and the skipped tests (node id → reason).
    """
    results, skipped, failed = _run(runner, config, (), workdir, "run")
    lines = compare(results, budgets, config, skipped=skipped, failed=failed, tolerance=tolerance)
    again = [ln.nodeid for ln in lines if ln.status == "FAIL"]
    if rerun and again:
        print(f"rerunning {len(again)} kernel(s) past budget x {tolerance:g}: {', '.join(again)}",
              flush=True)
        new, new_skipped, new_failed = _run(runner, config, again, workdir, "rerun")
        results = {k: r for k, r in results.items() if r.nodeid not in again} | new
        failed = {n: m for n, m in failed.items() if n not in again} | new_failed
        skipped = {n: m for n, m in skipped.items() if n not in again} | new_skipped
        lines = compare(results, budgets, config, skipped=skipped, failed=failed,
                        tolerance=tolerance)
        rerun_ids = set(again)
        lines = [replace(ln, note=(ln.note + "; " if ln.note else "") + "rerun")
                 if ln.nodeid in rerun_ids else ln for ln in lines]
    return lines, skipped


def main(argv: Sequence[str] | None = None, runner: Runner = run_pytest) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=CONFIGS, default="ci",
                        help="problem sizes: ci (small, as CI runs it) or full (the reference)")
    parser.add_argument("--budgets", type=Path, default=HERE / "budgets.toml")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="fail past budget x this (default %(default)s)")
    parser.add_argument("--no-rerun", action="store_true", help="judge the first run only")
    parser.add_argument("--keep", type=Path, default=None,
                        help="directory to keep the benchmark JSON and junit XML in")
    args = parser.parse_args(argv)
    if not args.tolerance >= 1:
        parser.error(f"--tolerance must be >= 1, got {args.tolerance}")
    budgets = load_budgets(args.budgets)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            lines, skipped = check(args.config, budgets, runner, workdir,
                                   tolerance=args.tolerance, rerun=not args.no_rerun)
        except (RuntimeError, ValueError) as exc:
            print(f"micro-benchmark gate: {exc}", file=sys.stderr)
            return 1
    print(f"\nmicro-benchmark ratios ({args.config} configuration, ours / peer, interleaved "
          f"medians; fail past budget x {args.tolerance:g})")
    print(format_lines(lines))
    unmatched = {n: r for n, r in skipped.items() if not any(ln.nodeid == n for ln in lines)}
    for nodeid, reason in unmatched.items():
        print(f"skipped: {nodeid}: {reason}")
    bad = [ln for ln in lines if ln.failed]
    print(f"{len(lines)} kernel(s), {len(bad)} failing, {time.perf_counter() - start:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
