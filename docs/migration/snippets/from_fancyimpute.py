import numpy as np

rng = np.random.default_rng(0)
m, n, k = 200, 150, 4
M = rng.normal(size=(m, k)) @ rng.normal(size=(k, n))
mask = rng.random((m, n)) < 0.3                       # 30 % of the entries observed
X_incomplete = np.where(mask, M, np.nan)

# --- before
from fancyimpute import SoftImpute

M_soft = SoftImpute(max_rank=k, verbose=False).fit_transform(X_incomplete)
# --- after
import optkit.completion

rows, cols = np.nonzero(mask)
res = optkit.completion.altmin((rows, cols, M[rows, cols], (m, n)), rank=k, rng=0)
M_alt = res.U @ res.V.T                               # or res.predict(rows, cols) per entry
# --- check
assert res.success, res.message
assert np.linalg.norm(M_alt - M) / np.linalg.norm(M) < 1e-6
# --- compare
assert np.linalg.norm(M_soft - M) / np.linalg.norm(M) < 0.2
