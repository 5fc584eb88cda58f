r"""Bilevel test problems with known solutions, and data hyper-cleaning on scikit-learn digits.

- :func:`quadratic`: strongly convex quadratic lower level, closed-form :math:`x^*`.
- :func:`many_solutions`: lower level with a continuum of solutions (Liu et al. 2020,
  "BDA"; the BOME toy), :math:`x^* = 1`.
- :func:`vpbgd_toy`: nonconvex lower level with a unique solution (Shen & Chen 2023, V-PBGD).
- :func:`finite_sum`: both levels finite sums (mini-batches), closed-form penalty minimizer.
- :func:`hyper_cleaning`: learn per-sample weights of a corrupted training set.
"""

from __future__ import annotations

import numpy as np

from ..core.rng import check_rng
from .problem import BilevelProblem, Level

__all__ = ["quadratic", "many_solutions", "vpbgd_toy", "vpbgd_psi_minima", "finite_sum",
           "hyper_cleaning", "cleaning_metrics"]


def quadratic(dim_x: int = 5, dim_y: int = 10, rho: float = 0.1, rng=0) -> BilevelProblem:
    r"""g = y'Ay/2 - y'Bx, f = |y - y_t|^2/2 + rho |x|^2/2.

    :math:`A = Q\Lambda Q^T` (Q from the QR of a Gaussian matrix, :math:`\Lambda` = linspace(1, 10)),
    B and :math:`y_t` standard Gaussian, drawn from ``rng`` (an int seeds
    ``numpy.random.default_rng``). With :math:`M = A^{-1}B`,
    :math:`\psi(x) = |Mx - y_t|^2/2 + \rho|x|^2/2`, :math:`x^* = (M^TM + \rho I)^{-1}M^Ty_t`.
    """
    rng = check_rng(rng)
    q, _ = np.linalg.qr(rng.standard_normal((dim_y, dim_y)))
    A = q @ np.diag(np.linspace(1.0, 10.0, dim_y)) @ q.T
    B = rng.standard_normal((dim_y, dim_x))
    yt = rng.standard_normal(dim_y)
    M = np.linalg.solve(A, B)
    x_star = np.linalg.solve(M.T @ M + rho * np.eye(dim_x), M.T @ yt)

    def psi(x):
        return 0.5 * np.sum((M @ x - yt) ** 2) + 0.5 * rho * np.sum(x ** 2)

    return BilevelProblem(
        f=lambda x, y: 0.5 * np.sum((y - yt) ** 2) + 0.5 * rho * np.sum(x ** 2),
        g=lambda x, y: 0.5 * y @ A @ y - y @ B @ x,
        grad_f=(lambda x, y: rho * x, lambda x, y: y - yt),
        grad_g=(lambda x, y: -B.T @ y, lambda x, y: A @ y - B @ x),
        hvp_g=lambda x, y, v: (-B.T @ v, A @ v),
        x0=np.zeros(dim_x), y0=np.zeros(dim_y), lipschitz=(1.0, 10.0), psi=psi, x_star=x_star,
        psi_star=float(psi(x_star)), name="quadratic",
        data={"A": A, "B": B, "y_t": yt, "rho": rho},
    )


def many_solutions(x0: float = 0.0, y0=(0.0, 0.0)) -> BilevelProblem:
    r"""f = (x - y_2)^2/2 + (y_1 - 1)^2/2, g = y_1^2/2 - x y_1 (x in R, y in R^2).

    :math:`S(x) = \{(x, t)\}`, :math:`\psi(x) = (x-1)^2/2`, :math:`x^* = 1`, :math:`y^* = (1, 1)`;
    :math:`\nabla^2_{yy} g = \mathrm{diag}(1, 0)` is singular. Liu, Mu, Yuan, Zeng, Zhang,
    "A Generic First-Order Algorithmic Framework for Bi-Level Programming Beyond
    Lower-Level Singleton", ICML 2020; also Cranial-XIX/BOME ``toy/toy_lls.py``.
    """
    return BilevelProblem(
        f=lambda x, y: 0.5 * (x[0] - y[1]) ** 2 + 0.5 * (y[0] - 1.0) ** 2,
        g=lambda x, y: 0.5 * y[0] ** 2 - x[0] * y[0],
        grad_f=(lambda x, y: np.array([x[0] - y[1]]), lambda x, y: np.array([y[0] - 1.0, y[1] - x[0]])),
        grad_g=(lambda x, y: np.array([-y[0]]), lambda x, y: np.array([y[0] - x[0], 0.0])),
        hvp_g=lambda x, y, v: (np.array([-v[0]]), np.array([v[0], 0.0])),
        x0=np.array([x0], dtype=float), y0=np.asarray(y0, dtype=float), lipschitz=(1.0, 1.0),
        psi=lambda x: 0.5 * (x[0] - 1.0) ** 2, x_star=np.array([1.0]), psi_star=0.0,
        name="many_solutions",
    )


def _vpbgd_f(x, y):
    s = 1.0 / (1.0 + np.exp(2.0 - 4.0 * x))
    return np.cos(4.0 * y + 2.0) * s + 0.5 * np.log((4.0 * x - 2.0) ** 2 + 1.0)


def vpbgd_psi_minima(sigma: float | None = None, n_grid: int = 30_001) -> np.ndarray:
    r"""Local minimizers of :math:`\psi` (``sigma=None``) or :math:`\psi_\sigma` on [0, 3] by grid search.

    :math:`\psi(x) = f(x, -x)`. For :math:`\psi_\sigma` the inner minimizations over y are
    done on a grid of y around :math:`-x` refined by Newton steps (an independent computation
    of the penalty, used as the test oracle).
    """
    xs = np.linspace(0.0, 3.0, n_grid)
    if sigma is None:
        vals = _vpbgd_f(xs, -xs)
    else:
        vals = _psi_sigma_grid(xs, sigma)
    inner = (vals[1:-1] < vals[:-2]) & (vals[1:-1] <= vals[2:])
    return xs[1:-1][inner]


def _psi_sigma_grid(xs, sigma):
    ts = np.linspace(-1.5, 1.5, 121)
    ys = -xs[:, None] + ts[None, :]

    def g(x, y):
        u = x + y
        return u ** 2 + x * np.sin(u) ** 2

    X = xs[:, None]
    h = sigma * _vpbgd_f(X, ys) + g(X, ys)
    y_s = ys[np.arange(len(xs)), np.argmin(h, axis=1)]
    y_g = -xs
    for _ in range(30):
        u = xs + y_s
        s = 1.0 / (1.0 + np.exp(2.0 - 4.0 * xs))
        d1 = sigma * (-4.0 * np.sin(4.0 * y_s + 2.0) * s) + 2.0 * u + xs * np.sin(2.0 * u)
        d2 = sigma * (-16.0 * np.cos(4.0 * y_s + 2.0) * s) + 2.0 + 2.0 * xs * np.cos(2.0 * u)
        y_s = y_s - d1 / d2
    return (sigma * _vpbgd_f(xs, y_s) + g(xs, y_s) - g(xs, y_g)) / sigma


def vpbgd_toy(x0: float = 1.0, y0: float = 0.0) -> BilevelProblem:
    r"""V-PBGD toy (Shen & Chen, ICML 2023, ``V-PBGD/toy/toy.py``): X = [0, 3], Y = R.

    :math:`g = (x+y)^2 + x\sin^2(x+y)` (nonconvex in y, unique minimizer :math:`y^* = -x` for
    :math:`x \ge 0`), :math:`f = \cos(4y+2)/(1+e^{2-4x}) + \tfrac12\ln((4x-2)^2+1)`,
    :math:`\psi(x) = f(x, -x)`: local minima 0.3824, 1.2152 (global, 0.19991), 2.8296.
    """

    def f_x(x, y):
        s = 1.0 / (1.0 + np.exp(2.0 - 4.0 * x))
        return 4.0 * np.cos(4.0 * y + 2.0) * s * (1.0 - s) + 4.0 * (4.0 * x - 2.0) / ((4.0 * x - 2.0) ** 2 + 1.0)

    def f_y(x, y):
        return -4.0 * np.sin(4.0 * y + 2.0) / (1.0 + np.exp(2.0 - 4.0 * x))

    def g(x, y):
        u = x + y
        return float(u[0] ** 2 + x[0] * np.sin(u[0]) ** 2)

    def g_x(x, y):
        u = x + y
        return 2.0 * u + np.sin(u) ** 2 + x * np.sin(2.0 * u)

    def g_y(x, y):
        u = x + y
        return 2.0 * u + x * np.sin(2.0 * u)

    def hvp_g(x, y, v):
        u = x + y
        return ((2.0 + np.sin(2.0 * u) + 2.0 * x * np.cos(2.0 * u)) * v,
                (2.0 + 2.0 * x * np.cos(2.0 * u)) * v)

    x_star = np.array([1.2152])
    return BilevelProblem(
        f=lambda x, y: float(_vpbgd_f(x[0], y[0])), g=g, grad_f=(f_x, f_y), grad_g=(g_x, g_y),
        hvp_g=hvp_g, x0=np.array([x0]), y0=np.array([y0]), bounds_x=(0.0, 3.0),
        lipschitz=(16.0, 8.0), psi=lambda x: float(_vpbgd_f(x[0], -x[0])), x_star=x_star,
        psi_star=0.19991, name="vpbgd_toy",
    )


def finite_sum(n: int = 50, rho: float = 0.1, rng=0) -> BilevelProblem:
    r"""g = mean_i |y - C_i x - e_i|^2/2, f = mean_i |y - t_i|^2/2 + rho |x|^2/2 (x in R^2, y in R^3).

    Both levels are finite sums of ``n`` terms (``n_samples = (n, n)``: mini-batches). With
    the means :math:`C, e, t`: :math:`y^* = Cx + e`, :math:`y_\sigma = (Cx + e + \sigma t)/(1 + \sigma)`
    and the minimizer of :math:`\psi_\sigma` is
    :math:`x_\sigma = (C^TC/(1+\sigma) + \rho I)^{-1}C^T(t - e)/(1+\sigma)`; ``data`` holds
    ``C``, ``e``, ``t`` (per sample) and ``rho``.
    """
    rng = check_rng(rng)
    C = rng.standard_normal((n, 3, 2)) + rng.standard_normal((3, 2))
    e, t = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))

    def idx(batch):
        return slice(None) if batch is None else batch

    def g(x, y, batch=None):
        r = y - C[idx(batch)] @ x - e[idx(batch)]
        return 0.5 * np.mean(np.sum(r ** 2, axis=1))

    def g_x(x, y, batch=None):
        r = y - C[idx(batch)] @ x - e[idx(batch)]
        return -np.mean(np.einsum("nij,ni->nj", C[idx(batch)], r), axis=0)

    def g_y(x, y, batch=None):
        return np.mean(y - C[idx(batch)] @ x - e[idx(batch)], axis=0)

    def f(x, y, batch=None):
        return 0.5 * np.mean(np.sum((y - t[idx(batch)]) ** 2, axis=1)) + 0.5 * rho * x @ x

    def f_x(x, y, batch=None):
        return rho * x

    def f_y(x, y, batch=None):
        return np.mean(y - t[idx(batch)], axis=0)

    return BilevelProblem(f, g, grad_f=(f_x, f_y), grad_g=(g_x, g_y), x0=np.zeros(2),
                          y0=np.zeros(3), n_samples=(n, n), lipschitz=(1.0, 1.0),
                          name="finite_sum", data={"C": C, "e": e, "t": t, "rho": rho})


class _Cleaning:
    """Weighted softmax regression: the two levels of data hyper-cleaning, with analytic
    gradients and second derivatives (numpy)."""

    def __init__(self, A_tr, Y_tr, A_val, Y_val, c):
        self.A_tr, self.Y_tr, self.A_val, self.Y_val, self.c = A_tr, Y_tr, A_val, Y_val, c
        self.p = A_tr.shape[1]
        self.k = Y_tr.shape[1]

    def _ce(self, A, Y, w):
        W = w.reshape(self.p, self.k)
        Z = A @ W
        Z = Z - Z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(Z).sum(axis=1))
        P = np.exp(Z - lse[:, None])
        return lse - np.sum(Z * Y, axis=1), P

    def _val(self, batch):
        return (self.A_val, self.Y_val) if batch is None else (self.A_val[batch], self.Y_val[batch])

    def outer_value(self, x, w, batch=None):
        A, Y = self._val(batch)
        return float(np.mean(self._ce(A, Y, w)[0]))

    def outer_value_and_grad(self, x, w, batch=None):
        A, Y = self._val(batch)
        ce, P = self._ce(A, Y, w)
        return float(np.mean(ce)), (np.zeros_like(x), (A.T @ (P - Y) / A.shape[0]).ravel())

    def _train(self, x, batch):
        idx = slice(None) if batch is None else batch
        A, Y = self.A_tr[idx], self.Y_tr[idx]
        s = 1.0 / (1.0 + np.exp(-x[idx]))
        return idx, A, Y, s

    def inner_value(self, x, w, batch=None):
        _, A, Y, s = self._train(x, batch)
        ce, _ = self._ce(A, Y, w)
        return float(np.mean(s * ce) + 0.5 * self.c * w @ w)

    def inner_value_and_grad(self, x, w, batch=None):
        idx, A, Y, s = self._train(x, batch)
        ce, P = self._ce(A, Y, w)
        gx = np.zeros_like(x)
        gx[idx] = s * (1.0 - s) * ce / A.shape[0]
        gw = (A.T @ (s[:, None] * (P - Y)) / A.shape[0]).ravel() + self.c * w
        return float(np.mean(s * ce) + 0.5 * self.c * w @ w), (gx, gw)

    def inner_hvp(self, x, w, v, batch=None):
        idx, A, Y, s = self._train(x, batch)
        _, P = self._ce(A, Y, w)
        U = A @ v.reshape(self.p, self.k)
        Q = P * U - P * np.sum(P * U, axis=1, keepdims=True)
        hw = (A.T @ (s[:, None] * Q) / A.shape[0]).ravel() + self.c * v
        hx = np.zeros_like(x)
        hx[idx] = s * (1.0 - s) * np.sum(U * (P - Y), axis=1) / A.shape[0]
        return hx, hw


def _stratified_order(labels, rng):
    """A random order of the samples in which every prefix holds the classes in proportion:
    shuffle, then sort by the rank of each sample within its class over the class size."""
    order = rng.permutation(len(labels))
    shuffled = labels[order]
    key = np.empty(len(labels))
    for c in np.unique(shuffled):
        idx = np.flatnonzero(shuffled == c)
        key[idx] = (np.arange(len(idx)) + 0.5) / len(idx)
    return order[np.argsort(key, kind="stable")]


def hyper_cleaning(n_train: int = 600, n_val: int = 600, corruption: float = 0.5, c: float = 1e-3,
                   rng=0) -> BilevelProblem:
    r"""Data hyper-cleaning on scikit-learn's digits (Franceschi et al. 2017 protocol).

    Stratified split ``n_train`` / ``n_val`` / rest (drawn from ``rng``), features standardized on the
    training set plus a bias column; a fraction ``corruption`` of training labels replaced
    by a uniformly drawn *different* class. x in R^n_train are per-sample logits, y = W the
    flattened (65 x 10) weights of a linear softmax model:

    .. math::
        g(x, W) = \frac{1}{n}\sum_i \mathrm{sigmoid}(x_i)\,\mathrm{CE}(W; a_i, \tilde y_i)
                  + \frac{c}{2}\|W\|^2, \qquad f(x, W) = \text{mean validation CE}.

    Mini-batches (``n_samples``) index the validation set for f and the training set for g.
    ``problem.data`` holds the test split and the corruption mask for :func:`cleaning_metrics`.
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    rng = check_rng(rng)
    perm = _stratified_order(y, rng)
    tr, val, te = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    X_tr, y_tr, X_val, y_val, X_te, y_te = X[tr], y[tr], X[val], y[val], X[te], y[te]
    mu, sd = X_tr.mean(0), X_tr.std(0)
    sd[sd == 0] = 1.0

    def feats(Z):
        return np.hstack([(Z - mu) / sd, np.ones((len(Z), 1))])

    corrupted = np.zeros(n_train, dtype=bool)
    corrupted[rng.choice(n_train, int(round(corruption * n_train)), replace=False)] = True
    noisy = y_tr.copy()
    noisy[corrupted] = (y_tr[corrupted] + rng.integers(1, 10, corrupted.sum())) % 10
    eye = np.eye(10)
    A_tr, A_val, A_te = feats(X_tr), feats(X_val), feats(X_te)
    lv = _Cleaning(A_tr, eye[noisy], A_val, eye[y_val], c)
    dim_w = A_tr.shape[1] * 10
    outer = Level(lv.outer_value, value_and_grad=lv.outer_value_and_grad, n_samples=n_val, name="f")
    inner = Level(lv.inner_value, value_and_grad=lv.inner_value_and_grad, hvp=lv.inner_hvp,
                  n_samples=n_train, name="g")
    return BilevelProblem(
        f=outer, g=inner, x0=np.zeros(n_train), y0=np.zeros(dim_w), name="hyper_cleaning",
        data={"A_test": A_te, "y_test": y_te, "corrupted": corrupted, "levels": lv},
    )


def _fit(lv: _Cleaning, logits, w0=None):
    """argmin_W g(logits, W) by L-BFGS (an independent reference solve)."""
    from scipy.optimize import minimize

    def fun(w):
        val, (_, grad) = lv.inner_value_and_grad(logits, w)
        return val, grad

    w0 = np.zeros(lv.p * lv.k) if w0 is None else np.asarray(w0, dtype=float)
    res = minimize(fun, w0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9})
    return res.x


def cleaning_metrics(problem: BilevelProblem, x=None, y=None, z=None, *, weights=None,
                     refit: bool = False) -> dict:
    """Test accuracy of the models ``z`` and ``y`` and F1 of flagging corrupted samples by
    sigmoid(x_i) < 0.5. ``refit``: also ``test_acc_refit``, the accuracy of argmin_W g(x, W)
    solved by L-BFGS (from ``z``), which judges the weights x alone whatever a method's z.
    ``weights`` (0/1 per training sample) instead trains the reference model on those
    weights (the noisy and clean-only baselines)."""
    data = problem.data
    A, labels, corrupted = data["A_test"], data["y_test"], data["corrupted"]
    lv = data["levels"]

    def accuracy(w):
        return float(np.mean(np.argmax(A @ w.reshape(lv.p, lv.k), axis=1) == labels))

    if weights is not None:
        logits = np.where(np.asarray(weights) > 0, 40.0, -40.0)
        return {"test_acc": accuracy(_fit(lv, logits))}
    out = {}
    if z is not None:
        out["test_acc"] = accuracy(np.asarray(z))
    if y is not None:
        out["test_acc_y"] = accuracy(np.asarray(y))
    if x is not None:
        flag = np.asarray(x) < 0.0
        tp = np.sum(flag & corrupted)
        prec = tp / max(flag.sum(), 1)
        rec = tp / max(corrupted.sum(), 1)
        out["f1"] = float(0.0 if tp == 0 else 2 * prec * rec / (prec + rec))
        if refit:
            out["test_acc_refit"] = accuracy(_fit(lv, np.asarray(x), z))
    return out
