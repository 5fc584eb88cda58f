"""Processes in the fault tests: whether a killed one is gone, and spawned gloo ranks."""

from __future__ import annotations

import os
import time


def is_dead(pid: int, within: float = 10.0) -> bool:
    """Whether process ``pid`` is gone within ``within`` seconds (waits for it to be reaped)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def rank0_hung(target, args_of_rank, world_size: int, wait_s: float) -> bool:
    """Start ``target(*args_of_rank(rank))`` for every rank (spawned), wait up to ``wait_s``
    for rank 0 to finish, then kill whatever still runs. Returns whether rank 0 hung."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    ranks = [ctx.Process(target=target, args=args_of_rank(rank)) for rank in range(world_size)]
    for p in ranks:
        p.start()
    try:
        ranks[0].join(wait_s)
        return ranks[0].is_alive()
    finally:
        for p in ranks:
            if p.is_alive():
                p.kill()
            p.join()
