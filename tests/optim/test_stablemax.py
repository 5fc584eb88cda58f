"""StableMax against its definition s(z)/Σ s(z) (spec §4, §6) and the collapse diagnostic."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from optkit.optim import (
    log_stablemax,
    softmax_collapse_fraction,
    stablemax,
    stablemax_cross_entropy,
    symlog,
)


def _s_numpy(z):
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, z + 1, 1 / (1 - np.minimum(z, 0)))


def _logits(scale=20.0, shape=(64, 113), seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=dtype) * scale


def test_stablemax_is_s_over_its_sum():
    z = _logits()
    s = _s_numpy(z.numpy())
    expected = s / s.sum(-1, keepdims=True)
    np.testing.assert_allclose(stablemax(z).numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(log_stablemax(z).numpy(), np.log(expected), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stablemax(z.T, dim=0).numpy(), expected.T, rtol=0, atol=1e-12)


def test_cross_entropy_is_minus_log_stablemax():
    z = _logits(shape=(32, 7))
    y = torch.randint(0, 7, (32,), generator=torch.Generator().manual_seed(1))
    s = _s_numpy(z.numpy())
    p = s / s.sum(-1, keepdims=True)
    nll = -np.log(p[np.arange(32), y.numpy()])
    np.testing.assert_allclose(stablemax_cross_entropy(z, y).item(), nll.mean(), rtol=1e-12)
    np.testing.assert_allclose(stablemax_cross_entropy(z, y, reduction="none").numpy(), nll,
                               rtol=1e-12)
    # fp32 input computes in fp32; dtype=float64 upcasts
    assert stablemax_cross_entropy(z.float(), y).dtype == torch.float32
    assert stablemax_cross_entropy(z.float(), y, dtype=torch.float64).dtype == torch.float64
    w = torch.rand(7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = (w[y].numpy() * nll).sum() / w[y].numpy().sum()
    np.testing.assert_allclose(stablemax_cross_entropy(z, y, weight=w).item(), expected, rtol=1e-12)


def test_symlog_gradient_is_one_over_one_plus_abs():
    z = torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
    symlog(z).sum().backward()
    torch.testing.assert_close(z.grad, 1 / (1 + z.detach().abs()), rtol=0, atol=0)
    np.testing.assert_allclose(symlog(z).detach().numpy(), np.log(_s_numpy(z.detach().numpy())),
                               rtol=1e-15)


def test_zero_initialised_head_gets_a_gradient():
    z = torch.zeros(2, 5, requires_grad=True)
    stablemax_cross_entropy(z, torch.tensor([1, 3])).backward()
    assert z.grad.abs().sum() > 0 and torch.isfinite(z.grad).all()


def test_huge_logits_stay_finite_where_softmax_collapses():
    z = torch.tensor([[1e30, -1e30, 0.0, 5.0], [-1e30, 1e30, 1e29, -3.0]], requires_grad=True)
    y = torch.tensor([0, 2])
    loss = stablemax_cross_entropy(z, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    p = stablemax(z).detach()
    assert torch.isfinite(p).all()
    s = _s_numpy(z.detach().numpy())
    np.testing.assert_allclose(p.numpy(), s / s.sum(-1, keepdims=True), rtol=1e-5, atol=1e-38)
    assert (p[0, 2:] > 0).all() and (torch.softmax(z.detach(), -1)[0, 2:] == 0).all()
    # softmax: exact 0/1 probabilities (collapse); StableMax keeps every class > 0
    assert softmax_collapse_fraction(z.detach()).item() == 1.0
    # StableMax collapses only for margins ~1e8+ in fp32: row 0 (1e30) does, row 1 does not
    assert softmax_collapse_fraction(z.detach(), kind="stablemax").item() == 0.5
    small, large = _margin_logits(1e7, torch.float32), _margin_logits(1e10, torch.float32)
    assert softmax_collapse_fraction(small, kind="stablemax").item() == 0.0
    assert softmax_collapse_fraction(large, kind="stablemax").item() == 1.0


def _margin_logits(margin, dtype, rows=4, classes=113):
    z = torch.zeros(rows, classes, dtype=dtype)
    z[:, 0] = margin
    return z


@pytest.mark.parametrize("dtype,low,high", [(torch.float32, 10.0, 30.0),
                                            (torch.float16, 5.0, 15.0)])
def test_collapse_fraction_thresholds(dtype, low, high):
    assert softmax_collapse_fraction(_margin_logits(low, dtype)).item() == 0.0
    assert softmax_collapse_fraction(_margin_logits(high, dtype)).item() == 1.0
    z = torch.cat([_margin_logits(low, dtype, rows=1), _margin_logits(high, dtype, rows=3)])
    assert softmax_collapse_fraction(z).item() == 0.75
    # with a target, only rows whose max is the target count
    y = torch.tensor([0, 0, 5, 0])
    assert softmax_collapse_fraction(z, y).item() == 0.5
    # the fp32 threshold moves to fp64
    assert softmax_collapse_fraction(_margin_logits(30.0, torch.float32), dtype=torch.float64) == 0


def test_collapse_fraction_matches_the_definition_on_random_rows():
    z = _logits(scale=15.0, shape=(200, 11), seed=3, dtype=torch.float32)
    zs = z.numpy()
    expected = np.mean([np.exp(r - r.max()).astype(np.float32).sum(dtype=np.float32) == 1
                        for r in zs])
    got = softmax_collapse_fraction(z).item()
    assert got == pytest.approx(expected, abs=0.02)  # reduction order may flip a borderline row
    assert 0 < got < 1


def test_bad_inputs():
    with pytest.raises(ValueError, match="kind"):
        softmax_collapse_fraction(torch.zeros(2, 3), kind="sparsemax")
    with pytest.raises(TypeError, match="input"):
        stablemax_cross_entropy(torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]))
    assert F.cross_entropy  # the fused kernel is what stablemax_cross_entropy calls
