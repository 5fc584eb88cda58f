"""The counter-based direction kernels, Rademacher directions and sparse (block) MeZO."""

import itertools
import math

import numpy as np
import pytest
import torch
from numba import njit
from scipy import stats

import optkit
from optkit.zeroth import QZO, MeZO, zo_grad_
from optkit.zeroth import _directions as directions

torch.set_num_threads(1)

_M64 = (1 << 64) - 1


def _splitmix_words(seed: int, n_words: int) -> np.ndarray:
    """SplitMix64 (Steele et al. 2014) from state mix(seed), in numpy uint64: the oracle."""
    def mix(x):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

    with np.errstate(over="ignore"):
        key = mix(np.uint64(seed & _M64))
        counters = np.arange(1, n_words + 1, dtype=np.uint64)
        return mix(key + counters * np.uint64(0x9E3779B97F4A7C15))


def _box_muller_float64(seed: int, n: int) -> np.ndarray:
    words = _splitmix_words(seed, (n + 1) // 2)
    u1 = ((words >> np.uint64(32)).astype(np.float64) + 0.5) / 2.0 ** 32
    phi = 2 * np.pi * (words & np.uint64(0xFFFFFFFF)).astype(np.float64) / 2.0 ** 32
    r = np.sqrt(-2 * np.log(u1))
    return np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1).reshape(-1)[:n]


# 1. the generator against independent references -----------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 4097])
def test_gaussian_stream_is_box_muller_of_splitmix64(n):
    z = directions.draw(n, 1234567, "gaussian").numpy().astype(np.float64)
    ref = _box_muller_float64(1234567, n)
    # fp32 rounding of u1 and of the polynomials: a few fp32 ulps of |z| (|z| < 7)
    assert np.abs(z - ref).max() <= 4e-6 * max(1.0, np.abs(ref).max())


@njit(cache=False)
def _minus_2_log_of_each(u, out):
    for i in range(u.size):
        out[i] = directions._minus_2_log(u[i])


@njit(cache=False)
def _gaussian_pairs_of(words, out):
    for i in range(words.size):
        out[i, 0], out[i, 1] = directions._gaussian_pair(words[i])


def test_minus_2_log_is_within_three_half_ulps_of_numpy():
    # every u1 the kernel can form: the 2^20 smallest, the top of the range (u1 rounds to 1
    # there), and a random sample of the rest
    hi = np.concatenate([np.arange(1 << 20, dtype=np.uint64),
                         np.arange((1 << 32) - 4096, 1 << 32, dtype=np.uint64),
                         np.random.default_rng(0).integers(0, 1 << 32, 300_000, dtype=np.uint64)])
    u = hi.astype(np.float32) * np.float32(2.0 ** -32) + np.float32(2.0 ** -33)
    out = np.empty_like(u)
    _minus_2_log_of_each(u, out)
    ref = -2.0 * np.log(u.astype(np.float64))
    assert np.all(out >= 0) and np.all(out[u == 1] == 0) and (u == 1).any()
    positive = ref > 0
    rel = np.abs(out[positive] - ref[positive]) / ref[positive]
    assert rel.max() <= 3 * 2.0 ** -24


def test_gaussian_pair_at_the_extreme_words():
    # high half 0: u1 = 2^-33, the largest radius sqrt(66 ln 2); high half 2^32 - 1: u1 = 1, r = 0
    lows = np.array([0, 1 << 30, 1 << 31, 3 << 30, (1 << 32) - 1], dtype=np.uint64)
    words = np.concatenate([lows, (np.uint64(0xFFFFFFFF) << np.uint64(32)) | lows])
    out = np.empty((words.size, 2), dtype=np.float32)
    _gaussian_pairs_of(words, out)
    phi = 2 * np.pi * lows.astype(np.float64) / 2.0 ** 32
    r = math.sqrt(66 * math.log(2))
    expected = np.concatenate([np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1),
                               np.zeros((lows.size, 2))])
    assert np.abs(out - expected).max() <= 4e-6 * r


@pytest.mark.parametrize("n", [1, 63, 64, 65, 1000])
def test_rademacher_stream_is_the_bits_of_splitmix64(n):
    z = directions.draw(n, 99, "rademacher").numpy()
    words = _splitmix_words(99, (n + 63) // 64)
    bits = (words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    assert np.array_equal(z, 1.0 - 2.0 * bits.reshape(-1)[:n].astype(np.float32))


def test_gaussian_stream_is_standard_normal():
    z = directions.draw(200_000, 7, "gaussian").numpy().astype(np.float64)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    se = 1 / math.sqrt(z.size)
    assert abs(z.mean()) < 4 * se
    assert abs(z.var() - 1) < 4 * math.sqrt(2) * se
    # neighbours (the two values of one word, and consecutive words) are uncorrelated
    assert abs(np.corrcoef(z[0::2], z[1::2])[0, 1]) < 4 * math.sqrt(2) * se
    assert abs(np.corrcoef(z[:-2], z[2:])[0, 1]) < 4 * se


def test_fused_pass_equals_the_drawn_z_and_threads_do_not_matter():
    n = (1 << 18) + 3  # above the parallel threshold, with an odd tail
    for dist in ("gaussian", "rademacher"):
        z = directions.draw(n, 5, dist)
        for dtype in (torch.float32, torch.float64):
            p = torch.zeros(n, dtype=dtype)
            directions.axpy_(p, 5, 1.0, dist)
            assert torch.equal(p, z.to(dtype))
        previous = torch.get_num_threads()
        try:
            torch.set_num_threads(2)
            assert torch.equal(directions.draw(n, 5, dist), z)
            p = torch.zeros(n)
            directions.axpy_(p, 5, 1.0, dist)
            assert torch.equal(p, z)
        finally:
            torch.set_num_threads(previous)


# 2. MeZO with Rademacher directions -----------------------------------------------------------------

def _recorder(params, weights):
    seen = []

    def closure():
        seen.append([p.detach().clone() for p in params])
        return sum(float((w.double() * p.double()).sum()) for w, p in zip(weights, params))

    return closure, seen


def test_rademacher_update_regenerates_the_perturbation_bitwise():
    shapes = [(300, 70), (2500,), (1,)]
    params = [torch.zeros(s) for s in shapes]
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(s, generator=gen) for s in shapes]
    closure, seen = _recorder(params, weights)
    MeZO(params, lr=1.0, eps=1.0, update="sign", rng=3, chunk_size=1000,
         distribution="rademacher").step(closure)
    z = seen[0]
    assert all(bool((zz.abs() == 1).all()) for zz in z)
    assert all(torch.equal(m, -zz) for m, zz in zip(seen[1], z))
    d = sum(float((w.double() * zz.double()).sum()) for w, zz in zip(weights, z))
    for p, zz in zip(params, z):
        assert torch.equal(p, -math.copysign(1.0, d) * zz)


@pytest.mark.parametrize("distribution", ["gaussian", "rademacher"])
@pytest.mark.parametrize("block_fraction", [1.0, 0.5])
def test_lr0_step_restores_within_one_ulp_and_copy_bitwise(distribution, block_fraction):
    gen = torch.Generator().manual_seed(2)
    thetas = [torch.randn(300, 70, generator=gen), torch.randn(513, generator=gen),
              torch.randn(40, 3, generator=gen).t()]  # the last one is not contiguous
    for restore in ("inplace", "copy"):
        params = [t.clone() for t in thetas]
        opt = MeZO(params, lr=0.0, eps=1e-3, rng=5, restore=restore, distribution=distribution,
                   block_fraction=block_fraction)
        for _ in range(3):
            opt.step(lambda params=params: float(sum(float(p.sum()) for p in params)))
        for p, t in zip(params, thetas):
            if restore == "copy":
                assert torch.equal(p, t)
            else:  # (theta + eps z) - 2 eps z + eps z, rounded three times: within an ulp per step
                ulp = torch.finfo(torch.float32).eps * t.abs().clamp(min=1e-3)
                assert bool(((p - t).abs() <= 3 * ulp).all())


def _quadratic(dim_blocks, seed=0):
    """0.5 x'Ax - b'x over the concatenation of blocks; A couples the blocks."""
    rng = np.random.default_rng(seed)
    dim = sum(dim_blocks)
    m = rng.standard_normal((dim, dim))
    a = torch.tensor(m @ m.T / dim + np.eye(dim))
    b = torch.tensor(rng.standard_normal(dim))
    x0 = torch.tensor(rng.standard_normal(dim))
    return a, b, x0, a @ x0 - b


def _one_step_mean_estimate(dim_blocks, n, **options):
    """The mean of n SPSA estimates: one step with n directions and lr = 1 moves theta by it."""
    a, b, x0, grad = _quadratic(dim_blocks)
    params = list(torch.split(x0.clone(), dim_blocks))

    def closure():
        x = torch.cat(params)
        return float(0.5 * x @ a @ x - b @ x)

    MeZO(params, lr=1.0, eps=1e-3, n_directions=n, rng=0, **options).step(closure)
    return x0 - torch.cat(params), grad


def test_rademacher_estimate_is_unbiased_on_a_quadratic():
    # d = z'g exactly on a quadratic, so each estimate is (z'g) z with E = g and, z in
    # {-1, 1}^D, E||(z'g) z||^2 = D ||g||^2: the mean of N has E||mean - g||^2 = (D-1)||g||^2/N.
    dim, n = 8, 5000
    est, grad = _one_step_mean_estimate([dim], n, distribution="rademacher")
    sd = math.sqrt((dim - 1) / n) * float(torch.linalg.norm(grad))
    assert float(torch.linalg.norm(est - grad)) <= 4 * sd


@pytest.mark.parametrize("distribution", ["gaussian", "rademacher"])
def test_sparse_estimate_is_unbiased_for_the_full_gradient(distribution):
    # k = 2 of B = 4 blocks per direction, the estimate (B/k) d z_S: E = g (the full gradient,
    # the blocks coupled by A). Its second moment, by enumerating the 6 subsets S:
    # (B/k)^2 mean_S c_S ||g_S||^2 with c_S = |S| + 2 (Gaussian) or |S| (Rademacher).
    blocks, n = [3, 2, 4, 1], 4000
    est, grad = _one_step_mean_estimate(blocks, n, distribution=distribution, block_fraction=0.5)
    slices = np.cumsum([0] + blocks)
    second = []
    for subset in itertools.combinations(range(4), 2):
        idx = np.concatenate([np.arange(slices[i], slices[i + 1]) for i in subset])
        size = len(idx) + (2 if distribution == "gaussian" else 0)
        second.append(size * float((grad[idx] ** 2).sum()))
    variance = (4 / 2) ** 2 * np.mean(second) - float(grad @ grad)
    err = float(torch.linalg.norm(est - grad))
    assert err <= 4 * math.sqrt(variance / n)
    # without the B/k factor the mean would be g/2: far outside that tolerance
    assert 4 * math.sqrt(variance / n) < 0.5 * float(torch.linalg.norm(grad))


def test_sparse_step_perturbs_and_moves_exactly_k_tensors():
    params = [torch.zeros(7) for _ in range(10)]
    before, seen = [], []

    def closure():  # records which tensors differ from the start of the step
        seen.append([not torch.equal(p, q) for p, q in zip(params, before)])
        return float(sum(float(p.sum()) * (i + 1) for i, p in enumerate(params)))

    opt = MeZO(params, lr=1e-2, eps=1e-3, rng=4, block_fraction=0.3)
    for _ in range(5):
        before[:] = [p.clone() for p in params]
        seen.clear()
        opt.step(closure)
        moved = [not torch.equal(p, q) for p, q in zip(params, before)]
        assert sum(moved) == 3  # round(0.3 * 10)
        assert seen[0] == seen[1] == moved  # +eps z and -eps z touched the same 3 tensors
    # each direction draws its own tensors: over 5 steps more than 3 tensors have moved
    assert sum(bool(p.any()) for p in params) > 3


@pytest.mark.parametrize("options", [dict(distribution="rademacher"), dict(block_fraction=0.4),
                                     dict(distribution="rademacher", block_fraction=0.4,
                                          n_directions=2, momentum=0.5, weight_decay=0.1)])
def test_same_rng_same_run_another_rng_another_run(options):
    def run(rng):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
        x, y = torch.randn(16, 5), torch.randn(16, 1)
        opt = MeZO(model.parameters(), lr=1e-2, rng=rng, **options)
        for _ in range(4):
            opt.step(lambda: torch.nn.functional.mse_loss(model(x), y))
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_zo_grad_with_rademacher_is_d_times_signs():
    p = torch.randn(50, generator=torch.Generator().manual_seed(0))
    w = torch.randn(50, generator=torch.Generator().manual_seed(1))
    zo_grad_([p], lambda: float(w @ p), eps=1e-2, rng=0, distribution="rademacher")
    d = float(p.grad.abs()[0])
    assert torch.allclose(p.grad.abs(), torch.full((50,), d))
    assert d == pytest.approx(abs(float(w @ torch.sign(p.grad))), rel=1e-5)


def test_qzo_takes_both_options():
    scales = [torch.full((8, 2), 0.05) for _ in range(6)]
    before = [s.clone() for s in scales]
    gen = torch.Generator().manual_seed(0)
    weights = [torch.randn(8, 2, generator=gen) for _ in scales]
    opt = QZO(scales, lr=1e-3, eps=1e-3, clip=None, rng=0, distribution="rademacher",
              block_fraction=0.5)
    opt.step(lambda: float(sum((w * s).sum() for w, s in zip(weights, scales))))
    moved = [not torch.equal(s, b) for s, b in zip(scales, before)]
    assert sum(moved) == 3
    for s, b, m in zip(scales, before, moved):
        if m:  # Rademacher: every scale of a moved tensor moves by the same lr * |d| * (B/k)
            step = (s - b).abs()
            assert torch.allclose(step, step[0, 0].expand_as(step), rtol=1e-4)


@pytest.mark.parametrize("kwargs, word", [
    (dict(distribution="uniform"), "distribution"), (dict(distribution=None), "distribution"),
    (dict(block_fraction=0.0), "block_fraction"), (dict(block_fraction=1.5), "block_fraction"),
    (dict(block_fraction=True), "block_fraction"), (dict(block_fraction="half"), "block_fraction"),
])
def test_bad_options_name_themselves(kwargs, word):
    for cls in (MeZO, QZO):
        with pytest.raises(ValueError, match=word):
            cls([torch.zeros(3)], lr=1e-3, **kwargs)


def test_minimize_spsa_takes_distribution_not_block_fraction():
    res = optkit.minimize(lambda x: float(x @ x), np.ones(4), method="spsa",
                          options=dict(distribution="rademacher", lr=0.05, maxiter=300, rng=0))
    assert res.fun < 1e-3
    with pytest.raises(ValueError, match="distribution"):
        optkit.minimize(lambda x: float(x @ x), np.ones(2), method="spsa",
                        options=dict(distribution="uniform"))
    with pytest.raises(TypeError, match="block_fraction"):  # one tensor: no blocks to sample
        optkit.minimize(lambda x: float(x @ x), np.ones(2), method="spsa",
                        options=dict(block_fraction=0.5))


def test_a_parameter_given_new_storage_between_steps_is_perturbed_there():
    """MeZO plans each step's chunk views once: a tensor whose storage changed between steps
    (``p.data = ...``) must be perturbed in its new storage, as a fresh optimizer would."""
    def first_evaluation(opt, param):
        seen = []
        opt.step(lambda: seen.append(param.detach().clone()) or 0.0)
        return seen[0]

    p = torch.nn.Parameter(torch.zeros(3000))
    opt = MeZO([p], lr=0.0, eps=1.0, rng=4)
    first_evaluation(opt, p)
    p.data = torch.full((3000,), 2.0)
    moved = first_evaluation(opt, p)
    q = torch.nn.Parameter(torch.full((3000,), 2.0))
    reference = MeZO([q], lr=0.0, eps=1.0, rng=4)
    first_evaluation(reference, q)
    with torch.no_grad():
        q.fill_(2.0)  # the same values in the same storage (the lr = 0 step drifts by ulps)
    assert torch.equal(moved, first_evaluation(reference, q))
    assert not torch.equal(moved, torch.full((3000,), 2.0))
    assert torch.allclose(p, torch.full((3000,), 2.0), atol=1e-5)
