"""Ratio micro-benchmarks of optkit's vectorised batched log-domain Sinkhorn vs POT (issue 14).

B problems with their own costs (2-D uniform clouds, squared Euclidean), reg 0.05, tol 1e-6:
optkit's one-program batch (``sinkhorn(a (B, n), b (B, m), C (B, n, m), method="sinkhorn")``)
against POT's ``ot.sinkhorn(method="sinkhorn_log")`` in a loop over the problems (POT has no
batched-cost form; stopThr = tol/sqrt(m), its L2 column test), on numpy and on torch CPU
tensors. Sizes: ``OPTKIT_MICRO_CONFIG=ci`` B = 16, n = 64; ``full`` (the issue's) B = 64,
n = 128.

    OPTKIT_MICRO_CONFIG=ci python -m pytest -p no:cacheprovider bench/micro/test_ot_batch.py \\
        -k ratio --benchmark-json=/tmp/ot_batch.json
"""

import os

import numpy as np
import pytest

ot = pytest.importorskip("ot")
torch = pytest.importorskip("torch")

from optkit.ot import sinkhorn  # noqa: E402

_SIZES = {"ci": (16, 64), "full": (64, 128)}
_REG, _TOL = 0.05, 1e-6


def _batch():
    size, n = _SIZES[os.environ.get("OPTKIT_MICRO_CONFIG", "full")]
    rng = np.random.default_rng(0)
    x, y = rng.random((size, n, 2)), rng.random((size, n, 2))
    C = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    a = np.full((size, n), 1.0 / n)
    b = rng.random((size, n)) + 0.1
    return a, b / b.sum(axis=1, keepdims=True), C


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_ratio_batch_sinkhorn_vs_pot_loop(ratio, backend):
    a, b, C = _batch()
    if backend == "torch":
        a, b, C = (torch.from_numpy(v) for v in (a, b, C))
    n = C.shape[2]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ratio(f"ot-batch-sinkhorn-{backend}-vs-pot-loop",
              lambda: sinkhorn(a, b, C, _REG, method="sinkhorn", tol=_TOL, maxiter=100000),
              lambda: [ot.sinkhorn(a[k], b[k], C[k], _REG, method="sinkhorn_log",
                                   stopThr=_TOL / np.sqrt(n), numItermax=100000)
                       for k in range(C.shape[0])],
              peer_name="POT ot.sinkhorn(method='sinkhorn_log') per problem", repeats=5)
    finally:
        torch.set_num_threads(threads)
