"""The stress grid of ``bench/stress.py`` under test (issue 16, item 2).

Every case must converge (``success=True`` with a finite result) or stop with
``success=False`` and a message naming the cause; never a silent NaN, never an exception other
than a ``ValueError``/``TypeError`` that rejects the input. The ``fast`` cases run by default,
the rest under ``-m slow``. A few cases have a known right answer, checked on top.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "stress.py"
_SPEC = importlib.util.spec_from_file_location("optkit_bench_stress", _PATH)
stress = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = stress  # dataclasses look their module up there
_SPEC.loader.exec_module(stress)

CASES = stress.all_cases()
FAST = [c for c in CASES if c.fast]
SLOW = [c for c in CASES if not c.fast]

pytestmark = pytest.mark.timeout(300)


def _ids(cases):
    return [f"{c.name}|{c.load}" for c in cases]


def _check(case):
    row = stress.run_case(case)
    assert row["outcome"] != "raised", f"{case.name} [{case.load}] raised: {row['message']}"
    if row["success"]:
        assert row["finite"], f"{case.name} [{case.load}]: success with a non-finite result"
    else:
        assert row["message"], f"{case.name} [{case.load}]: failure without a message"
    return row


@pytest.mark.parametrize("case", FAST, ids=_ids(FAST))
def test_stress_case(case):
    _check(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=_ids(SLOW))
def test_stress_case_slow(case):
    _check(case)


def _case(name, load):
    return next(c for c in CASES if c.name == name and c.load == load)


def test_well_posed_cases_converge():
    """Independent expectations: a moderate OT problem, HS7 at unit scale, altmin at the true
    rank, CBO with NaN far from the minimizer, and the optimizers with a GradScaler all
    succeed."""
    for name, load in [
        ("ot.sinkhorn[sns]", "reg=0.1 cost scale=1 float64"),
        ("constrained.al_newton[HS7]", "objective scale 1"),
        ("completion.altmin[exact]", "true rank 2, rank=2, 5 rows unobserved"),
        ("cbo.minimize", "objective nan on the half-space"),
        ("optim.diffgrad", "float16 fp32 master + autocast + GradScaler, inf loss at step 20"),
    ]:
        row = _check(_case(name, load))
        assert row["success"], f"{name} [{load}]: {row['message']}"


def test_infeasible_constraints_are_reported():
    """x0^2 + 1 = 0 has no real solution: al-newton must not claim success."""
    row = _check(_case("constrained.al_newton", "infeasible constraints"))
    assert not row["success"] and row["finite"]


def test_fp16_adam_type_eps_is_rejected():
    """PerpGrad(Adam) with Adam's eps = 1e-8 on float16 parameters used to turn a projected
    (exactly zero) gradient into NaN parameters; now the constructor names eps."""
    row = _check(_case("optim.perpgrad", "float16 params"))
    assert row["outcome"] == "rejected" and "eps" in row["message"]
    row = _check(_case("optim.perpgrad-eps1e-4", "float16 params"))
    assert row["finite"]


def test_sinkhorn_at_extreme_scale_stops_with_the_marginal_error():
    """reg = 1e-5 on costs of scale 1e6 does not converge in the budget: success=False and
    the message gives the marginal error, the plan stays finite."""
    row = _check(_case("ot.sinkhorn[sinkhorn]", "reg=1e-05 cost scale=1e+06 float64"))
    assert not row["success"] and "arginal error" in row["message"] and row["finite"]
