"""Starting numba's threading layer leaves torch's intra-op thread count alone.

numba's OpenMP layer starts with ``omp_set_num_threads(NUMBA_NUM_THREADS)`` in the libgomp that
torch's CPU build shares, which raised ``torch.get_num_threads()`` (1 -> the core count) the
first time any numba ``parallel=True`` kernel ran. Each kernel module starts the layer through
``optkit.core.backend.numba_threads`` when imported. One fresh process per module: the start
happens once per process.
"""

import os
import subprocess
import sys

import pytest

MODULES = ["optkit.ot._numba_kernels", "optkit.ot.batch_sinkhorn", "optkit.completion._kernels",
           "optkit.zeroth._directions", "optkit.optim._cpu_kernels"]


@pytest.mark.slow
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the start changes nothing on one core")
@pytest.mark.parametrize("module", MODULES)
def test_kernel_module_keeps_torch_thread_count(module):
    script = ("import importlib, numba, torch\n"
              "torch.set_num_threads(1)\n"
              f"importlib.import_module({module!r})\n"
              "assert numba.threading_layer()  # the layer has started\n"
              "print(torch.get_num_threads())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                             "NUMBA_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    assert out.stdout.strip() == "1", out.stdout + out.stderr


def test_numba_threads_restores_torch_count(monkeypatch):
    """The restore itself (simulated start: the layer may have started in this process)."""
    import numba
    import torch

    from optkit.core.backend import numba_threads

    threads = torch.get_num_threads()

    def starting_layer():  # what numba's OpenMP start does to the shared libgomp
        torch.set_num_threads(threads + 1)
        return 3

    monkeypatch.setattr(numba, "get_num_threads", starting_layer)
    try:
        assert numba_threads() == 3
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(threads)
