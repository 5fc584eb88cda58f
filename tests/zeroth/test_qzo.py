"""QZO on quantized models: scales only, clipping bound, floor, frozen codes, memory."""

import pytest
import torch
from torch import nn

from optkit.zeroth import QZO, MeZO, memory_report, quantize_model, scale_parameters

torch.set_num_threads(1)


def _task(seed=0):
    torch.manual_seed(seed)
    teacher = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 4))
    x = torch.randn(256, 32)
    y = teacher(x).argmax(1)
    student, _ = quantize_model(teacher, bits=4, group_size=16)
    with torch.no_grad():  # move the scales away from the teacher's
        for s in scale_parameters(student):
            s.mul_(torch.exp(0.3 * torch.randn(s.shape)))
    student.eval()
    return student, lambda: nn.functional.cross_entropy(student(x), y)


def test_qzo_trains_scales_only_and_keeps_codes_and_floor():
    model, closure = _task()
    codes = [m.codes.clone() for m in model.modules() if hasattr(m, "codes")]
    zps = [m.zero_points.clone() for m in model.modules() if hasattr(m, "zero_points")]
    biases = [m.bias.clone() for m in model.modules() if hasattr(m, "codes")]
    opt = QZO(scale_parameters(model), lr=2e-4, eps=1e-4, clip=50.0, scale_min=1e-4, rng=0)
    start = float(closure())
    for _ in range(300):
        opt.step(closure)
    assert float(closure()) < 0.9 * start
    for m, c, z, b in zip([m for m in model.modules() if hasattr(m, "codes")], codes, zps, biases):
        assert torch.equal(m.codes, c) and torch.equal(m.zero_points, z) and torch.equal(m.bias, b)
        assert bool((m.scales >= 1e-4).all())
    assert opt.zo_stats["n_forward"] == 600
    assert len(opt.state) == 0  # no per-parameter state


def test_scale_floor_is_applied_in_the_update_only():
    s = torch.full((50,), 1e-3)
    seen = []

    def closure():
        seen.append(s.clone())
        return float(s.sum()) * 100.0  # pushes every scale down

    opt = QZO([s], lr=1.0, eps=5e-3, clip=None, scale_min=1e-3, rng=0)
    opt.step(closure)
    assert float(seen[0].min()) < 1e-3 - 1e-6  # the perturbation goes below the floor
    assert bool((s >= 1e-3).all()) and opt.zo_stats["n_floor_hits"] > 0
    opt = QZO([torch.full((5,), 1e-3)], lr=1.0, scale_min=None, rng=0)
    assert opt.param_groups[0]["scale_min"] is None


def test_clip_bounds_every_scale_update():
    model, closure = _task(1)
    scales = list(scale_parameters(model))
    seen = []

    def recording():
        seen.append([s.clone() for s in scales])
        return closure()

    lr, c, eps = 1e-3, 0.5, 1e-4
    opt = QZO(scales, lr=lr, eps=eps, clip=c, scale_min=None, rng=2)
    for _ in range(20):
        start = [s.clone() for s in scales]
        opt.step(recording)
        for s0, s1, sp in zip(start, scales, seen[-2]):
            z = (sp.double() - s0.double()) / eps
            bound = lr * c * z.abs() + 4 * torch.finfo(torch.float32).eps * s0.abs().double() + 1e-7 * lr
            assert bool(((s1.double() - s0.double()).abs() <= bound * (1 + 1e-3)).all())
    assert opt.zo_stats["n_clipped"] > 0


def test_restore_is_bitwise_for_scales():
    model, closure = _task(2)
    scales = list(scale_parameters(model))
    before = [s.clone() for s in scales]
    QZO(scales, lr=0.0, eps=1e-3, rng=0).step(closure)
    assert all(torch.equal(a, b) for a, b in zip(before, scales))


def test_separate_group_for_biases():
    model, closure = _task(3)
    biases = [m.bias for m in model.modules() if hasattr(m, "codes")]
    opt = QZO([{"params": list(scale_parameters(model))},
               {"params": biases, "lr": 1e-3, "eps": 1e-3, "clip": None, "scale_min": None}],
              lr=1e-4, eps=1e-4, clip=50.0, rng=0)
    before = [b.clone() for b in biases]
    opt.step(closure)
    assert not torch.equal(before[0], biases[0])
    assert len(opt.zo_stats["last_d"]) == 2


def test_zo_extra_memory_is_tiny_compared_to_adam():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 10))
    x, y = torch.randn(32, 256), torch.randint(0, 10, (32,))

    def closure():
        return nn.functional.cross_entropy(model(x), y)

    mezo = MeZO(model.parameters(), lr=1e-4, rng=0)
    mezo.step(closure)
    rep_zo = memory_report(model, mezo)
    adam = torch.optim.Adam(model.parameters())
    closure().backward()
    adam.step()
    rep_adam = memory_report(model, adam)
    adam_extra = rep_adam["grads"] + rep_adam["optimizer_state"]
    assert rep_zo["grads"] + rep_zo["optimizer_state"] == 0
    assert adam_extra >= 3 * rep_zo["weights"]  # 4 (grad) + 8 (moments) bytes per fp32 weight
    qm, _ = quantize_model(model, group_size=32)
    qzo = QZO(scale_parameters(qm), lr=1e-5, rng=0)
    qzo.step(lambda: nn.functional.cross_entropy(qm(x), y))
    rep_q = memory_report(qm, qzo)
    assert rep_q["optimizer_state"] == 0
    assert rep_q["persistent"] < 0.2 * rep_zo["persistent"]


def test_bad_qzo_arguments():
    with pytest.raises(ValueError, match="clip"):
        QZO([torch.ones(3)], clip=-1.0)
    with pytest.raises(ValueError, match="scale_min"):
        QZO([torch.ones(3)], scale_min=float("nan"))
    with pytest.raises(ValueError, match="eps"):
        QZO([torch.ones(3)], eps=0)
