"""sinkhorn_divergence (spec §8.2) against GeomLoss, closed-form properties and finite
differences; the symmetric solver against POT's sinkhorn_log."""

import numpy as np
import ot
import pytest
import torch

from optkit.ot import SinkhornDivergence, cost_matrix, sinkhorn_divergence
from optkit.ot.divergence import symmetric_sinkhorn


def _clouds(n=40, m=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, dtype=torch.float64, generator=g)
    y = torch.randn(m, 2, dtype=torch.float64, generator=g) * 0.7 + 1.0
    return x, y


@pytest.mark.peers
def test_matches_geomloss_samplesloss():
    """GeomLoss's SamplesLoss("sinkhorn", p=2, blur=s, debias=True) is cost ½|x-y|², reg s².
    GeomLoss anneals eps and stops after the last annealing step: with scaling 0.999 its value
    agrees to ~1e-6 relative, its gradient (of its own unconverged potentials) to ~1e-2."""
    geomloss = pytest.importorskip("geomloss")
    x, y = _clouds()
    blur = 0.5
    xg = x.clone().requires_grad_()
    ref = geomloss.SamplesLoss("sinkhorn", p=2, blur=blur, debias=True, scaling=0.999,
                               backend="tensorized")(xg, y)
    (gref,) = torch.autograd.grad(ref, xg)
    xm = x.clone().requires_grad_()
    mine = sinkhorn_divergence(xm, y, reg=blur**2, cost="half_sqeuclidean", tol=1e-12)
    (gmine,) = torch.autograd.grad(mine, xm)
    assert mine.item() == pytest.approx(ref.item(), rel=2e-6)
    assert float((gmine - gref).norm()) <= 1e-2 * float(gref.norm())


def test_properties_and_gradient():
    """S(a, a) = 0, S > 0 for different clouds, numpy = torch, the module = the function, and
    the envelope gradient in x and in the weights against central differences."""
    x, y = _clouds(20, 15, seed=1)
    kw = {"reg": 0.3, "tol": 1e-13}
    assert abs(float(sinkhorn_divergence(x, x, **kw))) <= 1e-12
    s = sinkhorn_divergence(x.numpy(), y.numpy(), **kw)
    assert isinstance(s, float) and s > 0
    xg = x.clone().requires_grad_()
    a = torch.full((20,), 1 / 20, dtype=torch.float64, requires_grad=True)
    st = SinkhornDivergence(**kw)(xg, y, a=a)
    assert float(st) == pytest.approx(s, rel=1e-12)
    gx, ga = torch.autograd.grad(st, (xg, a))
    g = torch.Generator().manual_seed(3)
    E = torch.randn(20, 2, dtype=torch.float64, generator=g)
    e = torch.randn(20, dtype=torch.float64, generator=g)
    e -= e.mean()
    h = 1e-5
    with torch.no_grad():
        fd_x = (sinkhorn_divergence(x + h * E, y, **kw) - sinkhorn_divergence(x - h * E, y, **kw))
        fd_a = (sinkhorn_divergence(x, y, a + h * e, **kw)
                - sinkhorn_divergence(x, y, a - h * e, **kw))
    assert float((gx * E).sum()) == pytest.approx(float(fd_x) / (2 * h), rel=1e-6)
    assert float((ga * e).sum()) == pytest.approx(float(fd_a) / (2 * h), rel=1e-6)
    assert abs(float(ga.sum())) <= 1e-12  # centred: only mass-preserving directions


def test_symmetric_solver_matches_pot():
    x, _ = _clouds(25, 1, seed=2)
    C = cost_matrix(x, x).numpy()
    a = np.random.default_rng(0).random(25) + 0.5
    a /= a.sum()
    res = symmetric_sinkhorn(C, a, 0.2, tol=1e-12)
    P = ot.sinkhorn(a, a, C, 0.2, method="sinkhorn_log", stopThr=1e-14, numItermax=100000)
    primal = float((C * P).sum() + 0.2 * (P * (np.log(P) - 1)).sum())
    assert res.success and res.marginal_error <= 1e-12
    assert res.dual == pytest.approx(primal, rel=1e-10)
    np.testing.assert_allclose(res.plan, P, atol=1e-10)
    np.testing.assert_allclose(res.f, res.g)


def test_bad_inputs():
    x, y = _clouds(5, 4)
    with pytest.raises(ValueError, match="grad"):
        sinkhorn_divergence(x.numpy(), y.numpy(), reg=0.1, grad="detach")
    with pytest.raises(ValueError, match="grad"):
        sinkhorn_divergence(x, y, reg=0.1, grad="implicit")
    with pytest.raises(ValueError, match="reg"):
        sinkhorn_divergence(x, y, reg=0.0)
    with pytest.raises(TypeError, match="both"):
        sinkhorn_divergence(x, y.numpy(), reg=0.1)
    with pytest.raises(ValueError, match="2-D"):
        sinkhorn_divergence(x[0], y, reg=0.1)
    with pytest.raises(ValueError, match="a must be positive"):
        sinkhorn_divergence(x, y, torch.tensor([0.0, 0.5, 0.5, 0.0, 0.0],
                                               dtype=torch.float64), reg=0.1)
    with pytest.raises(ValueError, match="cost"):
        sinkhorn_divergence(x, y, reg=0.1, cost="cosine")
    out = sinkhorn_divergence(x, y, reg=0.1, grad="detach")
    assert not out.requires_grad
