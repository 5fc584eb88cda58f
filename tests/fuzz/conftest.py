"""Hypothesis profiles for the fuzz suite (issue 16, item 1).

``optkit-default`` (the default ``pytest`` run): a bounded number of examples per test,
derandomized so that CI is reproducible, a per-example deadline. ``optkit-slow`` (selected by
``pytest -m slow`` or ``HYPOTHESIS_PROFILE=optkit-slow``): ten times the examples, still
derandomized. A hang is caught by ``pytest-timeout`` (each fuzz test carries a timeout mark);
hypothesis' deadline reports examples that are merely slow. ``HYPOTHESIS_PROFILE=optkit-triage``
skips shrinking, for a quick list of failures while fixing them.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    derandomize=True,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
    print_blob=True,
    database=None,
)
settings.register_profile("optkit-default", max_examples=25, **_COMMON)
settings.register_profile("optkit-slow", max_examples=250, **_COMMON)
# Triage while fixing: no shrinking, so a failing example is reported at once.
settings.register_profile("optkit-triage", max_examples=25,
                          phases=[Phase.explicit, Phase.generate], **_COMMON)


def _slow_run(config) -> bool:
    """The deep fuzz run is opt-in: ``HYPOTHESIS_PROFILE=optkit-slow pytest -m slow tests/fuzz``
    (its 250-example profile has open findings, listed in docs/dev/core-and-bench.md)."""
    markexpr = config.getoption("markexpr", "") or ""
    deep = os.environ.get("HYPOTHESIS_PROFILE") == "optkit-slow"
    return deep and "slow" in markexpr and "not slow" not in markexpr


def pytest_configure(config):
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "optkit-default"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Under ``-m slow`` the fuzz tests run again, with the larger profile and a longer
    timeout (before the mark plugin deselects unmarked tests)."""
    if not _slow_run(config):
        return
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents and getattr(item.obj, "is_hypothesis_test", False):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(3600))


def pytest_terminal_summary(terminalreporter):
    """How many fuzzed calls ran, by outcome (every one was checked; a mishandled one fails its
    test, so with all fuzz tests passed the count of mishandled examples is zero)."""
    from ._inputs import TALLY

    if not TALLY:
        return
    kinds = {}
    for (_, kind), n in TALLY.items():
        kinds[kind] = kinds.get(kind, 0) + n
    entries = len({name for name, _ in TALLY})
    terminalreporter.write_sep("-", "optkit fuzz summary")
    terminalreporter.write_line(
        f"{sum(kinds.values())} fuzzed calls over {entries} targets (entry point x argument): "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
