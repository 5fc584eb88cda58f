"""specs/api.md §1-§3 over every public entry point (the table of ``entries_*.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

from optkit.core import STATUS
from optkit.core.backend import to_numpy

from .entry_points import all_entries

ENTRIES = all_entries()
IDS = [e.name for e in ENTRIES]
COMMON = ("x", "fun", "nit", "nfev", "status", "success", "message", "trace", "execution_time")


@pytest.fixture(params=ENTRIES, ids=IDS)
def entry(request):
    return request.param


def test_result_is_one_type_with_the_common_fields(entry):
    res = entry.run()
    assert isinstance(res, OptimizeResult) and isinstance(res, entry.result_type)
    for key in COMMON + tuple(entry.fields):
        assert key in res, f"{entry.name}: result lacks {key!r}"
    assert isinstance(res.success, bool) and isinstance(res.status, int)
    assert res.status in STATUS.values() and isinstance(res.message, str) and res.message
    assert res.success == (res.status == STATUS["success"])
    assert isinstance(res.nit, int) and isinstance(res.nfev, int) and res.nfev >= 1
    assert len(res.trace) >= 1 and "fun" in res.trace.keys() and "nit" in res.trace.keys()
    assert math.isfinite(res.fun) and res.execution_time >= 0


def test_default_run_reaches_f_star(entry):
    if entry.f_star is None:
        pytest.skip("no known optimal value for this entry's problem")
    res = entry.run()
    assert res.success, res.message
    assert res.fun == pytest.approx(entry.f_star, rel=entry.rtol, abs=entry.atol)


def test_spent_iteration_budget_is_a_failure(entry):
    res = entry.run(maxiter=1)
    assert res.nit <= 1
    assert res.success is False and res.status == STATUS["maxiter"], res.message


def test_spent_evaluation_budget_is_a_failure(entry):
    full = entry.run()
    res = entry.run(maxfev=1)
    assert res.success is False and res.status == STATUS["maxfev"], res.message
    assert res.nfev < full.nfev


def test_callback_gets_intermediate_result_and_stop_iteration_ends_the_run(entry):
    seen = []

    def callback(intermediate_result):
        seen.append(intermediate_result)
        if len(seen) == 2:
            raise StopIteration

    res = entry.run(callback=callback)
    assert len(seen) == 2 and res.nit == 2
    assert res.status == STATUS["callback"] and res.success is False
    assert all(isinstance(r, OptimizeResult) and "x" in r and "fun" in r for r in seen)


def test_rng(entry):
    if not entry.stochastic:
        with pytest.raises(TypeError, match="rng"):
            entry.run(rng=0)
        return
    a, b, c = entry.run(rng=0), entry.run(rng=0), entry.run(rng=1)
    np.testing.assert_array_equal(to_numpy(a.x), to_numpy(b.x))
    assert not np.array_equal(to_numpy(a.x), to_numpy(c.x)), "a different rng gave the same x"


def test_unknown_option_is_named(entry):
    with pytest.raises(TypeError, match="no_such_option"):
        entry.run(no_such_option=1)
