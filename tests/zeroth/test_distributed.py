"""Shared-seed data parallelism over gloo: 2 processes == 1 process on the joined batch."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.zeroth._dist_worker import problem, run, train

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")]


def test_two_gloo_ranks_match_the_single_process_run(tmp_path):
    steps = 20
    mp.spawn(run, args=(2, str(tmp_path / "init"), str(tmp_path), steps), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    model, x, y = problem()
    ds = train(model, x, y, rng=7, steps=steps)
    assert r0["d"] == r1["d"]
    assert all(torch.equal(a, b) for a, b in zip(r0["params"], r1["params"]))  # bitwise replicas
    assert r0["d"] == pytest.approx(ds, rel=1e-6)
    for a, b in zip(r0["params"], model.parameters()):
        assert torch.allclose(a, b.detach(), rtol=1e-9, atol=1e-12)
