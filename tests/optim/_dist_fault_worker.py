"""Ranks of the DDP + Lion fault test (a module of its own so that spawned processes import it).

Rank 1 SIGKILLs itself in the forward pass of step ``FAULT_STEP``; rank 0's backward then
waits on the gradient all-reduce. Rank 0 records what raised, how long after the step began,
and how far its parameters and Lion's momentum moved during the failed step.
"""

import json
import os
import signal
import time
from datetime import timedelta

import torch
import torch.distributed as dist

from optkit.optim import Lion

FAULT_STEP = 2


def run(rank, world, init_file, out_dir, timeout_s):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world, timeout=timedelta(seconds=timeout_s))
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.manual_seed(0)
    model = DDP(torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(),
                                    torch.nn.Linear(8, 3)).double())
    opt = Lion(model.parameters(), lr=1e-2, weight_decay=0.1)
    gen = torch.Generator().manual_seed(1 + rank)
    for step in range(FAULT_STEP + 2):
        x = torch.randn(4, 6, generator=gen, dtype=torch.float64)
        y = torch.randint(0, 3, (4,), generator=gen)
        before = [p.detach().clone() for p in model.parameters()]
        moments = [opt.state[p]["exp_avg"].clone() for p in model.parameters()
                   if "exp_avg" in opt.state[p]]
        start = time.monotonic()
        try:
            opt.zero_grad()
            if rank == 1 and step == FAULT_STEP:
                os.kill(os.getpid(), signal.SIGKILL)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        except Exception as exc:  # what a survivor sees of the lost rank
            after = [opt.state[p]["exp_avg"] for p in model.parameters() if "exp_avg" in opt.state[p]]
            record = {"step": step, "error": type(exc).__name__, "message": str(exc)[:500],
                      "elapsed": time.monotonic() - start,
                      "moved": max(float((p - b).abs().max()) for p, b in
                                   zip(model.parameters(), before)),
                      "moments_moved": max(float((a - b).abs().max()) for a, b in
                                           zip(after, moments))}
            with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
                json.dump(record, fh)
            return
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
        json.dump({"step": step, "error": None}, fh)
    dist.destroy_process_group()
