"""torch kernels for entropic OT on torch tensors, CPU or CUDA.

The same code runs on every device: dense passes over ``C`` work on blocks of rows (float64
temporaries of at most 64 MiB) on ``C``'s device. :class:`TorchKernels` takes and returns
float64 tensors on ``C``'s device (log-domain Sinkhorn keeps its potentials there);
:class:`HostKernels` takes and returns numpy vectors for the host-driven SNS, whose sparse
Hessian block (O(|K|)) lives on the host. ``C`` is never moved or copied whole.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["TorchKernels", "HostKernels"]

_BLOCK_BYTES = 64 * 2**20
_NBINS = 2048
_SPAN = 40.0


class TorchKernels:
    """Kernel set for a torch cost matrix: ``NumbaKernels``'s interface on device tensors."""

    def __init__(self, C: torch.Tensor):
        self.C = C
        n, m = C.shape
        self.rows = max(1, min(n, _BLOCK_BYTES // (8 * m)))

    @contextmanager
    def threads(self):
        """torch manages its own threads."""
        yield

    def _dev(self, v):
        return torch.as_tensor(v, dtype=torch.float64, device=self.C.device)

    def output(self, v):
        """A vector (numpy or tensor) as a float64 tensor on ``C``'s device."""
        return self._dev(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v)

    def _blocks(self):
        n = self.C.shape[0]
        for lo in range(0, n, self.rows):
            yield lo, min(lo + self.rows, n), self.C[lo:lo + self.rows].double()

    def _logp(self, f, g, inv_eps):
        for lo, hi, Cb in self._blocks():
            yield lo, hi, (f[lo:hi, None] + g[None, :] - Cb) * inv_eps

    def row_lse(self, g, inv_eps, shift=None):
        g = self._dev(g)
        out = [torch.logsumexp((g[None, :] - Cb) * inv_eps, dim=1) for _, _, Cb in self._blocks()]
        return torch.cat(out)

    def col_lse(self, f, inv_eps, shift=None):
        f = self._dev(f)
        acc = torch.full((self.C.shape[1],), -torch.inf, dtype=torch.float64, device=self.C.device)
        for lo, hi, Cb in self._blocks():
            acc = torch.logaddexp(acc, torch.logsumexp((f[lo:hi, None] - Cb) * inv_eps, dim=0))
        return acc

    def stats(self, f, g, inv_eps):
        """``(P1, P^T 1, sum P, <C, P>)`` (the last two as 0-d tensors)."""
        f, g = self._dev(f), self._dev(g)
        r = []
        c = torch.zeros(self.C.shape[1], dtype=torch.float64, device=self.C.device)
        cost = torch.zeros((), dtype=torch.float64, device=self.C.device)
        for lo, hi, Cb in self._blocks():
            P = ((f[lo:hi, None] + g[None, :] - Cb) * inv_eps).exp()
            r.append(P.sum(dim=1))
            c += P.sum(dim=0)
            cost += (P * Cb).sum()
        r = torch.cat(r)
        return r, c, r.sum(), cost

    def select(self, f, g, inv_eps, j0, k, row_sums):
        """CSR of ``Sigma = P/eps`` on the kept set (SNS sparsification); see ``NumbaKernels.select``."""
        lo_v = float(np.log(row_sums.max())) - _SPAN
        width = _SPAN / _NBINS
        fd, gd = self._dev(f), self._dev(g)
        dev = self.C.device
        hist = torch.zeros(_NBINS, dtype=torch.int64, device=dev)
        row_arg = []
        col_max = torch.full((self.C.shape[1],), -torch.inf, dtype=torch.float64, device=dev)
        col_arg = torch.zeros(self.C.shape[1], dtype=torch.int64, device=dev)
        for lo, _, lp in self._logp(fd, gd, inv_eps):
            lp[:, j0] = -torch.inf
            row_arg.append(lp.argmax(dim=1))
            bmax, barg = lp.max(dim=0)
            better = bmax > col_max
            col_max = torch.where(better, bmax, col_max)
            col_arg = torch.where(better, barg + lo, col_arg)
            v = lp[lp >= lo_v]
            hist += torch.bincount(((v - lo_v) / width).long().clamp_(max=_NBINS - 1),
                                   minlength=_NBINS)
        row_arg = torch.cat(row_arg)
        above = np.cumsum(hist.cpu().numpy()[::-1])
        b = int(np.searchsorted(above, k))
        thr = lo_v if b >= _NBINS else lo_v + (_NBINS - 1 - b) * width
        rows, cols, vals = [], [], []
        for lo, hi, lp in self._logp(fd, gd, inv_eps):
            keep = lp >= thr
            keep[torch.arange(hi - lo, device=dev), row_arg[lo:hi]] = True
            sel = (col_arg >= lo) & (col_arg < hi)
            keep[col_arg[sel] - lo, torch.nonzero(sel).squeeze(1)] = True
            keep[:, j0] = False
            i, j = torch.nonzero(keep, as_tuple=True)
            rows.append(i + lo)
            cols.append(j)
            vals.append(lp[i, j].exp() * inv_eps)
        rows, cols, vals = (torch.cat(t).cpu().numpy() for t in (rows, cols, vals))
        indptr = np.zeros(self.C.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.C.shape[0]), out=indptr[1:])
        return indptr, cols.astype(np.int64), vals

    def plan(self, f, g, inv_eps):
        f, g = self._dev(f), self._dev(g)
        return torch.cat([lp.exp() for _, _, lp in self._logp(f, g, inv_eps)])


class HostKernels(TorchKernels):
    """:class:`TorchKernels` with numpy vectors in and out (the plan stays a device tensor)."""

    def row_lse(self, g, inv_eps, shift=None):
        return super().row_lse(g, inv_eps).cpu().numpy()

    def col_lse(self, f, inv_eps, shift=None):
        return super().col_lse(f, inv_eps).cpu().numpy()

    def stats(self, f, g, inv_eps):
        r, c, total, cost = super().stats(f, g, inv_eps)
        return r.cpu().numpy(), c.cpu().numpy(), float(total), float(cost)
