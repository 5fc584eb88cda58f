"""QuantLinear / quantize_model: round trip, packing, error bound, gradients, state_dict, bad input."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from optkit.zeroth import QuantLinear, memory_report, quantize_model, scale_parameters
from optkit.zeroth.quant import pack_int4, unpack_int4

torch.set_num_threads(1)


def _linear(k=64, n=24, seed=0, bias=True):
    torch.manual_seed(seed)
    return nn.Linear(k, n, bias=bias)


def _reference_dequant(weight, bits, g, symmetric):
    """numpy min-max RTN (with 0 in the range) written from the definition, float64."""
    w = weight.detach().double().numpy().reshape(weight.shape[0], -1, g)
    top = 2 ** bits - 1
    if symmetric:
        half = 2 ** (bits - 1) - 1
        delta = np.abs(w).max(-1) / half
        q = np.clip(np.round(w / delta[..., None]), -half, half)
        return (q * delta[..., None]).reshape(weight.shape), delta
    lo, hi = np.minimum(w.min(-1), 0), np.maximum(w.max(-1), 0)
    delta = (hi - lo) / top
    zp = np.clip(np.round(-lo / delta), 0, top)
    q = np.clip(np.round(w / delta[..., None]) + zp[..., None], 0, top)
    return ((q - zp[..., None]) * delta[..., None]).reshape(weight.shape), delta


@pytest.mark.parametrize("bits, storage, symmetric, g", [
    (4, "packed", False, 32), (4, "int8", False, 16), (4, "packed", True, 64), (8, "packed", False, 32),
    (8, "int8", True, 8)])
def test_round_trip_error_is_at_most_half_a_step(bits, storage, symmetric, g):
    lin = _linear()
    q = QuantLinear.from_linear(lin, bits=bits, group_size=g, symmetric=symmetric, storage=storage)
    w_hat = q.dequantize().double()
    delta = q.scales.detach().double().repeat_interleave(g, dim=1)
    err = (w_hat - lin.weight.detach().double()).abs()
    assert bool((err <= delta / 2 * (1 + 1e-5) + 1e-7).all())
    ref, ref_delta = _reference_dequant(lin.weight, bits, g, symmetric)
    assert np.allclose(q.scales.detach().double().numpy(), ref_delta, rtol=1e-6)
    mismatch = np.abs(w_hat.numpy() - ref) > 1e-5
    assert mismatch.mean() < 1e-3  # only rounding ties may differ between fp32 and fp64
    expected_width = 32 if (bits == 4 and storage == "packed") else 64
    assert q.codes.shape == (24, expected_width) and q.codes.dtype == torch.uint8
    assert q.scales.dtype == torch.float32 and q.scales.shape == (24, 64 // g)
    assert int(q.int_codes().max()) <= 2 ** bits - 1
    x = torch.randn(5, 64)
    assert torch.allclose(q(x), x @ w_hat.float().T + lin.bias, atol=1e-5)


def test_pack_unpack_round_trip_and_nibble_order():
    codes = torch.randint(0, 16, (7, 10), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    packed = pack_int4(codes)
    assert packed.shape == (7, 5)
    assert torch.equal(packed & 0x0F, codes[:, 0::2])  # low nibble = even column
    assert torch.equal(packed >> 4, codes[:, 1::2])
    assert torch.equal(unpack_int4(packed), codes)


def test_zero_group_gets_tiny_scale_and_exact_zeros():
    lin = _linear(k=32, n=2)
    with torch.no_grad():
        lin.weight[0] = 0
    q = QuantLinear.from_linear(lin, group_size=32)
    assert float(q.scales[0, 0]) == pytest.approx(1e-8)
    assert torch.equal(q.dequantize()[0], torch.zeros(32))


def test_scale_gradient_matches_finite_difference_projection():
    lin = _linear(k=32, n=8, seed=1)
    q = QuantLinear.from_linear(lin, group_size=8).double()
    x = torch.randn(20, 32, dtype=torch.float64)
    y = torch.randn(20, 8, dtype=torch.float64)
    q.scales.requires_grad_(True)
    loss = ((q(x) - y) ** 2).mean()
    (grad,) = torch.autograd.grad(loss, q.scales)
    z = torch.randn(q.scales.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    h = 1e-6
    with torch.no_grad():
        base = q.scales.clone()
        q.scales.copy_(base + h * z)
        lp = float(((q(x) - y) ** 2).mean())
        q.scales.copy_(base - h * z)
        lm = float(((q(x) - y) ** 2).mean())
        q.scales.copy_(base)
    assert (lp - lm) / (2 * h) == pytest.approx(float((grad * z).sum()), rel=1e-6)


def test_state_dict_round_trip():
    lin = _linear(k=64, n=16, seed=3)
    q = QuantLinear.from_linear(lin, group_size=32)
    fresh = QuantLinear(64, 16, group_size=32)
    fresh.load_state_dict(q.state_dict())
    x = torch.randn(4, 64)
    assert torch.equal(fresh(x), q(x))
    assert set(q.state_dict()) == {"codes", "zero_points", "scales", "bias"}
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4))
    qm, _ = quantize_model(model, group_size=32)
    qm2, _ = quantize_model(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4)),
                            group_size=32)
    qm2.load_state_dict(qm.state_dict())
    assert torch.equal(qm2(x), qm(x))


def test_quantize_model_skips_and_reports_and_copies():
    model = nn.Sequential(nn.Linear(64, 30), nn.ReLU(), nn.Linear(30, 10), nn.Linear(10, 64))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.warns(UserWarning, match="left 2 linear layer") as record:
        qm, skipped = quantize_model(model, bits=4, group_size=32)
    message = str(record[0].message)
    assert "'2': group_size=32 does not divide in_features=30" in message
    assert "'3': group_size=32 does not divide in_features=10" in message
    assert isinstance(qm[0], QuantLinear) and isinstance(qm[3], nn.Linear)
    assert set(skipped) == {"2", "3"} and "does not divide" in skipped["2"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # not mutated
    assert isinstance(model[0], nn.Linear)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # layers the user excluded are not warned about
        qm, skipped = quantize_model(model, group_size=2, exclude=["3"])
        assert skipped == {"3": "excluded by include/exclude"}
        qm, skipped = quantize_model(model, group_size=2, include="0")
    assert set(skipped) == {"2", "3"} and isinstance(qm[0], QuantLinear)
    same, _ = quantize_model(model, group_size=2, inplace=True)
    assert same is model and isinstance(model[0], QuantLinear)
    assert len(list(scale_parameters(model))) == 3


def test_memory_report_counts_real_tensors():
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8))
    qm, _ = quantize_model(model, bits=4, group_size=32)
    rep = memory_report(qm)
    assert rep["codes"] == 32 * 32 + 8 * 16  # two int4 per byte
    assert rep["scales"] == 4 * (32 * 2 + 8 * 1) and rep["zero_points"] == 32 * 2 + 8 * 1
    assert rep["weights"] == 4 * (32 + 8)  # the biases
    assert rep["persistent"] == sum(t.numel() * t.element_size()
                                    for t in list(qm.parameters()) + list(qm.buffers()))
    assert rep["transient_dequant"] == 4 * 32 * 64
    adam = torch.optim.Adam(model.parameters())
    model[0](torch.randn(2, 64)).sum().backward()
    adam.step()
    rep = memory_report(model, adam)
    n0 = 64 * 32 + 32
    assert rep["grads"] == 4 * n0
    assert rep["optimizer_state"] == 2 * 4 * n0 + 2 * 4  # exp_avg, exp_avg_sq, two step scalars


@pytest.mark.parametrize("kwargs, exc, word", [
    (dict(bits=3), ValueError, "bits"), (dict(bits=16), ValueError, "bits"),
    (dict(group_size=24), ValueError, "group_size"), (dict(group_size=0), ValueError, "group_size"),
    (dict(storage="int2"), ValueError, "storage"), (dict(group_size=2.0), TypeError, "group_size"),
])
def test_bad_quantization_arguments(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        QuantLinear.from_linear(_linear(k=64), **kwargs)


def test_bad_model_arguments():
    with pytest.raises(TypeError, match="model"):
        quantize_model("model")
    with pytest.raises(ValueError, match="bits"):
        quantize_model(nn.Linear(4, 4), bits=2)
    with pytest.raises(TypeError, match="linear"):
        QuantLinear.from_linear(nn.Conv1d(2, 2, 1))
    lin = _linear(k=32)
    with torch.no_grad():
        lin.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        QuantLinear.from_linear(lin, group_size=32)


def test_quantize_model_warns_about_odd_widths_under_packed_int4():
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.warns(UserWarning, match="'0': packed int4 needs an even in_features, got 3"):
        qm, skipped = quantize_model(model, group_size=1)
    assert set(skipped) == {"0"} and isinstance(qm[2], QuantLinear)
