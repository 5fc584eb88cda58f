import numpy as np
import scipy.sparse
import scipy.sparse.linalg
from benchopt import BaseSolver


class Solver(BaseSolver):
    r"""SoftImpute (Mazumder, Hastie, Tibshirani, "Spectral regularization algorithms for
    learning large incomplete matrices", JMLR 11, 2010), Algorithm 1 with warm starts along a
    decreasing path of :math:`\lambda` and the rank restriction of its Section 9 ("maximum
    rank" ``rank``), written here because fancyimpute does not install with current
    scikit-learn.

    Each iteration is :math:`Z \leftarrow S_\lambda(P_\Omega(M) + P_\Omega^\perp(Z))`, with
    :math:`S_\lambda` the soft-thresholding of singular values. As in the paper's Section 5 the
    filled matrix is never formed: it equals the sparse residual
    :math:`P_\Omega(M - Z)` plus the low-rank :math:`Z`, so the top-``rank`` SVD (ARPACK,
    warm-started) costs one pass over :math:`\Omega` per matrix-vector product.
    :math:`\lambda_t = \sigma_1(P_\Omega(M)) \max(\text{decay}^{t+1}, \text{lam\_min})`: the
    path the paper recommends, ending at a small ``lam_min`` (noise-free data favour a small
    final :math:`\lambda`). ``passes`` counts the passes over the observed entries.
    """

    name = "softimpute"
    sampling_strategy = "callback"
    requirements = []
    parameters = {"decay": [0.7], "lam_min": [1e-4]}

    def set_objective(self, observed, rank, options):
        self.observed, self.rank, self.options = observed, rank, options

    def run(self, callback):
        rows, cols, vals, (m, n) = self.observed
        k = self.rank
        mean = float(vals.mean()) if self.options.get("center") == "global" else 0.0
        target = vals - mean
        U, s, V = np.zeros((m, k)), np.zeros(k), np.zeros((n, k))
        self.passes = 0
        self.result = dict(U=U * s, V=V, mean=mean, passes=0)

        def residual_operator():
            resid = scipy.sparse.csr_matrix(
                (target - np.einsum("ij,ij->i", U[rows] * s, V[cols]), (rows, cols)), shape=(m, n))
            resid_t = resid.T.tocsr()

            def matvec(x):
                self.passes += 1
                x = np.ravel(x)
                return resid @ x + U @ (s * (V.T @ x))

            def rmatvec(y):
                self.passes += 1
                y = np.ravel(y)
                return resid_t @ y + V @ (s * (U.T @ y))

            return scipy.sparse.linalg.LinearOperator((m, n), matvec=matvec, rmatvec=rmatvec,
                                                      dtype=float)

        rng = np.random.default_rng(self.get_seed())
        sigma_1 = scipy.sparse.linalg.svds(residual_operator(), k=1, return_singular_vectors=False,
                                           random_state=rng)[0]
        v0 = rng.standard_normal(min(m, n))
        t = 0
        while callback():
            lam = sigma_1 * max(self.decay ** (t + 1), self.lam_min)
            Uk, sk, Vtk = scipy.sparse.linalg.svds(residual_operator(), k=k, v0=v0, tol=1e-10)
            self.passes += 1  # the residual on Omega
            U, s, V = Uk, np.maximum(sk - lam, 0.0), Vtk.T
            v0 = (Uk if m <= n else Vtk.T) @ sk
            t += 1
            self.result = dict(U=U * s, V=V, mean=mean, passes=self.passes)

    def get_result(self):
        return self.result
