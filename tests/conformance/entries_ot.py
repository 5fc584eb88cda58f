"""``optkit.ot``'s public entry points: ``sinkhorn`` (SNS and Sinkhorn, numpy and torch, and
the differentiable runs ``grad="autodiff"``/``"implicit"``) and ``fit_map``. ``monge_gap`` is one ``sinkhorn`` solve, not an iterative entry point."""

import numpy as np
import ot
import torch

from optkit.ot import FitMapResult, OTResult, fit_map, sinkhorn

from .entry_points import Entry

_RNG = np.random.default_rng(0)
_A = _RNG.random(12) + 0.2
_B = _RNG.random(10) + 0.2
_A, _B = _A / _A.sum(), _B / _B.sum()
_C = _RNG.random((12, 10))
_REG = 0.05


def _primal_from_pot() -> float:
    r""":math:`\langle C, P\rangle + \varepsilon\sum P(\log P - 1)` at POT's plan (the optimal
    value of the primal, which the dual ``fun`` reaches at convergence)."""
    P = ot.sinkhorn(_A, _B, _C, _REG, method="sinkhorn_log", stopThr=1e-15, numItermax=100000)
    return float((_C * P).sum() + _REG * (P * (np.log(P) - 1)).sum())


_F_STAR = _primal_from_pot()
_FIELDS = ("f", "g", "cost", "dual", "marginal_error", "n_sinkhorn", "n_newton", "reg")


def _sinkhorn(method, torch_input=False, grad=None, **kw):
    a, b, C = (_A, _B, _C) if not torch_input else (torch.from_numpy(v) for v in (_A, _B, _C))
    if grad is not None:  # a differentiable run: C requires gradients
        return sinkhorn(a, b, C.clone().requires_grad_(), _REG, method=method, grad=grad, **kw)
    return sinkhorn(a, b, C, _REG, method=method, **kw)


def _fit_map(**kw):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2).double()
    gen = torch.Generator().manual_seed(0)
    src = torch.randn(48, 2, generator=gen, dtype=torch.float64)
    tgt = torch.randn(48, 2, generator=gen, dtype=torch.float64) + 1.0
    kw.setdefault("maxiter", 3)
    return fit_map(model, src, tgt, batch_size=12,
                   optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kw)


ENTRIES = [
    Entry("ot.sinkhorn[sns]", lambda **kw: _sinkhorn("sns", **kw), f_star=_F_STAR,
          rtol=1e-9, result_type=OTResult, fields=_FIELDS),
    Entry("ot.sinkhorn[sinkhorn]", lambda **kw: _sinkhorn("sinkhorn", **kw), f_star=_F_STAR,
          rtol=1e-9, result_type=OTResult, fields=_FIELDS),
    Entry("ot.sinkhorn[sinkhorn, torch]", lambda **kw: _sinkhorn("sinkhorn", True, **kw),
          f_star=_F_STAR, rtol=1e-9, result_type=OTResult, fields=_FIELDS),
    Entry("ot.sinkhorn[sinkhorn, torch, grad=autodiff]",
          lambda **kw: _sinkhorn("sinkhorn", True, grad="autodiff", **kw), f_star=_F_STAR,
          rtol=1e-9, result_type=OTResult, fields=_FIELDS),
    Entry("ot.sinkhorn[sns, torch, grad=implicit]",
          lambda **kw: _sinkhorn("sns", True, grad="implicit", **kw), f_star=_F_STAR,
          rtol=1e-9, result_type=OTResult, fields=_FIELDS),
    Entry("ot.fit_map", _fit_map, stochastic=True, result_type=FitMapResult,
          fields=("model",)),
]
