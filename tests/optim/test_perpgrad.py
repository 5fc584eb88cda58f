"""⊥Grad: projection identities (spec §3, §6), closure order, proxying of groups and state."""

import copy

import pytest
import torch

from optkit.optim import Lion, PerpGrad


def _model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3)).to(dtype)


def _batch(seed=1, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(16, 5, generator=gen, dtype=dtype), torch.randint(0, 3, (16,), generator=gen)


def _loss(model, x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


def _grads(model, seed=1):
    model.zero_grad()
    _loss(model, *_batch(seed, next(model.parameters()).dtype)).backward()
    return [p.grad.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("rescale", [False, True])
def test_projected_gradient_is_orthogonal_and_a_descent_direction(rescale):
    model = _model()
    grads = _grads(model)
    opt = PerpGrad(torch.optim.SGD, model.parameters(), lr=0.1, rescale=rescale)
    opt.project_()
    for p, g in zip(model.parameters(), grads):
        w, gp, g = p.detach().reshape(-1), p.grad.reshape(-1), g.reshape(-1)
        assert abs(torch.dot(w, gp)) <= 1e-6 * w.norm() * g.norm()
        if rescale:
            torch.testing.assert_close(gp.norm(), g.norm())
        else:
            torch.testing.assert_close(torch.dot(g, gp), gp.norm() ** 2, rtol=1e-5, atol=1e-9)


def test_projecting_twice_is_projecting_once():
    model = _model(dtype=torch.float64)
    _grads(model)
    opt = PerpGrad(torch.optim.SGD, model.parameters(), lr=0.1)
    opt.project_()
    once = [p.grad.clone() for p in model.parameters()]
    opt.project_()
    for p, g in zip(model.parameters(), once):
        torch.testing.assert_close(p.grad, g, rtol=0, atol=1e-15)


def test_perp_sgd_grows_the_norm_by_pythagoras():
    model = _model(dtype=torch.float64)
    before = [p.detach().clone() for p in model.parameters()]
    _grads(model)
    opt = PerpGrad(torch.optim.SGD, model.parameters(), lr=0.3)
    opt.step()
    for p, w in zip(model.parameters(), before):
        lhs = p.detach().norm() ** 2
        rhs = w.norm() ** 2 + 0.3 ** 2 * p.grad.norm() ** 2
        torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_zero_tensor_keeps_its_gradient_without_nan(dtype):
    p = torch.nn.Parameter(torch.zeros(4, 3, dtype=dtype))
    g = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)).to(dtype)
    p.grad = g.clone()
    for rescale in (False, True):
        PerpGrad(torch.optim.SGD, [p], lr=0.1, rescale=rescale).project_()
        assert torch.isfinite(p.grad).all()
        torch.testing.assert_close(p.grad, g)


def test_channels_last_and_complex_parameters():
    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    conv(torch.randn(2, 3, 6, 6).to(memory_format=torch.channels_last)).sum().backward()
    z = torch.nn.Parameter(torch.randn(5, dtype=torch.complex64))
    z.grad = torch.randn(5, dtype=torch.complex64)
    opt = PerpGrad(torch.optim.SGD, [conv.weight, z], lr=0.1)
    opt.project_()
    w, gp = conv.weight.detach().reshape(-1), conv.weight.grad.reshape(-1)
    assert abs(torch.dot(w, gp)) <= 1e-6 * w.norm() * gp.norm()
    zr, gr = torch.view_as_real(z.detach()).reshape(-1), torch.view_as_real(z.grad).reshape(-1)
    assert abs(torch.dot(zr, gr)) <= 1e-6 * zr.norm() * gr.norm()


def test_closure_run_equals_closure_free_run():
    x, y = _batch()
    m1, m2 = _model(), _model()
    o1 = PerpGrad(torch.optim.AdamW, m1.parameters(), lr=1e-2, weight_decay=0.0)
    o2 = PerpGrad(torch.optim.AdamW, m2.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(3):
        def closure():
            o1.zero_grad()
            loss = _loss(m1, x, y)
            loss.backward()
            return loss

        loss1 = o1.step(closure)
        o2.zero_grad()
        loss2 = _loss(m2, x, y)
        loss2.backward()
        o2.step()
        assert float(loss1.detach()) == float(loss2.detach())
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)


def test_groups_and_state_are_the_base_s_also_after_loading():
    model = _model()
    base = torch.optim.AdamW(model.parameters(), lr=1e-2)
    opt = PerpGrad(base)
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.param_groups is base.param_groups and opt.state is base.state
    _grads(model)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    assert sd["param_groups"][0]["perp"] is True
    opt.load_state_dict(sd)
    assert opt.param_groups is base.param_groups and opt.state is base.state
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    _grads(model)
    opt.step()
    sched.step()
    assert base.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_state_dict_round_trip_resumes_bit_exactly():
    m1, m2 = _model(), _model()
    o1 = PerpGrad(Lion, m1.parameters(), lr=1e-3, weight_decay=0.1)
    for s in range(3):
        _grads(m1, s)
        o1.step()
    m2.load_state_dict(m1.state_dict())
    o2 = PerpGrad(Lion, m2.parameters(), lr=1.0)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    for s in range(3, 6):
        _grads(m1, s)
        _grads(m2, s)
        o1.step()
        o2.step()
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)


def test_all_base_kwargs_reach_the_base_and_perp_can_be_off():
    model = _model()
    opt = PerpGrad(torch.optim.AdamW, model.parameters(), lr=0.01, betas=(0.8, 0.9), eps=1e-6,
                   weight_decay=0.0)
    group = opt.base.param_groups[0]
    assert (group["betas"], group["eps"], group["weight_decay"]) == ((0.8, 0.9), 1e-6, 0.0)
    opt.param_groups[0]["perp"] = False
    grads = _grads(model)
    opt.project_()
    for p, g in zip(model.parameters(), grads):
        assert torch.equal(p.grad, g)


def test_bad_arguments():
    model = _model()
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="params"):
        PerpGrad(base, model.parameters())
    with pytest.raises(ValueError, match="must be empty"):
        PerpGrad(base, lr=0.1)
    with pytest.raises(ValueError, match="params is required"):
        PerpGrad(torch.optim.SGD, lr=0.1)
    with pytest.raises(TypeError, match="base"):
        PerpGrad("adamw", model.parameters())
    emb = torch.nn.Embedding(4, 2, sparse=True)
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        PerpGrad(torch.optim.SGD, emb.parameters(), lr=0.1).step()


def test_deepcopy_keeps_the_wrapper_linked_to_its_own_base():
    opt = PerpGrad(torch.optim.AdamW, _model().parameters(), lr=1e-2)
    clone = copy.deepcopy(opt)
    assert clone.param_groups is clone.base.param_groups
    assert clone.param_groups is not opt.param_groups


@pytest.mark.parametrize("base", [torch.optim.SGD, torch.optim.AdamW])
def test_rescale_matches_pytorch_optimizer_orthograd(base):
    peer = pytest.importorskip("pytorch_optimizer")
    m1, m2 = _model(), _model()
    ours = PerpGrad(base, m1.parameters(), rescale=True, lr=1e-2)
    theirs = peer.OrthoGrad(base(m2.parameters(), lr=1e-2))
    for s in range(5):
        _grads(m1, s)
        _grads(m2, s)
        ours.step()
        theirs.step()
    for p, q in zip(m1.parameters(), m2.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("rescale", [False, True])
@pytest.mark.parametrize("value", [5.0, -0.37, 1e-3, 1e4])
def test_one_element_tensor_gets_an_exactly_zero_projection(value, rescale):
    # g ∥ w for a single element: g⊥ = 0 exactly; a 3e-8 remainder made AdamW step ±lr
    p = torch.nn.Parameter(torch.tensor([value]))
    opt = PerpGrad(torch.optim.AdamW, [p], lr=0.1, weight_decay=0.0, rescale=rescale)
    for _ in range(5):
        opt.zero_grad()
        ((p - 3.1) ** 2).sum().backward()
        opt.step()
        assert torch.equal(p.grad, torch.zeros(1))
    assert p.item() == torch.tensor(value).item()


def test_gradient_parallel_to_the_weights_projects_to_zero():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 5, generator=gen)
    for scale in (0.37, -3.3, 1e-5):
        p = torch.nn.Parameter(w.clone())
        p.grad = scale * w
        PerpGrad(torch.optim.SGD, [p], lr=0.1).project_()
        assert torch.equal(p.grad, torch.zeros_like(w))


def test_a_small_true_perpendicular_component_is_kept():
    w = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    p = torch.nn.Parameter(w.clone())
    p.grad = torch.tensor([1.0, 1e-9, 0.0], dtype=torch.float64)
    PerpGrad(torch.optim.SGD, [p], lr=0.1).project_()
    torch.testing.assert_close(p.grad, torch.tensor([0.0, 1e-9, 0.0], dtype=torch.float64),
                               rtol=1e-12, atol=1e-25)


def _optimizer(wrapped):
    """A plain AdamW, or a PerpGrad over AdamW: the hooks must behave the same on both."""
    if wrapped:
        return PerpGrad(torch.optim.AdamW, _model().parameters(), lr=1e-2)
    return torch.optim.AdamW(_model().parameters(), lr=1e-2)


@pytest.mark.parametrize("wrapped", [False, True])
def test_state_dict_hooks_fire_as_on_a_plain_optimizer(wrapped):
    opt = _optimizer(wrapped)
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append(("pre", o)))

    def post(o, sd):
        calls.append(("post", o))
        return {**sd, "extra": 1}

    opt.register_state_dict_post_hook(post)
    sd = opt.state_dict()
    assert calls == [("pre", opt), ("post", opt)]
    assert sd["extra"] == 1


@pytest.mark.parametrize("wrapped", [False, True])
def test_load_state_dict_hooks_fire_as_on_a_plain_optimizer(wrapped):
    opt = _optimizer(wrapped)
    sd = copy.deepcopy(opt.state_dict())
    sd["param_groups"][0]["lr"] = 0.5
    calls = []

    def pre(o, state_dict):
        calls.append(("pre", o))
        state_dict = copy.deepcopy(state_dict)
        state_dict["param_groups"][0]["lr"] = 0.25
        return state_dict

    opt.register_load_state_dict_pre_hook(pre)
    opt.register_load_state_dict_post_hook(lambda o: calls.append(("post", o)))
    opt.load_state_dict(sd)
    assert calls == [("pre", opt), ("post", opt)]
    assert opt.param_groups[0]["lr"] == 0.25


@pytest.mark.parametrize("wrapped", [False, True])
def test_step_hooks_fire_once_per_step_as_on_a_plain_optimizer(wrapped):
    from torch.optim.optimizer import (
        register_optimizer_step_post_hook,
        register_optimizer_step_pre_hook,
    )

    opt = _optimizer(wrapped)
    calls = []
    handles = [
        opt.register_step_pre_hook(lambda o, a, k: calls.append(("pre", o))),
        opt.register_step_post_hook(lambda o, a, k: calls.append(("post", o))),
        register_optimizer_step_pre_hook(lambda o, a, k: calls.append(("global-pre", o))),
        register_optimizer_step_post_hook(lambda o, a, k: calls.append(("global-post", o))),
    ]
    try:
        opt.step()
    finally:
        for h in handles:
            h.remove()
    assert calls == [("global-pre", opt), ("pre", opt), ("post", opt), ("global-post", opt)]


def test_hooks_registered_on_the_wrapped_instance_still_fire():
    model = _model()
    base = torch.optim.AdamW(model.parameters(), lr=1e-2)
    calls = []
    base.register_step_pre_hook(lambda o, a, k: calls.append(("pre", o)))
    base.register_step_post_hook(lambda o, a, k: calls.append(("post", o)))
    opt = PerpGrad(base)
    _grads(model)
    opt.step()
    assert calls == [("pre", base), ("post", base)]


def test_perp_sgd_and_perp_adamw_are_exported_and_fix_the_base():
    from optkit.optim import PerpAdamW, PerpSGD

    sgd = PerpSGD(_model().parameters(), lr=0.1, momentum=0.9)
    adamw = PerpAdamW(_model().parameters(), lr=1e-2, eps=1e-6)
    assert isinstance(sgd.base, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    assert isinstance(adamw.base, torch.optim.AdamW)
    assert (adamw.param_groups[0]["eps"], adamw.param_groups[0]["weight_decay"]) == (1e-6, 0.0)
    assert adamw.perp_eps == 1e-30
