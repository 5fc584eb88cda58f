"""Fuzzing the torch optimizers (Lion, DiffGrad, PerpGrad) and the zeroth-order ones (MeZO,
QZO): constructor hyperparameters, parameter dtypes (float16, bfloat16, complex, int), and the
step on gradients / losses of any scale (issue 16, item 1).

Documented outcomes beyond ValueError/TypeError: MeZO and QZO raise ``FloatingPointError``
on a non-finite loss (after restoring the parameters; ``on_nonfinite="skip"`` skips the step
instead). The first-order optimizers follow ``torch.optim``: they do not inspect gradients,
so a non-finite gradient is for the caller (or ``torch.amp.GradScaler``, which skips the
step) to catch; ``tests/test_stress.py`` checks the GradScaler path. With finite gradients
and finite hyperparameters their parameters stay finite, which this suite checks in every
dtype.
"""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from optkit.optim import DiffGrad, Lion, PerpGrad
from optkit.zeroth import QZO, MeZO

from ._inputs import outcome, scalars, sizes, wrong_values

pytestmark = pytest.mark.timeout(120)

FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def _perp_adam(params, **kw):
    return PerpGrad(torch.optim.Adam, params, **kw)


OPTIMIZERS = {"lion": (Lion, 1e-3), "diffgrad": (DiffGrad, 1e-2), "perpgrad": (_perp_adam, 1e-2)}
HYPER = {"lion": ["lr", "betas", "weight_decay"],
         "diffgrad": ["lr", "betas", "eps", "weight_decay"],
         "perpgrad": ["lr", "betas", "eps", "weight_decay", "perp_eps"]}


def _params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(4, 3, generator=g).to(dtype)),
            torch.nn.Parameter(torch.randn(3, generator=g).to(dtype))]


def _hyper():
    """Hyperparameter values of every kind and sign, at every float magnitude (beyond
    float32's range too: rejected naming the argument) and ints beyond int64."""
    return st.one_of(st.floats(), st.sampled_from([float("nan"), float("inf"), float("-inf"),
                                                   0.0, 1e-300, 3.4e39, 1e300]),
                     st.integers(-3, 10**6), st.sampled_from([2**64, 10**400]), st.none(),
                     st.text(max_size=3), st.just(1j), st.just([1.0]), st.just(True))


def _betas():
    return st.one_of(st.tuples(_hyper(), _hyper()), wrong_values(),
                     st.tuples(st.floats(0, 1), st.floats(0, 1)))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@given(data=st.data())
def test_constructor_hyperparameters(name, data):
    make, lr = OPTIMIZERS[name]
    arg = data.draw(st.sampled_from(HYPER[name]), label="arg")
    value = data.draw(_betas() if arg == "betas" else _hyper(), label=arg)
    kw = {"lr": lr, arg: value}

    def call():
        params = _params(torch.float32)
        opt = make(params, **kw)
        for step in range(3):
            for p in params:
                p.grad = torch.full_like(p, 0.5 - step)
            opt.step()
        finite = all(bool(torch.isfinite(p).all()) for p in params)
        # Within float32's range, a hyperparameter can still scale an update past it (lr or
        # weight_decay ~1e38 on parameters ~1): as in torch.optim, the optimizers do not
        # inspect their updates, so finiteness is required for magnitudes up to 1e30 only.
        moderate = all(math.isfinite(v) and abs(v) <= 1e30 for v in _numbers(value))
        assert finite or not moderate, f"{name}({arg}={value!r}) made the params non-finite"

    outcome(f"{name}.{arg}", call, [arg])


def _numbers(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, tuple):
        return [v for item in value for v in _numbers(item)]
    return []


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@given(dtype=st.sampled_from(FLOAT_DTYPES), grad_scale=st.sampled_from(
    [1e-30, 1e-8, 1e-3, 1.0, 1e3, 6e4, 1e30]), steps=st.integers(1, 6))
def test_step_keeps_finite_parameters_finite(name, dtype, grad_scale, steps):
    """Finite gradients never make a parameter non-finite, in fp32, fp64, fp16 and bf16, at
    any scale representable in the dtype (gradients are clamped to its range: near float16's
    maximum the ⊥ projection saturates instead of overflowing)."""
    make, lr = OPTIMIZERS[name]
    params = _params(dtype)
    # Adam-type eps must not round to 0 in float16 (1e-8 does: the constructor rejects it)
    opt = make(params, lr=lr, **({"eps": 1e-4} if dtype == torch.float16 and name != "lion"
                                 else {}))
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            grad = torch.randn(p.shape, generator=g, dtype=torch.float64) * grad_scale
            p.grad = grad.clamp(-torch.finfo(dtype).max, torch.finfo(dtype).max).to(dtype)
        opt.step()
    for p in params:
        assert p.dtype == dtype and bool(torch.isfinite(p).all()), (
            f"{name} on {dtype} with gradients ~{grad_scale}: non-finite parameters")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@given(dtype=st.sampled_from([torch.complex64, torch.int64, torch.bool, torch.float16]))
def test_parameter_dtypes(name, dtype):
    make, lr = OPTIMIZERS[name]

    def call():
        params = [torch.zeros(3, dtype=dtype)]
        if dtype.is_floating_point or dtype.is_complex:
            params[0].requires_grad_(True)
            params[0].grad = torch.ones(3, dtype=dtype)
        opt = make(params, lr=lr)
        opt.step()
        assert bool(torch.isfinite(params[0]).all())

    outcome(f"{name}.params", call, ["params", "param", "parameter", "parameters", "dtype", "eps"])


ZEROTH = {"mezo": MeZO, "qzo": QZO}
ZEROTH_ARGS = ["lr", "eps", "n_directions", "momentum", "weight_decay", "clip", "estimator",
               "update", "restore", "on_nonfinite", "rng", "distribution", "block_fraction"]


@pytest.mark.parametrize("name", list(ZEROTH))
@given(data=st.data())
def test_zeroth_constructor(name, data):
    arg = data.draw(st.sampled_from(ZEROTH_ARGS), label="arg")
    value = data.draw(sizes() if arg == "n_directions" else _hyper(), label=arg)
    # n_directions costs 2 forward passes each: a count, not a scale (a float 2e5 is accepted
    # as scipy accepts integral float counts, and is merely slow)
    assume(arg != "n_directions" or not _numbers(value) or not 1e3 < value < math.inf)

    def call():
        model = torch.nn.Linear(3, 1)
        opt = ZEROTH[name](model.parameters(), **{"lr": 1e-3, arg: value})
        x = torch.ones(5, 3)
        opt.step(lambda: model(x).pow(2).mean())
        assert all(bool(torch.isfinite(p).all()) for p in model.parameters())

    outcome(f"{name}.{arg}", call, [arg], allowed=(FloatingPointError,))


@pytest.mark.parametrize("name", list(ZEROTH))
@given(loss=st.one_of(scalars(), st.just(torch.ones(2)), st.just(torch.tensor(float("nan"))),
                      st.just(torch.tensor(1j)), st.just("loss")),
       on_nonfinite=st.sampled_from(["raise", "skip"]))
def test_zeroth_closure_values(name, loss, on_nonfinite):
    """A closure returning any value: a real finite scalar steps; a non-finite one raises
    FloatingPointError (or skips) with the parameters restored; anything else is rejected
    naming the closure."""
    model = torch.nn.Linear(3, 1)
    before = [p.detach().clone() for p in model.parameters()]
    opt = ZEROTH[name](model.parameters(), lr=1e-3, on_nonfinite=on_nonfinite)

    def call():
        opt.step(lambda: loss)
        for p in model.parameters():
            assert bool(torch.isfinite(p).all())

    kind = outcome(f"{name}.closure", call, ["closure"], allowed=(FloatingPointError,))
    if kind != "returned":  # restored: in place (restore="inplace") within float32 rounding
        for p, q in zip(model.parameters(), before):
            torch.testing.assert_close(p.detach(), q)
