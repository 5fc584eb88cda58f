"""A gloo rank lost in the middle of a distributed MeZO step: the survivor raises in bounded time.

Two ranks train with ``process_group=`` (see ``_dist_fault_worker``); rank 1 SIGKILLs or
SIGSTOPs itself inside the closure of a step, before the all-reduce of the losses. Rank 0
must raise ``RuntimeError`` from ``step`` (a dead peer: at once; a hung peer: after the
``timeout`` given to ``init_process_group``) and leave its parameters as before the step
(before the fix they kept the last perturbation, eps * z, about 2e-3 here).
"""

import json
import os

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

GLOO_TIMEOUT_S = 10.0
STARTUP_S = 120.0  # spawning two interpreters and importing torch on a loaded machine


@pytest.mark.parametrize("fault, bound_s", [("kill", 5.0), ("hang", GLOO_TIMEOUT_S + 10.0)])
def test_the_surviving_rank_raises_in_bounded_time(tmp_path, fault, bound_s):
    from .._processes import rank0_hung
    from ._dist_fault_worker import FAULT_STEP, run

    hung = rank0_hung(run, lambda rank: (rank, 2, str(tmp_path / "init"), str(tmp_path), fault,
                                         GLOO_TIMEOUT_S), 2, STARTUP_S + bound_s)
    assert not hung, "the surviving rank hung"
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert record["step"] == FAULT_STEP and record["error"] == "RuntimeError"
    assert record["elapsed"] < bound_s
    if fault == "hang":
        assert "Timed out" in record["message"]
    assert record["moved"] <= 1e-12  # the parameters are back where the step started
    assert record["step_count"] == FAULT_STEP  # the failed step is not counted
    assert not os.path.exists(tmp_path / "rank1.json")  # the faulty rank never got past it
