"""Ranks of the gloo fault test (a module of its own so that spawned processes import it).

Rank 1 fails inside the closure of step ``FAULT_STEP`` (after its first forward, before the
all-reduce of the losses): ``"kill"`` SIGKILLs itself, ``"hang"`` SIGSTOPs itself (alive, its
sockets open, never answering). Rank 0 records what its ``step`` raised, how long after the
step began, and how far its parameters are from their value before the step.
"""

import json
import os
import signal
import time
from datetime import timedelta

import torch
import torch.distributed as dist

from optkit.zeroth import MeZO

from ._dist_worker import problem

FAULT_STEP = 3


def run(rank, world, init_file, out_dir, fault, timeout_s):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world, timeout=timedelta(seconds=timeout_s))
    model, x, y = problem()
    shard = slice(rank * 32 // world, (rank + 1) * 32 // world)
    x, y = x[shard], y[shard]
    opt = MeZO(model.parameters(), lr=1e-2, eps=1e-3, rng=7, process_group=dist.group.WORLD)
    step = 0

    def closure():
        if rank == 1 and step == FAULT_STEP:
            os.kill(os.getpid(), signal.SIGKILL if fault == "kill" else signal.SIGSTOP)
        return torch.nn.functional.mse_loss(model(x), y)

    for step in range(FAULT_STEP + 2):
        before = [p.detach().clone() for p in model.parameters()]
        start = time.monotonic()
        try:
            opt.step(closure)
        except Exception as exc:  # what a survivor sees of the lost rank
            record = {"step": step, "error": type(exc).__name__, "message": str(exc)[:500],
                      "elapsed": time.monotonic() - start,
                      "moved": max(float((p - b).abs().max()) for p, b in
                                   zip(model.parameters(), before)),
                      "step_count": opt.step_count}
            with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
                json.dump(record, fh)
            return
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
        json.dump({"step": step, "error": None}, fh)
    dist.destroy_process_group()
