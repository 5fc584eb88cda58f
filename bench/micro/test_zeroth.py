"""MeZO / QZO step time relative to two forward passes, and against a first-order SGD step.

pytest-benchmark::

    pytest bench/micro/test_zeroth.py --benchmark-only -p no:cacheprovider

Interleaved ratios (all timed in one process, alternating, medians)::

    python bench/micro/test_zeroth.py [--width 1024 --depth 4 --rows 2048 --repeats 15]
    python bench/micro/test_zeroth.py --rows 64 --repeats 41 --cases two-forwards mezo-step

Ratio tests for ``bench/micro/check.py`` (budgets in ``bench/micro/budgets.toml``)::

    OPTKIT_MICRO_CONFIG=ci pytest bench/micro/test_zeroth.py -k ratio -p no:cacheprovider \
        --benchmark-json=/tmp/zeroth.json

``test_ratio_mezo_step*``: one MeZO step (Gaussian, Rademacher, or sparse with half the
tensors perturbed) against two forward passes of the same MLP on a 64-row batch, one thread.
``OPTKIT_MICRO_CONFIG=full`` (default) is the issue's case, 4 x 1024^2 (4.2M parameters);
``ci`` is 2 x 1024^2 (2.1M parameters: half the time, the same ratio, since both the forwards
and the z passes scale with the parameter count; a narrower MLP would raise the share of the
fixed per-tensor Python cost).

Times in the script are process CPU time (robust to other load on a shared machine); the
ratio tests use the fixture's interleaved wall-time medians. A ZO step is two forwards plus
three passes of z over the parameters (perturb +eps, perturb -2eps, then restore and update
fused in one pass); its cost relative to two forwards falls as rows (batch x sequence) per
parameter grow. On CPU each pass is one numba kernel that regenerates z from its counter and
adds it in place (no z buffer).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import pytest
import torch
from torch import nn

from optkit.zeroth import QZO, MeZO, quantize_model, scale_parameters

WIDTH = int(os.environ.get("OPTKIT_MICRO_WIDTH", "1024"))
DEPTH = int(os.environ.get("OPTKIT_MICRO_DEPTH", "4"))
ROWS = int(os.environ.get("OPTKIT_MICRO_ROWS", "2048"))
CONFIG = os.environ.get("OPTKIT_MICRO_CONFIG", "full")
RATIO_DEPTH = {"ci": 2, "full": 4}[CONFIG]  # width 1024, 64 rows in both
RATIO_WIDTH = 1024
RATIO_ROWS = 64


CASES = ("two-forwards", "mezo-step", "mezo-step-rademacher", "mezo-step-sparse-half",
         "two-forwards-int4", "qzo-step", "sgd-fo-step")
RATIOS = (("MeZO step / two forwards", "mezo-step", "two-forwards"),
          ("Rademacher MeZO / two forwards", "mezo-step-rademacher", "two-forwards"),
          ("sparse MeZO (half) / two fwd", "mezo-step-sparse-half", "two-forwards"),
          ("QZO step / two int4 forwards", "qzo-step", "two-forwards-int4"),
          ("MeZO step / SGD (FO) step", "mezo-step", "sgd-fo-step"))


def _setup(width, depth, rows, seed=0):
    torch.manual_seed(seed)
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.GELU()]
    model = nn.Sequential(*layers).eval()
    x, y = torch.randn(rows, width), torch.randn(rows, width)
    return model, x, y


def _cases(width, depth, rows):
    model, x, y = _setup(width, depth, rows)
    qmodel, _ = quantize_model(model, bits=4, group_size=128)

    def closure(m):
        return lambda: nn.functional.mse_loss(m(x), y)

    mezo = MeZO(model.parameters(), lr=1e-7, rng=0)
    mezo_rademacher = MeZO(model.parameters(), lr=1e-7, rng=0, distribution="rademacher")
    mezo_sparse = MeZO(model.parameters(), lr=1e-7, rng=0, block_fraction=0.5)
    qzo = QZO(scale_parameters(qmodel), lr=1e-9, eps=1e-4, rng=0)
    sgd_model, _, _ = _setup(width, depth, rows)
    sgd = torch.optim.SGD(sgd_model.parameters(), lr=1e-7)

    def two_forwards(m):
        def run():
            with torch.no_grad():
                closure(m)()
                closure(m)()
        return run

    def sgd_step():
        sgd.zero_grad()
        closure(sgd_model)().backward()
        sgd.step()

    return {
        "two-forwards": two_forwards(model),
        "mezo-step": lambda: mezo.step(closure(model)),
        "mezo-step-rademacher": lambda: mezo_rademacher.step(closure(model)),
        "mezo-step-sparse-half": lambda: mezo_sparse.step(closure(model)),
        "two-forwards-int4": two_forwards(qmodel),
        "qzo-step": lambda: qzo.step(closure(qmodel)),
        "sgd-fo-step": sgd_step,
    }


@pytest.fixture(scope="module")
def cases():
    torch.set_num_threads(1)
    return _cases(WIDTH, DEPTH, ROWS)


@pytest.mark.parametrize("name", CASES)
def test_zeroth_step(benchmark, cases, name):
    benchmark.group = f"zeroth step, MLP {DEPTH}x{WIDTH}^2, {ROWS} rows"
    benchmark.pedantic(cases[name], rounds=5, iterations=1, warmup_rounds=1)


@pytest.fixture(scope="module")
def ratio_model():
    torch.set_num_threads(1)
    model, x, y = _setup(RATIO_WIDTH, RATIO_DEPTH, RATIO_ROWS)

    def closure():
        return nn.functional.mse_loss(model(x), y)

    def two_forwards():
        with torch.no_grad():
            closure()
            closure()

    return model, closure, two_forwards


@pytest.mark.parametrize("variant, options", [
    ("", {}),
    ("-rademacher", {"distribution": "rademacher"}),
    ("-sparse-half", {"block_fraction": 0.5}),
])
def test_ratio_mezo_step_vs_two_forwards(ratio, ratio_model, variant, options):
    model, closure, two_forwards = ratio_model
    mezo = MeZO(model.parameters(), lr=1e-7, rng=0, **options)
    ratio(f"mezo-step{variant}-vs-two-forwards", lambda: mezo.step(closure), two_forwards,
          peer_name=f"two no-grad forwards, MLP {RATIO_DEPTH}x{RATIO_WIDTH}^2, {RATIO_ROWS} rows, "
                    "1 thread",
          repeats=15)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=WIDTH)
    ap.add_argument("--depth", type=int, default=DEPTH)
    ap.add_argument("--rows", type=int, nargs="+", default=[64, ROWS])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES,
                    help="time only these (the ratios need their two cases)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for rows in args.rows:
        cases = {k: v for k, v in _cases(args.width, args.depth, rows).items() if k in args.cases}
        times = {k: [] for k in cases}
        for fn in cases.values():
            fn()
        for _ in range(args.repeats):
            for k, fn in cases.items():
                t0 = time.process_time()
                fn()
                times[k].append(time.process_time() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        n = args.depth * (args.width ** 2 + args.width)
        print(f"MLP {args.depth}x{args.width}^2 ({n / 1e6:.1f}M params), {rows} rows, 1 thread, "
              f"median of {args.repeats}:")
        for k, v in med.items():
            print(f"  {k:18s} {v * 1e3:9.2f} ms")
        for label, ours, peer in RATIOS:
            if ours in med and peer in med:
                print(f"  {label:30s} {med[ours] / med[peer]:.3f}")


if __name__ == "__main__":
    main()
