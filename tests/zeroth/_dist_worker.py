"""Worker of the gloo test (a module of its own so that spawned processes can import it)."""

import torch
import torch.distributed as dist

from optkit.zeroth import MeZO


def problem():
    # float64: in fp32 the rounding of the losses, not the sharding, would dominate d
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 10, generator=gen, dtype=torch.float64)
    y = torch.randn(32, 1, generator=gen, dtype=torch.float64)
    torch.manual_seed(1)
    return torch.nn.Linear(10, 1).double(), x, y


def train(model, x, y, rng, steps, process_group=None):
    opt = MeZO(model.parameters(), lr=1e-2, eps=1e-3, rng=rng, process_group=process_group)
    ds = []
    for _ in range(steps):
        opt.step(lambda: torch.nn.functional.mse_loss(model(x), y))
        ds.append(opt.zo_stats["last_d"][0])
    return ds


def run(rank, world, init_file, out_dir, steps):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    model, x, y = problem()
    shard = slice(rank * 32 // world, (rank + 1) * 32 // world)
    # rank 1 passes another rng: rank 0's is broadcast once at construction
    ds = train(model, x[shard], y[shard], rng=7 + 100 * rank, steps=steps,
               process_group=dist.group.WORLD)
    torch.save({"d": ds, "params": [p.detach() for p in model.parameters()]},
               f"{out_dir}/rank{rank}.pt")
    dist.barrier()  # both ranks done before the teardown (see tests/optim/test_distributed.py)
    dist.destroy_process_group()
