"""Optimizer step time: optkit Lion / DiffGrad against lion-pytorch, AdamW and torch-optimizer.

pytest-benchmark (one group per run)::

    pytest bench/micro/test_optim.py --benchmark-only -p no:cacheprovider

Interleaved ratios (optkit and the peers timed in one process, alternating, medians)::

    python bench/micro/test_optim.py [--tensors 10 --size 1000 --repeats 15]

Sizes: ``OPTKIT_MICRO_TENSORS`` × (``OPTKIT_MICRO_SIZE``)² fp32 parameters (default 10 × 1000²
= 10 M, the issue's reference case). A step is memory-bound: Lion reads/writes 5 words per
parameter, AdamW 7, DiffGrad 9 (its default CPU kernel and ``fused=True``; ~38 for its eager
kernels).

The gated ratios (``test_ratio_*``, one thread, budgets in ``bench/micro/budgets.toml``) at the
``OPTKIT_MICRO_CONFIG`` size: ``full`` = 10 × 1000², ``ci`` = 4 × 1000² (48–64 MB of parameters,
gradients and state per optimizer, above the 32 MB L3 of the reference machine: still
memory-bound)::

    OPTKIT_MICRO_CONFIG=full pytest bench/micro/test_optim.py -k ratio -p no:cacheprovider \
        --benchmark-json=/tmp/optim.json
    python bench/micro/check.py --config full      # every kernel of bench/micro, with the budgets
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import pytest
import torch

from optkit.optim import DiffGrad, Lion

TENSORS = int(os.environ.get("OPTKIT_MICRO_TENSORS", "10"))
SIZE = int(os.environ.get("OPTKIT_MICRO_SIZE", "1000"))


def _adamw(fused=False, foreach=False):
    return lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=fused or None,
                                        foreach=foreach if not fused else None)


def _lion_pytorch(ps):
    from lion_pytorch import Lion as PeerLion

    return PeerLion(ps, lr=1e-4, weight_decay=0.1)


def _tor_diffgrad(ps):
    from torch_optimizer import DiffGrad as PeerDiffGrad

    return PeerDiffGrad(ps, lr=1e-3)


OPTIMIZERS = {
    "optkit-lion": lambda ps: Lion(ps, lr=1e-4, weight_decay=0.1, foreach=False),
    "optkit-lion-foreach": lambda ps: Lion(ps, lr=1e-4, weight_decay=0.1, foreach=True),
    "optkit-lion-fused": lambda ps: Lion(ps, lr=1e-4, weight_decay=0.1, fused=True),
    "lion-pytorch": _lion_pytorch,
    "adamw-single": _adamw(),
    "adamw-foreach": _adamw(foreach=True),
    "adamw-fused": _adamw(fused=True),
    "optkit-diffgrad": lambda ps: DiffGrad(ps, lr=1e-3),  # the default: one-pass numba on CPU
    "optkit-diffgrad-single": lambda ps: DiffGrad(ps, lr=1e-3, foreach=False),
    "optkit-diffgrad-foreach": lambda ps: DiffGrad(ps, lr=1e-3, foreach=True),
    "optkit-diffgrad-fused": lambda ps: DiffGrad(ps, lr=1e-3, fused=True),
    "torch-optimizer-diffgrad": _tor_diffgrad,
}


def make(name, tensors=TENSORS, size=SIZE):
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(size, size, generator=gen)) for _ in range(tensors)]
    for p in params:
        p.grad = torch.randn(size, size, generator=gen) * 1e-2
    opt = OPTIMIZERS[name](params)
    opt.step()  # state initialised (and the fused kernels compiled) outside the timing
    return opt


def state_bytes(opt) -> int:
    return sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values()
               if isinstance(v, torch.Tensor) and v.dim() > 0)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_step(benchmark, name):
    pytest.importorskip("pytest_benchmark")
    if name == "lion-pytorch":
        pytest.importorskip("lion_pytorch")
    if name == "torch-optimizer-diffgrad":
        pytest.importorskip("torch_optimizer")
    torch.set_num_threads(int(os.environ.get("OPTKIT_MICRO_THREADS", "1")))
    opt = make(name)
    benchmark.group = f"optim step {TENSORS}x{SIZE}^2 fp32"
    benchmark.extra_info["state_MiB"] = state_bytes(opt) / 2**20
    benchmark.pedantic(opt.step, rounds=5, warmup_rounds=1)


RATIO_TENSORS = {"ci": 4, "full": 10}


@pytest.fixture
def one_thread():
    """One intra-op thread for the test (the budgets are single-thread ratios), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ratio_of(ratio, config, kernel, ours, peer, peer_name, repeats=31):
    """ours / peer step time; the steps take 3-60 ms, so 31 interleaved pairs cost ≤ 4 s."""
    opts = [make(name, RATIO_TENSORS[config], 1000) for name in (ours, peer)]
    return ratio(kernel, opts[0].step, opts[1].step, peer_name=peer_name, repeats=repeats)


@pytest.mark.usefixtures("one_thread")
def test_ratio_lion_fused_vs_adamw_fused(ratio, micro_config):
    """Lion(fused=True) against AdamW(fused=True): 5 words per parameter against 7."""
    _ratio_of(ratio, micro_config, "lion-fused-vs-adamw-fused", "optkit-lion-fused",
              "adamw-fused", "torch.optim.AdamW(fused=True)")


@pytest.mark.usefixtures("one_thread")
def test_ratio_diffgrad_vs_torch_optimizer(ratio, micro_config):
    """DiffGrad's default step (the one-pass numba kernel on CPU) against torch-optimizer's
    DiffGrad."""
    pytest.importorskip("torch_optimizer")
    _ratio_of(ratio, micro_config, "diffgrad-vs-torch-optimizer", "optkit-diffgrad",
              "torch-optimizer-diffgrad", "torch_optimizer.DiffGrad")


@pytest.mark.usefixtures("one_thread")
def test_ratio_diffgrad_fused_vs_adamw_fused(ratio, micro_config):
    """DiffGrad(fused=True) against AdamW(fused=True): 9 words per parameter against 7."""
    _ratio_of(ratio, micro_config, "diffgrad-fused-vs-adamw-fused", "optkit-diffgrad-fused",
              "adamw-fused", "torch.optim.AdamW(fused=True)")


def ratios(tensors=TENSORS, size=SIZE, repeats=15, names=None, clock=time.perf_counter):
    """Median step time (ms) of each optimizer, timed round-robin in this process with
    ``clock`` (``time.thread_time``: the calling thread's CPU time, steadier than wall time on
    a loaded machine, and complete for one-thread runs)."""
    names = names or list(OPTIMIZERS)
    opts = {n: make(n, tensors, size) for n in names}
    times = {n: [] for n in names}
    for _ in range(repeats):
        for n in names:
            t0 = clock()
            opts[n].step()
            times[n].append(clock() - t0)
    med = {n: 1e3 * statistics.median(ts) for n, ts in times.items()}
    mem = {n: state_bytes(o) / 2**20 for n, o in opts.items()}
    return med, mem


def main(argv=None):
    parser = argparse.ArgumentParser(description="interleaved optimizer step ratios")
    parser.add_argument("--tensors", type=int, default=TENSORS)
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--names", nargs="+", choices=list(OPTIMIZERS), default=list(OPTIMIZERS))
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall",
                        help="wall time, or the calling thread's CPU time (one thread only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    names = list(dict.fromkeys([*args.names, "lion-pytorch", "adamw-fused",
                                "torch-optimizer-diffgrad"]))
    med, mem = ratios(args.tensors, args.size, args.repeats, names, clock)
    print(f"{args.tensors} x {args.size}^2 fp32 params, {args.threads} thread(s), "
          f"median of {args.repeats} interleaved steps")
    print(f"{'optimizer':26s} {'ms/step':>9s} {'vs lion-pytorch':>16s} {'vs AdamW fused':>15s} "
          f"{'state MiB':>10s}  ({args.clock} clock)")
    for n, ms in med.items():
        print(f"{n:26s} {ms:9.2f} {ms / med['lion-pytorch']:16.2f} {ms / med['adamw-fused']:15.2f} "
              f"{mem[n]:10.1f}")
    for n in ("optkit-diffgrad", "optkit-diffgrad-single", "optkit-diffgrad-foreach",
              "optkit-diffgrad-fused"):
        if n in med:
            print(f"{n} / torch-optimizer-diffgrad: {med[n] / med['torch-optimizer-diffgrad']:.2f}")


if __name__ == "__main__":
    main()
