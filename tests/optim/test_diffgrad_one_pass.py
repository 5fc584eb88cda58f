"""DiffGrad's default CPU kernel (one numba pass per tensor) against the single-tensor kernel."""

import copy
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
import torch

from optkit.optim import DiffGrad
from optkit.optim import diffgrad as diffgrad_module

DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _mixed_params(seed=0):
    """One tensor per supported dtype, a large one (threaded loop), and a scalar."""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(9, 7, generator=gen, dtype=dtype)) for dtype in DTYPES]
    params.append(torch.nn.Parameter(torch.randn(300, 300, generator=gen)))
    params.append(torch.nn.Parameter(torch.randn((), generator=gen, dtype=torch.float64)))
    return params


def _steps(opt, params, steps, seed, skip_first=None):
    """``steps`` steps; gradients of mixed scales (the friction from 1/2 to 1, e^x underflowing),
    the tensor ``skip_first`` without a gradient at the first step."""
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for i, p in enumerate(params):
            scale = 10.0 ** torch.randint(-3, 3, p.shape, generator=gen)
            p.grad = None if (step == 0 and i == skip_first) else (
                torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale.to(p.dtype))
        opt.step()


def _kernels_called(monkeypatch):
    """Spy on the three eager kernels' entry points: name -> ids of the parameters given."""
    calls = {}
    for name in ("_one_pass_diffgrad", "_single_tensor_diffgrad", "_foreach_diffgrad"):
        original = getattr(diffgrad_module, name)

        def spy(params, *args, _name=name, _original=original, **kwargs):
            calls.setdefault(_name, []).extend(map(id, params))
            return _original(params, *args, **kwargs)

        monkeypatch.setattr(diffgrad_module, name, spy)
    return calls


@pytest.mark.parametrize("kw", [
    {"lr": 1e-2},
    {"lr": 1e-2, "weight_decay": 0.1},
    {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True},
    {"lr": torch.tensor(3e-2), "betas": (0.5, 0.9), "eps": 1e-3, "maximize": True},
])
def test_one_pass_equals_single_tensor(monkeypatch, kw):
    """Default (one pass) and ``foreach=False`` (single-tensor): same parameters and state to
    rtol 1e-6 on fp32/fp64/complex tensors, with per-tensor step counts (one tensor has no
    gradient at the first step)."""
    results = {}
    for foreach in (None, False):
        calls = _kernels_called(monkeypatch)
        params = _mixed_params()
        opt = DiffGrad(params, foreach=foreach, **copy.deepcopy(kw))
        _steps(opt, params, 4, seed=1, skip_first=2)
        expected = "_one_pass_diffgrad" if foreach is None else "_single_tensor_diffgrad"
        assert set(calls) == {expected}
        results[foreach] = params, opt
        monkeypatch.undo()
    (ours, ours_opt), (ref, ref_opt) = results[None], results[False]
    for p, q in zip(ours, ref):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
        for key in ("exp_avg", "exp_avg_sq", "prev_grad"):
            # m = β₁m + (1 − β₁)g cancels: the rounding (a fused multiply-add against two
            # products) is bounded relative to the tensor's scale, not to each element
            expected = ref_opt.state[q][key]
            torch.testing.assert_close(ours_opt.state[p][key], expected, rtol=1e-6,
                                       atol=1e-6 * float(expected.abs().max()))
    assert [ours_opt.state[p]["step"].item() for p in ours] == [4, 4, 3, 4, 4, 4]
    assert [ref_opt.state[p]["step"].item() for p in ref] == [4, 4, 3, 4, 4, 4]


def test_default_on_cpu_float_tensors_is_the_one_pass_kernel(monkeypatch):
    """Contiguous CPU float/complex parameters take the one-pass kernel by default; float16,
    non-contiguous ones and explicit choices take the eager kernels."""
    gen = torch.Generator().manual_seed(0)
    dense = [torch.nn.Parameter(torch.randn(4, 5, generator=gen, dtype=d)) for d in DTYPES]
    half = torch.nn.Parameter(torch.randn(4, 5, generator=gen).half())
    transposed = torch.nn.Parameter(torch.randn(5, 4, generator=gen).t())
    assert not transposed.is_contiguous()
    params = [*dense, half, transposed]
    for p in params:
        p.grad = torch.ones_like(p)

    calls = _kernels_called(monkeypatch)
    DiffGrad(params, eps=1e-4).step()
    assert calls == {"_one_pass_diffgrad": [id(p) for p in dense],
                     "_single_tensor_diffgrad": [id(half), id(transposed)]}
    for options, kernel in (({"fused": False}, "_single_tensor_diffgrad"),
                            ({"foreach": False}, "_single_tensor_diffgrad"),
                            ({"foreach": True}, "_foreach_diffgrad"),
                            ({"capturable": True}, "_single_tensor_diffgrad")):
        calls.clear()
        DiffGrad(dense, **options).step()
        assert calls == {kernel: [id(p) for p in dense]}, options


def test_one_pass_threads_follow_torch(monkeypatch):
    """A tensor of >= PARALLEL_MIN elements runs on torch.get_num_threads() numba threads
    (capped by numba's pool), a small one on one; numba's setting is restored; the result
    does not depend on the thread count."""
    from optkit.optim import _cpu_kernels

    seen = []
    loop = _cpu_kernels._diffgrad_loop

    def recording(param, *args):
        seen.append((param.size, numba.get_num_threads()))
        return loop(param, *args)

    monkeypatch.setattr(_cpu_kernels, "_diffgrad_loop", recording)
    threads = torch.get_num_threads()
    results = []
    try:
        for torch_threads in (1, 2):
            torch.set_num_threads(torch_threads)
            before = _cpu_kernels.numba_threads()  # not numba's: it may change torch's count
            params = [torch.nn.Parameter(torch.ones(_cpu_kernels.PARALLEL_MIN + 3)),
                      torch.nn.Parameter(torch.ones(10))]
            opt = DiffGrad(params, lr=0.1)
            _steps(opt, params, 2, seed=3)
            assert numba.get_num_threads() == before
            results.append([p.detach().clone() for p in params])
    finally:
        torch.set_num_threads(threads)
    pool = numba.config.NUMBA_NUM_THREADS
    large, small = _cpu_kernels.PARALLEL_MIN + 3, 10
    assert seen == [(large, 1), (small, 1)] * 2 + [(large, min(2, pool)), (small, 1)] * 2
    for a, b in zip(*results):
        assert torch.equal(a, b)


@pytest.mark.parametrize("first,second", [(None, True), (True, None)])
def test_state_dict_round_trip_with_foreach(first, second):
    """Two steps with one kernel, ``state_dict`` into the other, two more: the foreach kernel's
    four steps."""
    reference = _mixed_params()
    opt = DiffGrad(reference, lr=1e-2, weight_decay=0.1, foreach=True)
    _steps(opt, reference, 2, seed=0)
    _steps(opt, reference, 2, seed=5)

    params = _mixed_params()
    opt_a = DiffGrad(params, lr=1e-2, weight_decay=0.1, foreach=first)
    _steps(opt_a, params, 2, seed=0)
    opt_b = DiffGrad(params, lr=1e-2, weight_decay=0.1, foreach=second)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    _steps(opt_b, params, 2, seed=5)
    for a, b in zip(reference, params):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)


def test_non_finite_gradients_and_untouched_grad():
    """NaN and ±inf gradients give the single-tensor kernel's values (NaN where it has NaN);
    ``p.grad`` is not modified."""
    grad = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, 1e30, -1e-30])
    outputs = []
    for foreach in (None, False):
        p = torch.nn.Parameter(torch.ones(6))
        p.grad = grad.clone()
        opt = DiffGrad([p], lr=0.1, foreach=foreach)
        opt.step()
        p.grad = torch.zeros(6)
        opt.step()
        outputs.append(p.detach())
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-6, atol=0, equal_nan=True)
    assert torch.isnan(outputs[0][0]) and torch.isfinite(outputs[0][3:]).all()

    p = torch.nn.Parameter(torch.ones(6))
    p.grad = grad.clone()
    DiffGrad([p], lr=0.1).step()
    torch.testing.assert_close(p.grad, grad, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_plus_exp_against_numpy(dtype):
    """The kernel's vectorisable 1 + e^x (Cephes) is within one ulp of the float128/longdouble
    value on x <= 0, down to and past the smallest normal power, and keeps NaN."""
    from optkit.optim._cpu_kernels import one_plus_exp

    @numba.njit
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = one_plus_exp(x[i])
        return out

    rng = np.random.default_rng(0)
    x = -np.concatenate([np.abs(rng.standard_normal(20000)) * 10.0 ** rng.integers(-8, 3, 20000),
                         [0.0, 1e-30, 17.0, 87.3, 87.4, 100.0, 708.0, 709.0, 800.0, np.inf]])
    x = x.astype(dtype)
    exact = 1 + np.exp(x.astype(np.longdouble))
    got = apply(x)
    assert np.all(np.abs(got - exact) <= np.finfo(dtype).eps * exact)
    assert np.isnan(apply(np.array([np.nan], dtype=dtype)))[0]


def test_numba_threading_start_does_not_change_torch_threads(monkeypatch):
    """``numba_threads`` puts back torch's thread count when starting numba's layer changed
    it (simulated here: the layer has started already in this process)."""
    from optkit.optim import _cpu_kernels

    def starting_layer():  # what numba's OpenMP start does to the shared libgomp
        torch.set_num_threads(threads + 1)
        return 3

    threads = torch.get_num_threads()
    monkeypatch.setattr(numba, "get_num_threads", starting_layer)
    try:
        assert _cpu_kernels.numba_threads() == 3
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_first_default_step_keeps_torch_thread_count():
    """The first one-pass step starts numba's threading layer, whose OpenMP start sets the
    thread count of the libgomp that torch shares; torch's count must stay what the user set
    (a fresh process: the start happens once per process)."""
    script = ("import torch\n"
              "torch.set_num_threads(1)\n"
              "from optkit.optim import DiffGrad\n"
              "p = torch.nn.Parameter(torch.ones(4))\n"
              "p.grad = torch.ones(4)\n"
              "DiffGrad([p]).step()\n"
              "print(torch.get_num_threads())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300, check=True)
    assert out.stdout.split()[-1] == "1"
