"""A gloo rank killed in the middle of a DDP + Lion step: the survivor raises in bounded time.

Rank 1 SIGKILLs itself in the forward pass (see ``_dist_fault_worker``); rank 0's backward
waits on DDP's gradient all-reduce and must raise ``RuntimeError`` well before the process
group's timeout, with Lion's parameters and momentum untouched by the failed step (the
update runs after the all-reduce). A rank that hangs instead of dying is bounded by the
``timeout`` given to ``init_process_group`` (shown for MeZO in
``tests/zeroth/test_distributed_faults.py``).
"""

import json

import pytest
import torch.distributed as dist

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")]

GLOO_TIMEOUT_S = 60.0
STARTUP_S = 120.0


def test_the_surviving_rank_raises_without_touching_its_state(tmp_path):
    from .._processes import rank0_hung
    from ._dist_fault_worker import FAULT_STEP, run

    hung = rank0_hung(run, lambda rank: (rank, 2, str(tmp_path / "init"), str(tmp_path),
                                         GLOO_TIMEOUT_S), 2, STARTUP_S + GLOO_TIMEOUT_S)
    assert not hung, "the surviving rank hung"
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert record["step"] == FAULT_STEP and record["error"] == "RuntimeError"
    assert record["elapsed"] < 10.0  # a dead peer is noticed at once, not at the timeout
    assert record["moved"] == 0.0 and record["moments_moved"] == 0.0
