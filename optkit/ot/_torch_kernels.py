r"""torch kernels for entropic OT, device-resident, CPU or CUDA.

The same code runs on every device and keeps everything on the cost's device: potentials in,
potentials and plan statistics out, float64 tensors; the sparsified Hessian of SNS is a
fixed-size COO block (:class:`DeviceSparse`), so building it needs no host read. Dense passes
work on blocks of rows (64 MiB of float64 per block, 8 MiB for a lazy cost, a few
temporaries of that size); the cost is a dense tensor or a
:class:`~optkit.ot.costs.LazyCost` whose blocks are formed on the fly (O((n + m) d) memory).

Precision. A float64 cost runs in float64. A float32 cost runs its passes in float32 (the
log-plan entries :math:`(g_j - C_{ij})/\varepsilon` and their exponentials) with the sums
(log-sum-exp, marginals, :math:`\langle C, P\rangle`) accumulated in float64 and float64
potentials; each entry then carries a relative rounding of about :math:`2^{-24}\max|C|/
\varepsilon` in :math:`\log P`, which bounds the reachable marginal error (measured: about
1e-6 at :math:`\max C/\varepsilon = 50`, see :func:`optkit.ot.sinkhorn`).

On a CUDA device (dense cost) the row and column log-sum-exp and the top-k histogram go through
the Triton kernels of :mod:`optkit.ot._triton_kernels` (imported only there; float64 registers,
so a float32 cost is only upcast there); elsewhere, and without Triton, through the blocked
torch code.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

__all__ = ["TorchKernels", "HostKernels", "DeviceSparse"]

_BLOCK_BYTES = 64 * 2**20
_LAZY_BLOCK_BYTES = 8 * 2**20  # a lazy block also holds its (rows, m, d) differences
_NBINS = 2048
_SPAN = 40.0


@dataclass
class DeviceSparse:
    r"""The kept entries :math:`\Sigma_{ij} = P_{ij}/\varepsilon` of the sparsified Hessian as a
    COO block of fixed size on the device (entries outside the kept set hold 0).

    Products scatter with ``index_add_`` (atomics on CUDA), so no step needs the number of
    kept entries on the host; ``nnz`` is a 0-d tensor.
    """

    rows: torch.Tensor
    cols: torch.Tensor
    vals: torch.Tensor
    n: int
    m: int
    passes: int = 1

    @property
    def nnz(self):
        return (self.vals != 0).sum()

    def matvec(self, v, squared=False):
        """:math:`\\Sigma v` (or :math:`(\\Sigma \\circ \\Sigma) v`)."""
        w = self.vals * self.vals if squared else self.vals
        return torch.zeros(self.n, dtype=v.dtype, device=v.device).index_add_(
            0, self.rows, w * v[self.cols])

    def rmatvec(self, u, squared=False):
        """:math:`\\Sigma^\\top u` (or :math:`(\\Sigma \\circ \\Sigma)^\\top u`)."""
        w = self.vals * self.vals if squared else self.vals
        return torch.zeros(self.m, dtype=u.dtype, device=u.device).index_add_(
            0, self.cols, w * u[self.rows])


def _lse_combine(acc, part):
    return torch.logaddexp(acc, part)


class TorchKernels:
    """Kernel set (the interface of ``NumbaKernels``) on the cost's device.

    Parameters
    ----------
    C : torch.Tensor (n, m) or LazyCost
        Dense cost (float32 or float64) or point clouds with a cost formed block by block.
    """

    def __init__(self, C):
        from .costs import LazyCost

        self.lazy = isinstance(C, LazyCost)
        self.C = C
        self.n, self.m = C.shape
        self.device = C.device
        self.work = C.dtype if C.dtype in (torch.float32, torch.float64) else torch.float64
        budget = _LAZY_BLOCK_BYTES if self.lazy else _BLOCK_BYTES
        self.rows = max(1, min(self.n, budget // (8 * self.m)))
        self.fast = None
        if self.device.type == "cuda" and not self.lazy:
            from . import _triton_kernels

            self.fast = _triton_kernels.available() and _triton_kernels

    @property
    def like(self):
        """A tensor on the cost's device (for the problem's namespace)."""
        return self.C.like if self.lazy else self.C

    @contextmanager
    def threads(self):
        """torch manages its own threads."""
        yield

    def _dev(self, v):
        return torch.as_tensor(v, dtype=torch.float64, device=self.device)

    def output(self, v):
        """A vector (numpy or tensor) as a float64 tensor on the cost's device."""
        import numpy as np

        return self._dev(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v)

    def _blocks(self):
        for lo in range(0, self.n, self.rows):
            hi = min(lo + self.rows, self.n)
            block = self.C.block(lo, hi) if self.lazy else self.C[lo:hi]
            yield lo, hi, block.to(self.work)

    def _logp(self, f, g, inv_eps):
        fw, gw = f.to(self.work), g.to(self.work)
        for lo, hi, Cb in self._blocks():
            yield lo, hi, (fw[lo:hi, None] + gw[None, :] - Cb) * inv_eps

    @staticmethod
    def _lse(x, dim):
        """Log-sum-exp of a block along ``dim`` in float64: max in the block's dtype, the
        shifted exponentials' sum accumulated in float64 (``-inf`` for an empty max)."""
        mx = x.amax(dim=dim, keepdim=True)
        safe = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
        s = torch.exp(x - safe).sum(dim=dim, dtype=torch.float64)
        return safe.squeeze(dim).double() + torch.log(s)

    def row_lse(self, g, inv_eps, shift=None):
        r""":math:`L_i = \mathrm{LSE}_j((g_j - C_{ij})/\varepsilon)` (float64)."""
        g = self._dev(g)
        if self.fast:
            return self.fast.row_lse(self.C, g, inv_eps)
        gw = g.to(self.work)
        return torch.cat([self._lse((gw[None, :] - Cb) * inv_eps, 1)
                          for _, _, Cb in self._blocks()])

    def col_lse(self, f, inv_eps, shift=None):
        r""":math:`L_j = \mathrm{LSE}_i((f_i - C_{ij})/\varepsilon)` (float64)."""
        f = self._dev(f)
        if self.fast:
            return self.fast.col_lse(self.C, f, inv_eps)
        fw = f.to(self.work)
        acc = torch.full((self.m,), -torch.inf, dtype=torch.float64, device=self.device)
        for lo, hi, Cb in self._blocks():
            acc = _lse_combine(acc, self._lse((fw[lo:hi, None] - Cb) * inv_eps, 0))
        return acc

    def stats(self, f, g, inv_eps):
        """``(P1, P^T 1, sum P, <C, P>)``, float64 (the last two 0-d; overflow gives inf)."""
        f, g = self._dev(f), self._dev(g)
        fw, gw = f.to(self.work), g.to(self.work)
        r = []
        c = torch.zeros(self.m, dtype=torch.float64, device=self.device)
        cost = torch.zeros((), dtype=torch.float64, device=self.device)
        for lo, hi, Cb in self._blocks():
            P = ((fw[lo:hi, None] + gw[None, :] - Cb) * inv_eps).exp()
            r.append(P.sum(dim=1, dtype=torch.float64))
            c += P.sum(dim=0, dtype=torch.float64)
            cost += (P * Cb).sum(dtype=torch.float64)
        r = torch.cat(r)
        return r, c, r.sum(), cost

    def stats_many(self, F, G, inv_eps):
        r""":meth:`stats` of ``T`` potential pairs ``F`` (T, n), ``G`` (T, m) in one pass over
        the cost: ``(P1 (T, n), P^T 1 (T, m), sum P (T,), <C, P> (T,))``, float64.

        Each block of ``C`` is read (or, lazy, formed) once and serves the ``T`` pairs, so the
        pass costs ``T`` exponentials per entry but one cost read: the line search of
        :mod:`optkit.ot.sns` evaluates all its trial steps this way and reads the host once.
        """
        T = F.shape[0]
        Fw, Gw = self._dev(F).to(self.work), self._dev(G).to(self.work)
        r = torch.zeros((T, self.n), dtype=torch.float64, device=self.device)
        c = torch.zeros((T, self.m), dtype=torch.float64, device=self.device)
        cost = torch.zeros(T, dtype=torch.float64, device=self.device)
        for lo, hi, Cb in self._blocks():
            for t in range(T):
                P = ((Fw[t, lo:hi, None] + Gw[t, None, :] - Cb) * inv_eps).exp()
                r[t, lo:hi] = P.sum(dim=1, dtype=torch.float64)
                c[t] += P.sum(dim=0, dtype=torch.float64)
                cost[t] += (P * Cb).sum(dtype=torch.float64)
        return r, c, r.sum(dim=1), cost

    def select(self, f, g, inv_eps, j0, k, row_sums) -> DeviceSparse:
        r""":math:`\Sigma = P/\varepsilon` on the kept set of the SNS sparsification (Tang et
        al., 2024), in one pass, without a host read.

        As ``NumbaKernels.select``: a 2048-bin histogram of :math:`\log P` (column ``j0``
        excluded) over :math:`[\log\max_i (P1)_i - 40, \log\max_i (P1)_i]` gives the threshold
        of the ``k`` largest entries (on the device, by ``cumsum`` and ``searchsorted``), and
        every row and column maximum is kept. To keep a fixed size, each row contributes its
        ``r = min(m, 2 ceil(k/n) + 8)`` largest entries (``torch.topk``) of which those above
        the threshold, and the row maximum, are kept: the kept set is that of the numba path
        except in rows holding more than ``r`` entries above the threshold.
        """
        f, g = self._dev(f), self._dev(g)
        n, m, dev = self.n, self.m, self.device
        r = max(1, min(m, 2 * (-(-k // n)) + 8))
        lo_v = torch.log(row_sums.max()) - _SPAN
        width = _SPAN / _NBINS
        hist = torch.zeros(_NBINS + 1, dtype=torch.int64, device=dev)
        col_max = torch.full((m,), -torch.inf, dtype=torch.float64, device=dev)
        col_arg = torch.zeros(m, dtype=torch.int64, device=dev)
        top_v, top_i = [], []
        for lo, _, lp in self._logp(f, g, inv_eps):
            lp = lp.double()
            lp[:, j0] = -torch.inf
            v, i = torch.topk(lp, r, dim=1)
            top_v.append(v)
            top_i.append(i)
            bmax, barg = lp.max(dim=0)
            better = bmax > col_max
            col_max = torch.where(better, bmax, col_max)
            col_arg = torch.where(better, barg + lo, col_arg)
            if not self.fast:
                bins = ((lp - lo_v) / width).floor().clamp_(-1, _NBINS - 1).long() + 1
                hist.index_add_(0, bins.reshape(-1), torch.ones(1, dtype=torch.int64, device=dev)
                                .expand(bins.numel()))
        if self.fast:
            hist = self.fast.log_plan_histogram(self.C, f, g, inv_eps, j0, lo_v, width, _NBINS)
        top_v, top_i = torch.cat(top_v), torch.cat(top_i)
        above = torch.cumsum(hist[1:].flip(0), 0)            # entries in the top t+1 bins
        b = torch.searchsorted(above, torch.tensor([k], device=dev)).squeeze(0)
        thr = torch.where(b >= _NBINS, lo_v, lo_v + (_NBINS - 1 - b) * width)
        first = torch.zeros(1, r, dtype=torch.bool, device=dev)
        first[0, 0] = True
        keep = ((top_v >= thr) | first) & torch.isfinite(top_v)
        vals = torch.where(keep, torch.exp(top_v) * inv_eps, torch.zeros_like(top_v))
        cols_all = torch.arange(m, device=dev)
        dup = ((top_i[col_arg] == cols_all[:, None]) & keep[col_arg]).any(dim=1)
        extra = torch.where(dup | (cols_all == j0) | ~torch.isfinite(col_max),
                            torch.zeros_like(col_max), torch.exp(col_max) * inv_eps)
        rows = torch.cat([torch.arange(n, device=dev).repeat_interleave(r), col_arg])
        cols = torch.cat([top_i.reshape(-1), cols_all])
        return DeviceSparse(rows, cols, torch.cat([vals.reshape(-1), extra]), n, m)

    def plan(self, f, g, inv_eps):
        f, g = self._dev(f), self._dev(g)
        return torch.cat([lp.exp().double() for _, _, lp in self._logp(f, g, inv_eps)])


class HostKernels(TorchKernels):
    """:class:`TorchKernels` with numpy vectors in and out, for host-side work after a solve
    (the soft c-transforms of zero-mass rows and columns; a host CSR Hessian block)."""

    def row_lse(self, g, inv_eps, shift=None):
        return super().row_lse(g, inv_eps).cpu().numpy()

    def col_lse(self, f, inv_eps, shift=None):
        return super().col_lse(f, inv_eps).cpu().numpy()

    def select(self, f, g, inv_eps, j0, k, row_sums):
        """The kept set of :meth:`TorchKernels.select` as a host CSR block
        (:class:`~optkit.ot._numba_kernels.HostSparse`, explicit zeros dropped)."""
        import numpy as np
        import scipy.sparse as sp

        from ._numba_kernels import HostSparse

        block = super().select(f, g, inv_eps, j0, k, self._dev(row_sums))
        keep = block.vals != 0
        rows, cols, vals = (t[keep].cpu().numpy() for t in (block.rows, block.cols, block.vals))
        csr = sp.csr_matrix((vals, (rows, cols)), shape=(block.n, block.m))
        csr.sort_indices()
        return HostSparse((csr.indptr.astype(np.int64), csr.indices.astype(np.int64),
                           csr.data), block.m)
