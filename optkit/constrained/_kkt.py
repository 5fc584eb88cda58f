r"""The KKT system of one AdaSketch-Newton iteration, built three ways.

Each builder returns a :class:`KKTSystem`: the matrix (or operator)

.. math::
    K = \begin{bmatrix} B & G^\top \\ G & 0 \end{bmatrix}, \qquad
    B = \nabla_x^2 L + tI,

with :math:`t = \xi_B + \|\nabla_x^2 L\|` when
:math:`\lambda_{\min}(Z^\top \nabla_x^2 L Z) <` ``hess_mod_tol`` (:math:`Z` a null-space
basis of :math:`G`) and :math:`t = 0` otherwise, so that :math:`Z^\top B Z \succeq \xi_B I`
(Hong, Na, Mahoney, Kolar, ICML 2023, §3), the norms the accuracy condition needs, and the
Hessian-times-:math:`\nabla_x L` product of the merit gradient.

- :func:`dense_kkt`: K formed from n Hessian-vector products, Frobenius norms, an explicit
  null-space basis from the full QR of :math:`G^\top`.
- :func:`sparse_kkt`: a ``scipy.sparse`` K assembled from the Hessian matrices and the
  Jacobian, never a dense N x N matrix.
- :func:`matrix_free_kkt`: K as a ``LinearOperator`` through Hessian-vector products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from ._spectral import extreme_eig, gershgorin_min, gram_solver

__all__ = ["KKTSystem", "build_kkt", "dense_kkt", "hessian_shift", "sparse_kkt",
           "matrix_free_kkt", "hvp_f", "hvp_lagrangian", "reduced_min_eig"]

_FD = np.sqrt(np.finfo(float).eps)


@dataclass
class KKTSystem:
    """``kind`` (``"dense"``, ``"sparse"`` or ``"operator"``), ``K``, the norms ``B``, ``G``,
    ``H`` (:math:`\nabla_x^2 L`), ``K``, the Hessian shift ``t``, ``Hgl`` (the merit's Hessian
    times :math:`\nabla_x L`), the flops of forming them (``setup_flops``) and ``floored``:
    :func:`hessian_shift` lifted a positive semidefinite reduced Hessian to the state's
    ``shift_floor`` (before the Jacobi-scaled test, which may still drop the shift)."""

    kind: str
    K: Any
    norms: dict
    t: float
    Hgl: np.ndarray
    setup_flops: float
    floored: bool = False


def hvp_f(problem, s, x, g, v):
    """:math:`\\nabla^2 f(x) v`: the objective's ``hvp``, else a forward difference of the
    gradient (one extra gradient)."""
    if s.has_hvp:
        return np.asarray(problem.objective.hvp(x, v), dtype=float)
    vn = float(np.linalg.norm(v))
    if vn == 0.0:
        return np.zeros_like(x)
    h = _FD * max(1.0, float(np.linalg.norm(x))) / vn
    return (np.asarray(problem.objective.grad(x + h * v), dtype=float) - g) / h


def hvp_lagrangian(problem, s, v):
    """:math:`\\nabla_x^2 L(x, \\lambda) v` at the current iterate."""
    out = hvp_f(problem, s, s.x, s.g, v)
    if s.lam.size:
        out = out + problem.constraints.lagrangian_hvp(s.x, s.lam, v)
    return out


def hessian_shift(cfg, lam_min, H_norm, curvature_scale=1.0, floor=None) -> float:
    r"""The shift :math:`t` of :math:`B = \nabla_x^2 L + tI`: 0 when
    :math:`\lambda_{\min}(Z^\top \nabla_x^2 L Z) \ge` ``hess_mod_tol``; otherwise the
    paper's :math:`t = \xi_B + \|\nabla_x^2 L\|`, or with ``safeguards="robust"``

    .. math::
        t = \xi_B - \lambda_{\min} + \max(-\lambda_{\min}, 0), \qquad
        \lambda_{\min} = \lambda_{\min}(Z^\top \nabla_x^2 L Z)

    (:math:`Z` orthonormal, so :math:`Z^\top B Z = Z^\top\nabla_x^2 L Z + tI \succeq
    (\xi_B + |\lambda_{\min}|) I`): the smallest shift with the same guarantee when
    :math:`\lambda_{\min} \ge 0`, twice the negative curvature when
    :math:`\lambda_{\min} < 0`, so that the most negative eigenvalue is mirrored to
    :math:`|\lambda_{\min}| + \xi_B` (the absolute-value modification of Greenstadt,
    Math. Comp. 21, 1967, by a multiple of I; Nocedal and Wright, Numerical Optimization,
    2nd ed., §3.4). Wächter and Biegler's inertia correction (Math. Program. 106, 2006) lands
    in the same range, its trial shifts growing by a factor 8. The paper's shift, several times
    :math:`\|\nabla_x^2 L\|_F`, turns Newton into a short gradient-like step wherever the
    reduced Hessian is singular (S2MPJ EIGENBCO: 363 iterations, 21 with the minimal shift);
    the minimal shift :math:`\xi_B - \lambda_{\min}` at a strongly indefinite reduced
    Hessian leaves an eigenvalue :math:`\xi_B` along the negative-curvature direction and
    steps of :math:`\|\nabla L\|/\xi_B` that the bounds' fraction-to-the-boundary rule
    cuts to :math:`10^{-4}` (S2MPJ NCVXQP2, NCVXQP4, NCVXQP7: 50 iterations at the same f,
    status 5; with the mirrored shift they reach IPOPT's f).
    With ``floor`` (robust; the state's ``shift_floor``, adapted by
    ``ALNewton._adapt_shift_floor``) that floor replaces :math:`\xi_B` when
    :math:`|\lambda_{\min}| <` ``hess_mod_tol`` (a numerically semidefinite reduced
    Hessian), :math:`t = \max(\text{floor}, \texttt{hess\_mod\_tol}) - \lambda_{\min} +
    \max(-\lambda_{\min}, 0)`: without it such Hessians, positive semidefinite (S2MPJ UBH5,
    LUKVLE13) or barely indefinite (S2MPJ HS54 from a perturbed start, on the flat tail of
    its Gaussian, :math:`\lambda_{\min} \approx -2.5 \cdot 10^{-8}`: 3743 unit steps of
    :math:`\|\nabla L\|/\xi_B`, status 5, where the adapted floor reaches :math:`f^*` in
    45 iterations), get gradient steps that the line search accepts whole. (The floor also
    at stronger negative curvature lost SPINOP from a perturbed start: status 5 after its
    :math:`\lambda_{\min} = -10^{-4}` got the shift :math:`2 \cdot 10^{-4}`.)
    When :math:`\lambda_{\min}` is unknown (Lanczos failed, :math:`-\infty`) the paper's
    shift is used. With the robust objective scaling :math:`s_f` (``curvature_scale``)
    ``hess_mod_tol`` and :math:`\xi_B` are multiplied by :math:`s_f`: the scaled
    Hessian's curvature is :math:`s_f` times the user's, and an unscaled threshold would
    modify a positive-definite Hessian (S2MPJ STREGNE: :math:`s_f = 10^{-8}`, steps of
    :math:`10^3` towards a minimizer :math:`10^{10}` away). The dense and sparse paths then
    also drop the shift where the test passes in Jacobi-scaled variables
    (:func:`_positive_definite_scaled`)."""
    scale = curvature_scale if cfg.robust else 1.0
    if lam_min >= cfg.hess_mod_tol * scale:
        return 0.0
    if cfg.robust and np.isfinite(lam_min):
        base = cfg.xi_B
        if floor is not None and lam_min > -cfg.hess_mod_tol * scale:
            base = max(floor, cfg.hess_mod_tol)
        return base * scale - lam_min + max(-lam_min, 0.0)
    return cfg.xi_B + H_norm


def _state_shift(cfg, s, lam_min, H_norm) -> tuple[float, bool]:
    """:func:`hessian_shift` at the state's scale and ``shift_floor``, and whether it took
    the floor branch (a numerically semidefinite reduced Hessian lifted to the floor)."""
    scale = _curvature_scale(s)
    t = hessian_shift(cfg, lam_min, H_norm, scale, s.shift_floor)
    return t, bool(s.shift_floor is not None and t > 0.0
                   and lam_min > -cfg.hess_mod_tol * scale)


def _curvature_scale(s) -> float:
    """:math:`s_f` of the robust scaling (1 without it)."""
    return 1.0 if s.view is None else s.view.s_f


def _has_hess_matrix(problem) -> bool:
    """The objective has ``hess=`` (one matrix call replaces n Hessian-vector products: on
    S2MPJ problems each product evaluates the whole Hessian, so forming K by products cost n
    Hessian evaluations per iteration)."""
    return bool(getattr(problem.objective, "has_hess", False))


def _dense_matrix(M):
    """A dense float array from a matrix result (dense, sparse); ``None`` for an operator."""
    if isinstance(M, LinearOperator):
        return None
    return M.toarray() if sp.issparse(M) else np.array(M, dtype=float)


def dense_kkt(cfg, problem, s) -> KKTSystem:
    """Dense K, and the pieces the accuracy condition and merit gradient need."""
    n, m = s.x.size, s.lam.size
    E = np.eye(n)
    Hf = _dense_matrix(problem.objective.hess(s.x)) if _has_hess_matrix(problem) else None
    if Hf is None:
        Hf = np.column_stack([hvp_f(problem, s, s.x, s.g, E[:, j]) for j in range(n)])
    Hf = 0.5 * (Hf + Hf.T)
    H = Hf
    if m:
        cons = problem.constraints
        if cons.has_lagrangian_hess:  # one call instead of n products
            Hc = _dense_matrix(cons.lagrangian_hess(s.x, s.lam))
        else:
            Hc = np.column_stack([cons.lagrangian_hvp(s.x, s.lam, E[:, j]) for j in range(n)])
        H = Hf + 0.5 * (Hc + Hc.T)
    G = s.G.toarray() if sp.issparse(s.G) else np.asarray(s.G)
    H_norm = float(np.linalg.norm(H))
    flops = 2.0 * m * m * n + 9.0 * m**3 + 2.0 * n * n
    # one test of Z^T H Z: full QR of G^T, the product, the eigenvalues
    test_flops = 4.0 * n**3 / 3 + 2.0 * n * n * (n - m) + 2.0 * n * (n - m) ** 2 \
        + 9.0 * (n - m) ** 3
    if m < n:
        Z = np.linalg.qr(G.T, mode="complete")[0][:, m:] if m else E
        lam_min = float(np.linalg.eigvalsh(Z.T @ H @ Z)[0])
        flops += test_flops
    else:
        lam_min = np.inf
    t, floored = _state_shift(cfg, s, lam_min, H_norm)
    if t and cfg.robust:  # t > 0 only when m < n
        flops += test_flops
        if _positive_definite_scaled(cfg, H, G):
            t = 0.0
    B = H + t * E
    K = np.zeros((n + m, n + m))
    K[:n, :n] = B
    K[:n, n:] = G.T
    K[n:, :n] = G
    norms = dict(B=float(np.linalg.norm(B)), G=float(np.linalg.norm(G)), H=H_norm,
                 K=float(np.linalg.norm(K)))
    Hm = H if cfg.hessian_in_merit == "lagrangian" else Hf
    return KKTSystem("dense", K, norms, t, Hm @ s.gl, flops + 10.0 * (n + m) ** 2, floored)


def _positive_definite_scaled(cfg, H, G) -> bool:
    r"""``safeguards="robust"``: does :math:`Z^\top H Z` pass the modification test in the
    variables scaled by :math:`D = \operatorname{diag}(|H_{ii}|)^{-1/2}` (1 where
    :math:`H_{ii} = 0`)? Dense ``H``: :math:`\lambda_{\min}(Z_D^\top DHD Z_D) \ge`
    ``hess_mod_tol``, :math:`Z_D` an orthonormal null-space basis of :math:`GD`. Sparse
    ``H`` (no :math:`Z` formed): Gershgorin's bound of :math:`DHD` :math:`\ge`
    ``hess_mod_tol`` (scaled diagonal dominance, a sufficient condition: :math:`DHD \succ
    0` implies :math:`Z^\top H Z \succ 0`).

    :math:`Z_D^\top DHD Z_D` is congruent to :math:`Z^\top H Z` (same inertia, Sylvester),
    so a pass certifies that the unshifted Newton step is the minimizer of the quadratic
    model on the null space, as IPOPT's inertia test does (Wächter and Biegler, Math.
    Program. 106, 2006, §3.1), whatever the variables' units. The unscaled test alone reads
    a positive-definite Hessian with curvatures :math:`3\cdot 10^{-18}` to :math:`3\cdot
    10^{2}` (S2MPJ HS54: variables of size :math:`10^{-3}` to :math:`10^{8}`) as singular;
    its shift :math:`\xi_B` then cut every Newton step to :math:`10^{-3}` of its length
    (3562 iterations, status 5; 6 with this test). The eigenvalues of
    :math:`Z^\top HZ` below :math:`\varepsilon\|H\|` are rounding noise of its
    computation, those of the scaled matrix are not, when :math:`D` equalizes H."""
    d = np.abs(H.diagonal())
    d = 1.0 / np.sqrt(np.where(d > 0.0, d, 1.0))
    if sp.issparse(H):
        scale = sp.diags_array(d)
        return gershgorin_min(scale @ H @ scale) >= cfg.hess_mod_tol
    Z = np.linalg.qr((G * d).T, mode="complete")[0][:, G.shape[0]:]
    return float(np.linalg.eigvalsh(Z.T @ (d[:, None] * H * d) @ Z)[0]) >= cfg.hess_mod_tol


def reduced_min_eig(cfg, hv, G, n, H_norm, s, H=None, barrier=None):
    r""":math:`\lambda_{\min}(Z^\top \nabla_x^2 L Z)`, or a lower bound when that bound
    already passes the modification test or Lanczos fails.

    A sparse Hessian ``H`` whose Gershgorin bound is :math:`\ge` ``hess_mod_tol`` needs
    nothing more (:math:`\lambda_{\min}(Z^\top H Z) \ge \lambda_{\min}(H)`, :math:`Z`
    orthonormal). Otherwise Lanczos on :math:`P H P + (\|H\| + 1)(I - P)`,
    :math:`P = I - G^\top (GG^\top)^{-1} G`, warm-started at the previous iteration's
    eigenvector.

    With bounds ``H`` is :math:`H_0 + \Sigma`, the barrier block ``barrier`` =
    :math:`\Sigma \succeq 0` diagonal (times :math:`s_f` under the robust scaling), so
    :math:`\lambda_{\min}(Z^\top H Z) \ge \lambda_{\min}(Z^\top H_0 Z)`; Lanczos on
    :math:`H_0` comes first. Near active bounds :math:`\Sigma` reaches :math:`\|H\| \sim
    10^8`, where Lanczos on :math:`H` does not converge in ARPACK's budget, and the shift
    of a failed Lanczos, :math:`\xi_B + \|H\|`, turned Newton into a crawl (a sparse convex QP with
    n = 1000: the KKT residual stuck near 0.2, then the penalty safeguards). When Lanczos fails the
    best lower bound known is returned (Gershgorin's, :math:`H_0`'s); :math:`-\infty`
    (modify with the paper's shift) when there is none, or when :math:`GG^\top` is
    singular.
    """
    m = G.shape[0]
    if m >= n:
        return np.inf
    bounds = [-np.inf]
    if H is not None:
        bounds.append(gershgorin_min(H))
        if bounds[-1] >= cfg.hess_mod_tol:
            return bounds[-1]
    if m:
        if s.gram_solve is None:
            try:
                s.gram_solve = gram_solver(G)
            except (np.linalg.LinAlgError, RuntimeError):  # G rank-deficient: no projector
                return -np.inf  # modify (safe)
        gram_solve = s.gram_solve

        def proj(v):
            return v - G.T @ gram_solve(G @ v)
    else:
        def proj(v):
            return v

    def lanczos(matvec, norm):
        def red(v):
            v = np.asarray(v, dtype=float).ravel()
            pv = proj(v)
            return proj(matvec(pv)) + (norm + 1.0) * (v - pv)

        lam_min, vec = extreme_eig(red, n, "SA", v0=s.eigvec)
        if lam_min is not None:
            s.eigvec = vec
        return lam_min

    if barrier is not None:
        H0 = sp.csr_array(H - sp.diags_array(barrier))
        lam_min = lanczos(lambda v: H0 @ v, float(sp.linalg.norm(H0)))
        if lam_min is not None:
            if lam_min >= cfg.hess_mod_tol:
                return lam_min
            bounds.append(lam_min)
    lam_min = lanczos(hv, H_norm)
    return max(bounds) if lam_min is None else lam_min


def matrix_free_kkt(cfg, problem, s) -> KKTSystem:
    """K as a LinearOperator from Hessian-vector products and the Jacobian."""
    n, m = s.x.size, s.lam.size
    G = s.G

    def hv(v):
        return hvp_lagrangian(problem, s, np.asarray(v, dtype=float).ravel())

    H_norm, s.eigvec_H = extreme_eig(hv, n, "LM", v0=s.eigvec_H)
    if H_norm is None:  # Lanczos failed: power iteration (a lower bound)
        v = np.ones(n) / np.sqrt(n)
        for _ in range(30):
            w = hv(v)
            H_norm = float(np.linalg.norm(w))
            if H_norm == 0.0:
                break
            v = w / H_norm
    G_norm = float(np.sqrt((G.multiply(G) if sp.issparse(G) else G * G).sum())) if m else 0.0
    lam_min = reduced_min_eig(cfg, hv, G, n, H_norm, s)
    t, floored = _state_shift(cfg, s, lam_min, H_norm)

    def kv(v):
        v = np.asarray(v, dtype=float).ravel()
        vx, vl = v[:n], v[n:]
        top = hv(vx) + t * vx + (G.T @ vl if m else 0.0)
        return np.concatenate([top, G @ vx if m else np.zeros(0)])

    K = LinearOperator((n + m, n + m), matvec=kv, rmatvec=kv, dtype=float)
    B_norm = H_norm + t
    norms = dict(B=B_norm, G=G_norm, H=H_norm, K=B_norm + G_norm)
    if cfg.hessian_in_merit == "lagrangian":
        Hgl = hv(s.gl)
    else:
        Hgl = hvp_f(problem, s, s.x, s.g, s.gl)
    return KKTSystem("operator", K, norms, t, Hgl,
                     2.0 * m * m * n + 9.0 * m**3 + 10.0 * (n + m) ** 2, floored)


def sparse_kkt(cfg, problem, s) -> KKTSystem:
    """Sparse K from the Hessian matrices and the Jacobian (never a dense N x N)."""
    n, m = s.x.size, s.lam.size
    Hf = problem.objective.hess(s.x)
    if isinstance(Hf, LinearOperator):
        raise ValueError("hess returned a LinearOperator: linear_algebra='sparse' needs a "
                         "matrix (use linear_algebra='matrix-free')")
    Hf = sp.csr_array(Hf)
    H = Hf + sp.csr_array(problem.constraints.lagrangian_hess(s.x, s.lam)) if m else Hf
    H = sp.csr_array(0.5 * (H + H.T))
    G = sp.csr_array(s.G)
    H_norm = float(sp.linalg.norm(H))
    barrier = None if s.box is None else _curvature_scale(s) * s.box.barrier_diag(s.x)
    lam_min = reduced_min_eig(cfg, lambda v: H @ v, G, n, H_norm, s, H=H, barrier=barrier)
    t, floored = _state_shift(cfg, s, lam_min, H_norm)
    if t and cfg.robust and _positive_definite_scaled(cfg, H, G):
        t = 0.0
    B = sp.csr_array(H + t * sp.identity(n, format="csr")) if t else H
    K = sp.csr_array(sp.bmat([[B, G.T], [G, None]], format="csr"))
    norms = dict(B=float(sp.linalg.norm(B)), G=float(sp.linalg.norm(G)) if m else 0.0,
                 H=H_norm, K=float(sp.linalg.norm(K)))
    Hgl = (H if cfg.hessian_in_merit == "lagrangian" else Hf) @ s.gl
    return KKTSystem("sparse", K, norms, t, Hgl, 4.0 * K.nnz, floored)


def build_kkt(cfg, problem, s) -> KKTSystem:
    """The KKT system on the state's linear-algebra path (``s.path``)."""
    if s.path == "dense":
        return dense_kkt(cfg, problem, s)
    if s.path == "sparse":
        return sparse_kkt(cfg, problem, s)
    return matrix_free_kkt(cfg, problem, s)
