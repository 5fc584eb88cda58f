"""DiffGrad against the hand-computed numbers of spec §6 and torch-optimizer's DiffGrad."""

import copy
import math

import pytest
import torch

from optkit.optim import DiffGrad


def _run_scalar(grads, eps=0.0, zero_grad_none=True, **kw):
    theta = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = DiffGrad([theta], lr=0.1, betas=(0.9, 0.999), eps=eps, **kw)
    out = []
    for g in grads:
        opt.zero_grad(set_to_none=zero_grad_none)
        if theta.grad is None:
            theta.grad = torch.tensor([g], dtype=torch.float64)
        else:
            theta.grad.add_(g)  # in-place, as backward() does after zero_grad(set_to_none=False)
        held = theta.grad
        opt.step()
        assert theta.grad is held and float(held) == g  # p.grad is never modified
        out.append(float(theta.detach()))
    return out


@pytest.mark.parametrize("zero_grad_none", [True, False])
@pytest.mark.parametrize("grads,expected,eps", [
    ([1.0, 1.0], [0.9268941421369995, 0.8768941421369999], 0.0),
    ([0.5, -1.5], [0.9377540668798146, 0.9812821629932593], 0.0),
    ([0.5, -1.5], [0.9377540681247332, 0.9812821638489287], 1e-8),
])
def test_hand_computed_two_steps(grads, expected, eps, zero_grad_none):
    got = _run_scalar(grads, eps=eps, zero_grad_none=zero_grad_none)
    assert got == pytest.approx(expected, abs=1e-14)


def test_constant_gradient_is_half_of_adam_from_step_two():
    theta = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    ref = torch.nn.Parameter(theta.detach().clone())
    opt = DiffGrad([theta], lr=0.1, eps=0.0)
    adam = torch.optim.Adam([ref], lr=0.1, eps=0.0)
    g = torch.tensor([0.3, -0.7], dtype=torch.float64)
    theta.grad, ref.grad = g.clone(), g.clone()
    opt.step()
    adam.step()
    for _ in range(4):
        before, before_ref = theta.detach().clone(), ref.detach().clone()
        opt.step()
        adam.step()
        torch.testing.assert_close(theta.detach() - before, 0.5 * (ref.detach() - before_ref),
                                   rtol=1e-12, atol=0)


def test_weight_decay_changes_the_numbers_and_leaves_grad():
    plain = _run_scalar([0.5, -1.5])
    coupled = _run_scalar([0.5, -1.5], weight_decay=0.1)
    decoupled = _run_scalar([0.5, -1.5], weight_decay=0.1, decoupled_weight_decay=True)
    assert plain != coupled and plain != decoupled and coupled != decoupled
    # decoupled: θ ← (1 − ηλ)θ first, then the plain step on the raw gradient
    assert decoupled[0] == pytest.approx(0.99 - 0.1 / (1 + math.exp(-0.5)), abs=1e-14)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("foreach", [False, True])
def test_matches_torch_optimizer_diffgrad(weight_decay, foreach):
    torch_optimizer = pytest.importorskip("torch_optimizer")
    gen = torch.Generator().manual_seed(0)
    shapes = [(4, 3), (5,)]
    ours = [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64)) for s in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt = DiffGrad(ours, lr=1e-2, eps=0.0, weight_decay=weight_decay, foreach=foreach)
    ref = torch_optimizer.DiffGrad(theirs, lr=1e-2, eps=0.0, weight_decay=weight_decay)
    for _ in range(20):
        for a, b in zip(ours, theirs):
            g = torch.randn(a.shape, generator=gen, dtype=torch.float64)
            a.grad, b.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_maximize_and_tensor_lr():
    def run(**kw):
        gen = torch.Generator().manual_seed(5)
        p = torch.nn.Parameter(torch.randn(6, generator=gen))
        opt = DiffGrad([p], **kw)
        for _ in range(5):
            p.grad = torch.randn(6, generator=gen) * (-1 if kw.get("maximize") else 1)
            opt.step()
        return p.detach()

    base = run(lr=1e-2)
    torch.testing.assert_close(run(lr=1e-2, maximize=True), base, rtol=0, atol=0)
    torch.testing.assert_close(run(lr=torch.tensor(1e-2)), base, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(run(lr=1e-2, capturable=True), base, rtol=1e-6, atol=1e-7)


def test_state_dict_round_trip_and_lazy_state():
    gen = torch.Generator().manual_seed(2)
    a = [torch.nn.Parameter(torch.randn(3, generator=gen)) for _ in range(2)]
    opt = DiffGrad(a, lr=1e-2)
    a[0].grad = torch.ones(3)
    opt.step()
    assert a[1] not in opt.state
    assert opt.state[a[0]]["step"].dtype == torch.float32
    a[1].grad = torch.ones(3)
    opt.step()
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    opt_b = DiffGrad(b, lr=1.0)
    opt_b.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(3):
        for p, q in zip(a, b):
            g = torch.randn(3, generator=gen)
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        opt_b.step()
    for p, q in zip(a, b):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": -1.0}, "Invalid learning rate"),
    ({"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1"),
    ({"eps": -1.0}, "Invalid epsilon"),
    ({"weight_decay": -0.1}, "Invalid weight_decay"),
])
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DiffGrad([torch.nn.Parameter(torch.zeros(2))], **kwargs)
