r"""Triton kernels for the passes of entropic OT on CUDA tensors.

Imported only when a cost lives on a CUDA device (``TorchKernels``), or by the tests under
Triton's interpreter (``TRITON_INTERPRET=1``, CPU tensors). Each kernel reads ``C`` in its
storage dtype and computes in float64 registers; none stores ``P`` or ``exp(-C/eps)``.

- :func:`row_lse`: one program per row, tiles of columns, an online (max, sum)
  :math:`(x_1, s_1) \oplus (x_2, s_2) = (M, s_1 e^{x_1 - M} + s_2 e^{x_2 - M})`.
- :func:`col_lse`: programs over (column tile, row chunk) write partial (max, sum) pairs,
  merged by one log-sum-exp over the chunks (no transposed copy of ``C``).
- :func:`log_plan_histogram`: the top-k threshold's histogram of :math:`\log P` (column
  ``j0`` excluded) by atomic adds into ``2048 + 1`` bins (bin 0 counts the entries below the
  range), no compaction.
"""

from __future__ import annotations

import torch

__all__ = ["available", "row_lse", "col_lse", "log_plan_histogram"]

_ROW_TILE = 1024
_COL_TILE = 64
_ROW_CHUNK = 32
_ROWS_PER_CHUNK_TILE = 32


def available() -> bool:
    """Whether Triton imports (the torch code is the fallback otherwise)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _kernels():
    import triton
    import triton.language as tl

    @triton.jit
    def row_lse_kernel(C, g, out, m, stride, inv_eps, TILE: tl.constexpr):
        i = tl.program_id(0)
        mx = tl.full((), -float("inf"), tl.float64)
        s = tl.zeros((), tl.float64)
        for lo in range(0, m, TILE):
            j = lo + tl.arange(0, TILE)
            ok = j < m
            c = tl.load(C + i * stride + j, mask=ok, other=0.0).to(tl.float64)
            gj = tl.load(g + j, mask=ok, other=0.0)
            x = tl.where(ok, (gj - c) * inv_eps, -float("inf"))
            new = tl.maximum(mx, tl.max(x, axis=0))
            s = s * tl.exp(mx - new) + tl.sum(tl.exp(x - new), axis=0)
            mx = new
        tl.store(out + i, mx + tl.log(s))

    @triton.jit
    def col_partial_kernel(C, f, pmax, psum, n, m, stride, rows_per_chunk, inv_eps,
                           RT: tl.constexpr, CT: tl.constexpr):
        jt = tl.program_id(0)
        chunk = tl.program_id(1)
        j = jt * CT + tl.arange(0, CT)
        jok = j < m
        mx = tl.full((CT,), -float("inf"), tl.float64)
        s = tl.zeros((CT,), tl.float64)
        start = chunk * rows_per_chunk
        for lo in range(start, start + rows_per_chunk, RT):
            i = lo + tl.arange(0, RT)
            iok = (i < n) & (i < start + rows_per_chunk)
            ok = iok[:, None] & jok[None, :]
            c = tl.load(C + i[:, None] * stride + j[None, :], mask=ok, other=0.0).to(tl.float64)
            fi = tl.load(f + i, mask=iok, other=0.0)
            x = tl.where(ok, (fi[:, None] - c) * inv_eps, -float("inf"))
            new = tl.maximum(mx, tl.max(x, axis=0))
            safe = tl.where(new == -float("inf"), 0.0, new)
            s = s * tl.exp(mx - safe) + tl.sum(tl.exp(x - safe[None, :]), axis=0)
            mx = new
        tl.store(pmax + chunk * m + j, mx, mask=jok)
        tl.store(psum + chunk * m + j, s, mask=jok)

    @triton.jit
    def histogram_kernel(C, f, g, hist, m, stride, j0, inv_eps, lo_ptr, inv_width,
                         NBINS: tl.constexpr, TILE: tl.constexpr):
        i = tl.program_id(0)
        fi = tl.load(f + i)
        lo_v = tl.load(lo_ptr)
        for lo in range(0, m, TILE):
            j = lo + tl.arange(0, TILE)
            ok = (j < m) & (j != j0)
            c = tl.load(C + i * stride + j, mask=ok, other=0.0).to(tl.float64)
            gj = tl.load(g + j, mask=ok, other=0.0)
            t = ((fi + gj - c) * inv_eps - lo_v) * inv_width
            b = tl.minimum(tl.maximum(tl.floor(t), -1.0), NBINS - 1.0).to(tl.int32) + 1
            tl.atomic_add(hist + b, tl.full((TILE,), 1, tl.int64), mask=ok)

    return row_lse_kernel, col_partial_kernel, histogram_kernel


_CACHE = {}


def _get():
    if not _CACHE:
        _CACHE["k"] = _kernels()
    return _CACHE["k"]


def _rowmajor(C):
    return C if C.stride(1) == 1 else C.contiguous()


def row_lse(C, g, inv_eps):
    r""":math:`L_i = \mathrm{LSE}_j((g_j - C_{ij})\,\text{inv\_eps})` (float64)."""
    C = _rowmajor(C)
    n, m = C.shape
    out = torch.empty(n, dtype=torch.float64, device=C.device)
    _get()[0][(n,)](C, g.contiguous(), out, m, C.stride(0), float(inv_eps),
                    TILE=min(_ROW_TILE, max(16, 1 << (m - 1).bit_length())))
    return out


def col_lse(C, f, inv_eps):
    r""":math:`L_j = \mathrm{LSE}_i((f_i - C_{ij})\,\text{inv\_eps})` (float64)."""
    C = _rowmajor(C)
    n, m = C.shape
    chunks = max(1, min(_ROW_CHUNK, n // _ROWS_PER_CHUNK_TILE))
    per = -(-n // chunks)
    pmax = torch.empty((chunks, m), dtype=torch.float64, device=C.device)
    psum = torch.empty_like(pmax)
    grid = (-(-m // _COL_TILE), chunks)
    _get()[1][grid](C, f.contiguous(), pmax, psum, n, m, C.stride(0), per, float(inv_eps),
                    RT=_ROWS_PER_CHUNK_TILE, CT=_COL_TILE)
    top = pmax.amax(dim=0)
    safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return safe + torch.log((psum * torch.exp(pmax - safe)).sum(dim=0))


def log_plan_histogram(C, f, g, inv_eps, j0, lo_v, width, nbins):
    """Counts of :math:`\\log P_{ij}` (``j != j0``) in ``nbins`` bins of ``width`` from
    ``lo_v`` (a 0-d tensor), bin 0 holding the entries below; int64 of length ``nbins + 1``."""
    C = _rowmajor(C)
    n, m = C.shape
    hist = torch.zeros(nbins + 1, dtype=torch.int64, device=C.device)
    _get()[2][(n,)](C, f.contiguous(), g.contiguous(), hist, m, C.stride(0), int(j0),
                    float(inv_eps), lo_v.reshape(1).to(torch.float64), 1.0 / width, NBINS=nbins,
                    TILE=min(_ROW_TILE, max(16, 1 << (m - 1).bit_length())))
    return hist
