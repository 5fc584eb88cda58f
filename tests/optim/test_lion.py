"""Lion against hand-computed numbers (spec §6), lion-pytorch step for step, torch conventions."""

import copy

import pytest
import torch

from optkit.optim import Lion

THETA0 = [1.0, -1.0, 0.5, 0.2]
G1 = [0.3, -0.2, 0.0, 1.0]
G2 = [-0.1, -0.4, 0.05, -0.0895]


def _params(seed=0, dtype=torch.float32, shapes=((4, 5), (7,), (3, 2, 2))):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=dtype)) for s in shapes]


def _grads(params, step, seed=1):
    gen = torch.Generator().manual_seed(seed * 1000 + step)
    return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]


def _run(opt, params, steps, seed=1):
    for t in range(steps):
        for p, g in zip(params, _grads(params, t, seed)):
            p.grad = g
        opt.step()


@pytest.mark.parametrize("foreach", [False, True])
def test_hand_computed_two_steps(foreach):
    theta = torch.nn.Parameter(torch.tensor(THETA0, dtype=torch.float64))
    opt = Lion([theta], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5, foreach=foreach)
    theta.grad = torch.tensor(G1, dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(theta.detach(), torch.tensor([0.85, -0.85, 0.475, 0.09],
                                                            dtype=torch.float64), rtol=0, atol=1e-12)
    theta.grad = torch.tensor(G2, dtype=torch.float64)
    opt.step()
    torch.testing.assert_close(theta.detach(),
                               torch.tensor([0.9075, -0.7075, 0.35125, -0.0145], dtype=torch.float64),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(opt.state[theta]["exp_avg"],
                               torch.tensor([0.00197, -0.00598, 0.0005, 0.009005],
                                            dtype=torch.float64), rtol=0, atol=1e-12)


def test_keras_golden_vector():
    x = torch.nn.Parameter(torch.tensor([1.0]))
    opt = Lion([x], lr=1e-3)
    for k, g in enumerate([0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], start=1):
        x.grad = torch.tensor([g])
        opt.step()
        torch.testing.assert_close(x.detach(), torch.tensor([1.0 - 1e-3 * k]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_matches_lion_pytorch_bitwise(foreach, decoupled):
    lion_pytorch = pytest.importorskip("lion_pytorch")
    ours, theirs = _params(), _params()
    mode = "initial_lr_normalized" if decoupled else "lr_scaled"
    wd = 0.3 if decoupled else 0.5
    opt = Lion(ours, lr=3e-2, betas=(0.9, 0.99), weight_decay=wd, weight_decay_mode=mode,
               foreach=foreach)
    ref = lion_pytorch.Lion(theirs, lr=3e-2, betas=(0.9, 0.99), weight_decay=wd,
                            decoupled_weight_decay=decoupled)
    for t in range(30):
        for a, b, g in zip(ours, theirs, _grads(ours, t)):
            a.grad, b.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b), f"step {t}"
            assert torch.equal(opt.state[a]["exp_avg"], ref.state[b]["exp_avg"])


def test_maximize_is_lion_on_negated_gradient_and_keeps_grad():
    a, b = _params(), _params()
    opt_a = Lion(a, lr=1e-2, weight_decay=0.1, maximize=True)
    opt_b = Lion(b, lr=1e-2, weight_decay=0.1)
    for t in range(5):
        grads = _grads(a, t)
        for p, q, g in zip(a, b, grads):
            p.grad, q.grad = g.clone(), -g
        opt_a.step()
        opt_b.step()
        for p, g in zip(a, grads):
            assert torch.equal(p.grad, g)
    for p, q in zip(a, b):
        assert torch.equal(p, q)


@pytest.mark.parametrize("kappa,opts", [("sign", None), ("l2", None), ("huber", {"e": 0.5}),
                                        ("nuclear", None)])
def test_tensor_lr_matches_float_lr(kappa, opts):
    shapes = ((4, 5), (3, 6))
    a, b = _params(shapes=shapes), _params(shapes=shapes)
    opt_a = Lion(a, lr=0.25, weight_decay=0.5, kappa=kappa, kappa_options=opts)
    opt_b = Lion(b, lr=torch.tensor(0.25), weight_decay=0.5, kappa=kappa, kappa_options=opts)
    _run(opt_a, a, 6)
    _run(opt_b, b, 6)
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_scheduler_fills_tensor_lr_in_place():
    params = _params()
    opt = Lion(params, lr=torch.tensor(0.1))
    lr_tensor = opt.param_groups[0]["lr"]
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    _run(opt, params, 1)
    sched.step()
    assert opt.param_groups[0]["lr"] is lr_tensor
    assert float(lr_tensor) == pytest.approx(0.05)


def test_lazy_state_with_intermittent_gradients():
    a, b = _params(), _params()
    opt = Lion(a, lr=1e-2)
    a[1].grad = None
    a[0].grad, a[2].grad = torch.ones_like(a[0]), torch.ones_like(a[2])
    opt.step()
    assert a[1] not in opt.state and torch.equal(a[1], b[1])
    a[1].grad = torch.ones_like(a[1])
    opt.step()
    assert opt.state[a[1]]["exp_avg"].shape == a[1].shape
    torch.testing.assert_close(a[1].detach(), b[1].detach() - 1e-2)


@pytest.mark.parametrize("kappa", ["sign", "tanh"])
def test_state_dict_round_trip_mid_run(kappa):
    opts = {"e": 0.1} if kappa == "tanh" else None
    a = _params()
    opt = Lion(a, lr=1e-2, weight_decay=0.1, kappa=kappa, kappa_options=opts)
    _run(opt, a, 3)
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    opt_b = Lion(b, lr=1.0, kappa=kappa, kappa_options=opts)
    opt_b.load_state_dict(copy.deepcopy(opt.state_dict()))
    for t in range(3, 6):
        for p, q, g in zip(a, b, _grads(a, t)):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        opt_b.step()
    for p, q in zip(a, b):
        assert torch.equal(p, q)


def test_bf16_params_with_fp32_momentum_survive_state_dict():
    params = _params(dtype=torch.bfloat16)
    opt = Lion(params, lr=1e-2, betas=(0.9, 0.999), momentum_dtype=torch.float32)
    _run(opt, params, 2)
    assert all(opt.state[p]["exp_avg"].dtype == torch.float32 for p in params)
    assert all(p.dtype == torch.bfloat16 for p in params)
    other = Lion(params, lr=1e-2, betas=(0.9, 0.999), momentum_dtype=torch.float32)
    sd = opt.state_dict()
    other.load_state_dict(sd)
    for p in params:
        assert other.state[p]["exp_avg"].dtype == torch.float32
        assert torch.equal(other.state[p]["exp_avg"], opt.state[p]["exp_avg"])


def test_complex_parameter_equals_its_real_view():
    z = torch.nn.Parameter(torch.randn(5, dtype=torch.complex64, generator=torch.Generator().manual_seed(3)))
    r = torch.nn.Parameter(torch.view_as_real(z.detach()).clone())
    opt_z, opt_r = Lion([z], lr=0.1, weight_decay=0.2), Lion([r], lr=0.1, weight_decay=0.2)
    for t in range(4):
        g = torch.randn(5, dtype=torch.complex64, generator=torch.Generator().manual_seed(t))
        z.grad, r.grad = g, torch.view_as_real(g).clone()
        opt_z.step()
        opt_r.step()
    assert torch.equal(torch.view_as_real(z.detach()), r.detach())


def test_closure_runs_under_grad_and_returns_loss():
    w = torch.nn.Parameter(torch.tensor([2.0, -3.0]))
    opt = Lion([w], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = opt.step(closure)
    assert float(loss.detach()) == 13.0
    torch.testing.assert_close(w.detach(), torch.tensor([1.5, -2.5]))


def test_callable_kappa_equals_builtin():
    a, b = _params(), _params()
    opt_a = Lion(a, lr=0.1, kappa=torch.tanh)
    opt_b = Lion(b, lr=0.1, kappa="tanh", kappa_options={"e": 1.0})
    _run(opt_a, a, 4)
    _run(opt_b, b, 4)
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q)


@pytest.mark.parametrize("kwargs,match", [
    ({"lr": -1.0}, "Invalid learning rate"),
    ({"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0"),
    ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1"),
    ({"weight_decay": -1.0}, "Invalid weight_decay"),
    ({"lr": 0.5, "weight_decay": 3.0}, "exceeds 1"),
    ({"kappa": "l3"}, "Invalid kappa"),
    ({"kappa": "huber"}, r"kappa_options\['e'\]"),
    ({"kappa": "lp", "kappa_options": {"p": 1.0}}, r"kappa_options\['p'\]"),
    ({"kappa": "sorted", "kappa_options": {"weights": [1.0, 2.0]}}, "non-increasing"),
    ({"kappa_options": {"width": 1.0}}, "unknown kappa_options"),
    ({"weight_decay_mode": "coupled"}, "weight_decay_mode"),
])
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Lion(_params(), **kwargs)


def test_nuclear_rejects_vectors_naming_the_parameter():
    model = torch.nn.Linear(3, 2)
    with pytest.raises(ValueError, match="bias"):
        Lion(model.named_parameters(), kappa="nuclear")
    Lion([{"params": [model.weight], "kappa": "nuclear"}, {"params": [model.bias]}], lr=1e-3)


def test_implied_constraints_reports_box_and_activity():
    w = torch.nn.Parameter(torch.tensor([0.05, -0.2]))
    opt = Lion([w], lr=1e-2, weight_decay=10.0)
    (info,) = opt.implied_constraints()
    assert info["norm"] == "linf" and info["radius"] == pytest.approx(0.1)
    assert info["active"] is True and info["value"] == pytest.approx(0.2)
    opt2 = Lion([w], lr=1e-4, weight_decay=0.1, kappa="l2", kappa_options={"scale": 2.0})
    (info2,) = opt2.implied_constraints()
    assert info2["radius"] == pytest.approx(20.0) and info2["active"] is False
    opt3 = Lion([w], lr=1e-3, weight_decay=0.0)
    assert opt3.implied_constraints()[0]["radius"] == float("inf")


def _state_bytes(opt):
    return sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values()
               if torch.is_tensor(v) and v.dim() > 0)


def test_state_is_one_buffer_half_of_adamw():
    a, b = _params(), _params()
    lion, adamw = Lion(a, lr=1e-3), torch.optim.AdamW(b, lr=1e-3)
    _run(lion, a, 1)
    _run(adamw, b, 1)
    n_bytes = sum(p.numel() * p.element_size() for p in a)
    assert _state_bytes(lion) == n_bytes
    assert 2 * _state_bytes(lion) == _state_bytes(adamw)


def test_minimize_face_runs_lion_on_numpy():
    import numpy as np

    import optkit

    c = np.array([0.3, -0.2, 0.5])
    res = optkit.minimize(lambda x: 0.5 * float(np.sum((x - c) ** 2)), np.zeros(3),
                          method="lion", jac=lambda x: x - c,
                          options={"lr": 1e-2, "maxiter": 300, "weight_decay": 2.0})
    # λ = 2: the box ‖x‖∞ ≤ 1/2 clips 0.5 and leaves the rest; Lion oscillates at ≈ lr
    np.testing.assert_allclose(res.x, np.clip(c, -0.5, 0.5), atol=2e-2)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kappa", ["sign", "l2"])
def test_compiled_step_matches_eager_on_cuda(kappa):
    def make():
        params = [p.detach().cuda().requires_grad_() for p in _params()]
        return params, Lion(params, lr=torch.tensor(1e-2, device="cuda"), weight_decay=0.1,
                            kappa=kappa, foreach=True)

    pa, opt_a = make()
    pb, opt_b = make()
    compiled = torch.compile(opt_b.step)
    for t in range(4):
        for p, q, g in zip(pa, pb, _grads(pa, t)):
            p.grad, q.grad = g.cuda(), g.cuda()
        opt_a.step()
        compiled()
    for p, q in zip(pa, pb):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
