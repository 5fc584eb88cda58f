"""The Triton kernels of optkit.ot under Triton's interpreter (TRITON_INTERPRET=1, CPU tensors).

Each check runs in a subprocess, since the interpreter is chosen when Triton is imported. The
oracle is torch's logsumexp / bincount on the same tensors, and the numba SNS for a full solve.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton")

_KERNELS = """
import torch
from optkit.ot import _triton_kernels as tk
torch.manual_seed(0)
n, m, inv = 70, 45, 50.0
for dtype in (torch.float64, torch.float32):
    C = torch.rand(n, m, dtype=torch.float64).to(dtype)
    Cd = C.double()
    f = 0.1 * torch.randn(n, dtype=torch.float64)
    g = 0.1 * torch.randn(m, dtype=torch.float64)
    L = tk.row_lse(C, g, inv)
    assert (L - torch.logsumexp((g[None] - Cd) * inv, 1)).abs().max() < 1e-12
    L = tk.col_lse(C, f, inv)
    assert (L - torch.logsumexp((f[:, None] - Cd) * inv, 0)).abs().max() < 1e-12
lp = (f[:, None] + g[None] - Cd) * inv
lo = lp.max() - 40
h = tk.log_plan_histogram(C, f, g, inv, 3, lo, 40 / 2048, 2048)
lp[:, 3] = -float("inf")
ref = torch.bincount((((lp - lo) / (40 / 2048)).floor().clamp(-1, 2047).long() + 1).flatten(),
                     minlength=2049)
assert torch.equal(h[1:], ref[1:]) and int(h.sum()) == n * (m - 1), (h - ref).abs().sum()
print("ok")
"""

_SOLVE = """
import numpy as np, torch
from optkit.ot import sinkhorn, _triton_kernels
from optkit.ot import _torch_kernels
init = _torch_kernels.TorchKernels.__init__
def with_triton(self, C):  # the CUDA choice, forced on CPU tensors
    init(self, C)
    self.fast = _triton_kernels
_torch_kernels.TorchKernels.__init__ = with_triton
rng = np.random.default_rng(0)
n, m = 40, 30
a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
a, b, C = a / a.sum(), b / b.sum(), rng.random((n, m))
host = sinkhorn(a, b, C, 0.01, tol=1e-12)
dev = sinkhorn(*(torch.from_numpy(v) for v in (a, b, C)), 0.01, tol=1e-12)
assert dev.success and dev.n_newton > 0, dev
shift_h, shift_d = a @ host.f, a @ dev.f.numpy()
assert np.abs((host.f - shift_h) - (dev.f.numpy() - shift_d)).max() < 1e-10
assert np.abs((host.g + shift_h) - (dev.g.numpy() + shift_d)).max() < 1e-10
print("ok")
"""


def _interpret(code):
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


@pytest.mark.slow
def test_triton_lse_and_histogram_kernels_match_torch():
    _interpret(_KERNELS)


@pytest.mark.slow
def test_sns_on_the_triton_kernels_gives_the_numba_potentials():
    _interpret(_SOLVE)
