"""MeZO: z regeneration, perturb/restore, unbiasedness, variants, state, bad input."""

import copy
import math
import warnings

import numpy as np
import pytest
import torch

from optkit.zeroth import MeZO, probe_directional_derivatives, zo_grad_

torch.set_num_threads(1)


def _recorder(params, weights):
    """Closure with a linear loss sum_i <w_i, p_i> that records the parameters it sees."""
    seen = []

    def closure():
        seen.append([p.detach().clone() for p in params])
        return sum(float((w.double() * p.double()).sum()) for w, p in zip(weights, params))

    return closure, seen


# 1. z regeneration ---------------------------------------------------------------------------

def test_update_regenerates_the_perturbation_bitwise():
    # theta = 0 and eps = 1 make theta_+ = z exactly; update="sign", lr = 1 makes the
    # update exactly -sign(d) z; a 500x410 tensor and a chunked 2500-element tensor included.
    shapes = [(500, 410), (2500,), (3, 7), (1,)]
    params = [torch.zeros(s, requires_grad=True) for s in shapes]
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(s, generator=gen) for s in shapes]
    closure, seen = _recorder(params, weights)
    opt = MeZO(params, lr=1.0, eps=1.0, update="sign", rng=3, chunk_size=1000)
    opt.step(closure)
    z = seen[0]
    assert all(torch.equal(m, -zz) for m, zz in zip(seen[1], z))
    d = sum(float((w.double() * zz.double()).sum()) for w, zz in zip(weights, z))
    sign = math.copysign(1.0, d)
    for p, zz in zip(params, z):
        assert torch.equal(p.detach(), -sign * zz)
    flat_u = torch.cat([p.detach().reshape(-1) for p in params]).double()
    flat_z = torch.cat([zz.reshape(-1) for zz in z]).double()
    assert float(torch.nn.functional.cosine_similarity(flat_u, -sign * flat_z, dim=0)) == \
        pytest.approx(1.0, abs=1e-12)
    assert float(flat_z.std()) == pytest.approx(1.0, abs=0.01)


def test_same_seed_same_z_across_layouts():
    # z is drawn over the row-major flattening: the shape, a transposed (non-contiguous)
    # view and a whole tensor (no chunking) all see the same numbers.
    def first_perturbation(param, chunk):
        closure, seen = _recorder([param], [torch.ones(param.shape)])
        MeZO([param], lr=0.0, eps=1.0, rng=11, restore="copy", chunk_size=chunk).step(closure)
        return seen[0][0].reshape(-1)

    a = first_perturbation(torch.zeros(500, 410), 10 ** 9)
    b = first_perturbation(torch.zeros(205000), 10 ** 9)
    base = torch.zeros(410, 500)
    c = first_perturbation(base.t(), 10 ** 9)  # non-contiguous 500x410 view
    assert torch.equal(a, b)
    assert torch.equal(a, c)
    chunked = first_perturbation(torch.zeros(500, 410), 4096)
    assert not torch.equal(a, chunked)  # chunks draw from their own generators
    assert float(chunked.std()) == pytest.approx(1.0, abs=0.01)


def test_rowwise_regeneration_is_what_breaks_the_pypi_mezo():
    # The PyPI ``mezo`` package perturbs with a whole-tensor draw and regenerates z row by
    # row above 100k elements; on CPU the two differ when the row length (410) is not a
    # multiple of 16, so its update direction is unrelated to the perturbation.
    whole = torch.randn(500, 410, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    rows = torch.stack([torch.randn(410, generator=gen) for _ in range(500)])
    cos = float(torch.nn.functional.cosine_similarity(whole.reshape(-1), rows.reshape(-1), dim=0))
    assert abs(cos) < 0.05


# 2. perturb / restore ------------------------------------------------------------------------

def _lr0_step(param, restore, eps=1e-3, rng=5):
    closure, seen = _recorder([param], [torch.ones(param.shape)])
    MeZO([param], lr=0.0, eps=eps, rng=rng, restore=restore).step(closure)
    return seen


def test_inplace_restore_within_two_ulp_and_copy_restore_bitwise():
    theta = torch.randn(300, 70, generator=torch.Generator().manual_seed(2))
    eps = 1e-3
    p = theta.clone()
    seen = _lr0_step(p, "inplace", eps)
    z = (seen[0][0].double() - theta.double()) / eps
    bound = 2 * torch.finfo(torch.float32).eps * (theta.double().abs() + 2 * eps * z.abs())
    err = (p.double() - theta.double()).abs()
    assert bool((err <= bound).all())
    q = theta.clone()
    _lr0_step(q, "copy", eps)
    assert torch.equal(q, theta)


def test_bf16_inplace_drift_is_recorded_and_warned():
    theta = torch.randn(4096, generator=torch.Generator().manual_seed(3)).to(torch.bfloat16)
    p = theta.clone()
    with pytest.warns(RuntimeWarning, match="half-precision"):
        _lr0_step(p, "inplace", eps=1e-2)
    drift = float(((p.float() - theta.float()).abs() / theta.float().abs().clamp(min=1e-3)).max())
    assert 0 < drift < 0.1  # measured ~1e-2: the size of a whole update
    q = theta.clone()
    _lr0_step(q, "copy", eps=1e-2)
    assert torch.equal(q, theta)


# 3. unbiasedness on a quadratic ------------------------------------------------------------

def test_spsa_estimate_is_unbiased_on_a_quadratic():
    dim, n = 8, 20000
    rng = np.random.default_rng(0)
    m = rng.standard_normal((dim, dim))
    a = torch.tensor(m @ m.T + np.eye(dim))
    b = torch.tensor(rng.standard_normal(dim))
    theta0 = torch.tensor(rng.standard_normal(dim))
    grad = a @ theta0 - b
    p = theta0.clone()

    def closure():
        return float(0.5 * p @ a @ p - b @ p)

    # one n-SPSA step with n = 20,000 directions and lr = 1 moves theta by -mean(d_j z_j)
    MeZO([p], lr=1.0, eps=1e-3, n_directions=n, rng=0).step(closure)
    est = (theta0 - p) * n
    rel = float(torch.linalg.norm(est / n - grad) / torch.linalg.norm(grad))
    assert rel <= 4 * math.sqrt((dim + 1) / n)


# 4. clipping (the update bound and Stein's lemma) --------------------------------------

def test_clip_bounds_d_and_the_update():
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(50, generator=gen, dtype=torch.float64) * 10
    theta0 = torch.randn(50, generator=gen, dtype=torch.float64)
    p = theta0.clone()
    seen = []

    def closure():
        seen.append(p.clone())
        return float(w @ p)

    lr, clip, eps = 0.1, 1.0, 1e-3
    opt = MeZO([p], lr=lr, eps=eps, clip=clip, rng=0)
    for _ in range(50):
        start = p.clone()
        opt.step(closure)
        z = (seen[-2] - start) / eps
        assert abs(opt.zo_stats["last_d"][0]) <= clip
        assert bool(((p - start).abs() <= lr * clip * z.abs() * (1 + 1e-9) + 1e-15).all())
    assert opt.zo_stats["n_clipped"] >= 45  # |g^T z| ~ 70 >> 1


def test_clipped_estimator_follows_steins_lemma():
    # linear loss g^T theta: E[clip_C(g^T z) z] = erf(C / (sqrt(2) |g|)) g
    dim, n = 8, 20000
    g = torch.tensor(np.random.default_rng(1).standard_normal(dim))
    c = 0.67 * float(torch.linalg.norm(g))
    theta0 = torch.zeros(dim, dtype=torch.float64)
    p = theta0.clone()
    MeZO([p], lr=1.0, eps=1e-2, clip=c, n_directions=n, rng=1).step(lambda: float(g @ p))
    est = (theta0 - p) * n
    expected = math.erf(c / (math.sqrt(2) * float(torch.linalg.norm(g)))) * g
    assert float(torch.linalg.norm(est / n - expected)) <= 0.05 * float(torch.linalg.norm(g))
    assert float(torch.linalg.norm(est / n - g)) > 0.2 * float(torch.linalg.norm(g))  # biased


# 7. variants -----------------------------------------------------------------------------

def _linear_problem(seed=0, dim=30):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(dim, generator=gen, dtype=torch.float64), \
        torch.randn(dim, generator=gen, dtype=torch.float64)


def _observed_step(opt_kwargs, loss="quadratic"):
    """One step; returns (theta0, theta1, z recovered from the perturbation, losses)."""
    w, theta0 = _linear_problem()
    p = theta0.clone()
    seen, losses = [], []

    def closure():
        seen.append(p.clone())
        v = float(w @ p + 0.5 * (p @ p)) if loss == "quadratic" else float(w @ p)
        losses.append(v)
        return v

    opt = MeZO([p], **opt_kwargs)
    opt.step(closure)
    eps = opt_kwargs.get("eps", 1e-3)
    zs = [(s - theta0) / eps for s in seen[0::2]]
    return theta0, p.clone(), zs, losses


def test_n1_spsa_equals_the_plain_update_and_sign_variant():
    theta0, theta1, (z,), (lp, lm) = _observed_step(dict(lr=1e-2, eps=1e-3, rng=2))
    d = (lp - lm) / 2e-3
    assert torch.allclose(theta1, theta0 - 1e-2 * d * z, rtol=0, atol=1e-10)
    theta0, theta1, (z,), (lp, lm) = _observed_step(dict(lr=1e-2, eps=1e-3, rng=2, update="sign"))
    assert torch.allclose(theta1, theta0 - 1e-2 * math.copysign(1, lp - lm) * z, atol=1e-10)
    theta0, theta1, (z,), (lp, lm) = _observed_step(
        dict(lr=1e-2, eps=1e-3, rng=2, update="elementwise_sign"))
    assert torch.allclose(theta1, theta0 - 1e-2 * torch.sign((lp - lm) * z), rtol=0, atol=1e-12)


def test_n_directions_average_and_maximize_and_forward():
    theta0, theta1, zs, losses = _observed_step(dict(lr=1e-2, eps=1e-3, rng=2, n_directions=3))
    assert len(losses) == 6
    g = sum((losses[2 * j] - losses[2 * j + 1]) / 2e-3 * zs[j] for j in range(3)) / 3
    assert torch.allclose(theta1, theta0 - 1e-2 * g, atol=1e-10)
    _, up, (z,), (lp, lm) = _observed_step(dict(lr=1e-2, eps=1e-3, rng=2, maximize=True))
    assert torch.allclose(up, theta0 + 1e-2 * (lp - lm) / 2e-3 * z, atol=1e-10)
    w, _ = _linear_problem()
    p = theta0.clone()
    seen = []

    def closure():
        seen.append(p.clone())
        return float(w @ p)

    opt = MeZO([p], lr=1e-2, eps=1e-3, rng=2, estimator="forward", n_directions=2)
    value = opt.step(closure)
    assert opt.zo_stats["n_forward"] == 3 and value == pytest.approx(float(w @ theta0))
    z1, z2 = ((s - theta0) / 1e-3 for s in seen[1:])
    expected = theta0 - 1e-2 * ((w @ z1) * z1 + (w @ z2) * z2) / 2
    assert torch.allclose(p, expected, atol=1e-8)


def test_weight_decay_and_momentum():
    w, theta0 = _linear_problem()
    p = theta0.clone()
    seen = []

    def closure():
        seen.append(p.clone())
        return float(w @ p)

    lr, wd, mu = 1e-2, 0.1, 0.9
    opt = MeZO([p], lr=lr, eps=1e-3, rng=4, weight_decay=wd, momentum=mu)
    buf = torch.zeros_like(p)
    ref = theta0.clone()
    for _ in range(3):
        opt.step(closure)
        z = (seen[-2] - ref) / 1e-3
        buf = mu * buf + (w @ z) * z + wd * ref
        ref = ref - lr * buf
        assert torch.allclose(p, ref, atol=1e-8)
    assert set(opt.state[p]) == {"momentum_buffer"}


def test_no_per_parameter_state_without_momentum():
    p = torch.zeros(10, requires_grad=True)
    opt = MeZO([p], lr=1e-3, rng=0)
    opt.step(lambda: float(p.sum()))
    assert len(opt.state) == 0 and opt.zo_stats["n_forward"] == 2


def test_per_group_eps_and_lr():
    # group g perturbs by eps_g z and uses d_g = (l+ - l-)/(2 eps_g): the update of
    # each block is d_g z restricted to that block, unbiased on a linear loss.
    w = torch.arange(1.0, 5.0, dtype=torch.float64)
    a, b = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    seen = []

    def closure():
        seen.append(torch.cat([a, b]))
        return float(w[:2] @ a + w[2:] @ b)

    opt = MeZO([{"params": [a]}, {"params": [b], "eps": 1e-1, "lr": 2.0}], lr=1.0, eps=1e-3,
               rng=0)
    opt.step(closure)
    za, zb = seen[0][:2] / 1e-3, seen[0][2:] / 1e-1
    diff = (float(w[:2] @ za) * 1e-3 + float(w[2:] @ zb) * 1e-1)  # (l+ - l-)/2
    assert torch.allclose(a, -diff / 1e-3 * za, atol=1e-9)
    assert torch.allclose(b, -2.0 * diff / 1e-1 * zb, atol=1e-9)


def test_state_dict_round_trip_reproduces_the_next_step_bitwise():
    torch.manual_seed(0)
    model = torch.nn.Linear(20, 3)
    x, y = torch.randn(16, 20), torch.randn(16, 3)

    def make_closure(m):
        return lambda: torch.nn.functional.mse_loss(m(x), y)

    opt = MeZO(model.parameters(), lr=1e-2, momentum=0.5, rng=9)
    for _ in range(3):
        opt.step(make_closure(model))
    clone = torch.nn.Linear(20, 3)
    clone.load_state_dict(model.state_dict())
    opt2 = MeZO(clone.parameters(), lr=1e-2, momentum=0.5, rng=123)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as torch.save / torch.load
    opt.step(make_closure(model))
    opt2.step(make_closure(clone))
    for p, q in zip(model.parameters(), clone.parameters()):
        assert torch.equal(p, q)


def test_nonfinite_loss_restores_then_raises_or_skips():
    p = torch.ones(5)
    values = iter([1.0, float("nan")])
    opt = MeZO([p], lr=1.0, rng=0, restore="copy")
    with pytest.raises(FloatingPointError):
        opt.step(lambda: next(values))
    assert torch.equal(p, torch.ones(5))
    opt = MeZO([p], lr=1.0, rng=0, restore="copy", on_nonfinite="skip")
    assert math.isnan(opt.step(lambda: float("inf")))
    assert opt.zo_stats["n_nonfinite"] == 1 and torch.equal(p, torch.ones(5))


def test_check_determinism():
    p = torch.ones(3)
    counter = iter(range(100))
    opt = MeZO([p], lr=1e-3, rng=0, check_determinism=True)
    with pytest.raises(RuntimeError, match="deterministic"):
        opt.step(lambda: float(next(counter)))
    opt = MeZO([p], lr=1e-3, rng=0, check_determinism=True)
    opt.step(lambda: float(p.sum()))
    assert opt.zo_stats["n_forward"] == 3


def test_probe_directional_derivatives_matches_the_gradient_and_restores():
    w = torch.randn(40, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    p = torch.zeros(40, dtype=torch.float64)
    d = probe_directional_derivatives([p], lambda: float(w @ p + 0.5 * p @ p), eps=1e-3, n=2000)
    assert torch.equal(p, torch.zeros(40, dtype=torch.float64))
    # d = z^T w with z ~ N(0, I): mean 0, variance |w|^2
    assert abs(d.mean()) < 4 * float(torch.linalg.norm(w)) / math.sqrt(2000)
    assert d.var() == pytest.approx(float(w @ w), rel=0.1)


# bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc", [
    (dict(eps=0.0), ValueError), (dict(eps=-1.0), ValueError), (dict(lr=-1.0), ValueError),
    (dict(clip=0.0), ValueError), (dict(momentum=1.0), ValueError),
    (dict(weight_decay=-0.1), ValueError), (dict(n_directions=0), ValueError),
    (dict(estimator="backward"), ValueError), (dict(update="adam"), ValueError),
    (dict(restore="never"), ValueError), (dict(on_nonfinite="ignore"), ValueError),
    (dict(chunk_size=0), ValueError), (dict(rng=-1), ValueError), (dict(maximize=1), TypeError),
    (dict(n_directions=1.5), TypeError), (dict(eps="big"), TypeError),
])
def test_bad_hyperparameters(kwargs, exc):
    with pytest.raises(exc, match=next(iter(kwargs))):
        MeZO([torch.zeros(2)], **kwargs)


def test_bad_closures():
    p = torch.zeros(3)
    opt = MeZO([p], lr=1e-3, rng=0)
    with pytest.raises(ValueError, match="scalar"):
        opt.step(lambda: torch.ones(2))
    assert torch.allclose(p, torch.zeros(3), rtol=0, atol=1e-9)  # restored (in place, FMA residue)
    with pytest.raises(ValueError, match="scalar"):
        opt.step(lambda: "loss")
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)
    with pytest.raises(TypeError, match="floating point"):
        MeZO([torch.zeros(3, dtype=torch.int64)])
    with pytest.raises(ValueError, match="eps"):
        MeZO([{"params": [torch.zeros(1)], "eps": 0.0}])


def test_no_warning_for_fp32():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MeZO([torch.zeros(3)])


def test_zo_grad_fills_grad_with_d_z_and_drives_adam():
    w = torch.randn(12, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    p = torch.zeros(12, dtype=torch.float64, requires_grad=True)
    seen = []

    def closure():
        q = p.detach()
        seen.append(q.clone())
        return float(w @ q + 0.5 * q @ q)

    value = zo_grad_([p], closure, eps=1e-3, rng=0, n=2)
    z1, z2 = seen[0] / 1e-3, seen[2] / 1e-3
    expected = ((w @ z1) * z1 + (w @ z2) * z2) / 2  # d = z^T grad exactly at p = 0
    assert torch.allclose(p.grad, expected, atol=1e-8)
    assert value == pytest.approx(sum(float(w @ s + 0.5 * s @ s) for s in seen) / 4)
    assert torch.allclose(p.detach(), torch.zeros(12, dtype=torch.float64), atol=1e-15)
    adam = torch.optim.Adam([p], lr=0.05)
    for step in range(300):
        zo_grad_([p], closure, eps=1e-3, rng=step)
        adam.step()
    assert float(closure()) < 0.5 * float(-0.5 * w @ w)  # f* = -|w|^2 / 2 < 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_dtype_is_kept_and_user_tensors_untouched(dtype):
    p = torch.ones(6, dtype=dtype)
    w = torch.arange(6.0)
    w0 = w.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        opt = MeZO([p], lr=1e-2, eps=1e-2, momentum=0.5, weight_decay=0.1, rng=0)
    opt.step(lambda: float((w * p.float()).sum()))
    assert p.dtype == dtype and not torch.equal(p, torch.ones(6, dtype=dtype))
    assert opt.state[p]["momentum_buffer"].dtype == torch.promote_types(dtype, torch.float32)
    assert torch.equal(w, w0)
