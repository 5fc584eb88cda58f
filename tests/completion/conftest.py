"""One BLAS thread for these tests: the CI machine's 2 cores are shared, and OpenBLAS
threads that spin-wait under oversubscription make small LAPACK calls 100x slower."""

import pytest


@pytest.fixture(autouse=True)
def _one_blas_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1):
        yield
