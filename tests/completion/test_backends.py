"""torch (CPU; CUDA runs the same code) and dask scale-out give the numpy/serial result."""

import numpy as np
import pytest

from optkit.completion import _blocks, altmin

from ._util import dense_error, problem

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def obs_m():
    return problem(300, 250, 4, 0.2, seed=0)


def _torch_obs(obs, dtype, device="cpu"):
    rows, cols, vals, shape = obs
    return (torch.as_tensor(rows), torch.as_tensor(cols),
            torch.as_tensor(vals, dtype=dtype, device=device), shape)


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_torch_matches_numpy(obs_m, solver):
    obs, M = obs_m
    kw = dict(solver=solver, maxiter=6, tol=0, rng=0, reg=1e-3, biases=True, center="global")
    ref = altmin(obs, 4, **kw)
    res = altmin(_torch_obs(obs, torch.float64), 4, **kw)
    assert isinstance(res.U, torch.Tensor) and res.U.dtype == torch.float64
    np.testing.assert_allclose(res.U.numpy(), ref.U, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.V.numpy(), ref.V, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.trace["rmse"], ref.trace["rmse"], rtol=1e-8)
    pred = res.predict(obs[0][:5], obs[1][:5], clip=(-1, 1))
    assert isinstance(pred, torch.Tensor) and float(pred.abs().max()) <= 1


@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_torch_float32_recovers(obs_m, solver):
    obs, M = obs_m
    res = altmin(_torch_obs(obs, torch.float32), 4, solver=solver, maxiter=40, rng=0)
    assert res.U.dtype == torch.float32
    assert dense_error(res, M) <= 1e-4


def test_torch_sketch_is_rejected(obs_m):
    with pytest.raises(ValueError, match="sketch"):
        altmin(_torch_obs(obs_m[0], torch.float64), 4, solver="sketch")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("solver", ["exact", "cg"])
def test_cuda_matches_cpu(obs_m, solver):
    obs, M = obs_m
    cpu = altmin(_torch_obs(obs, torch.float64), 4, solver=solver, maxiter=30, rng=0)
    gpu = altmin(_torch_obs(obs, torch.float64, "cuda"), 4, solver=solver, maxiter=30, rng=0)
    assert gpu.U.device.type == "cuda"
    assert dense_error(gpu, M) <= 1e-6
    np.testing.assert_allclose(gpu.U.cpu().numpy() @ gpu.V.cpu().numpy().T,
                               cpu.U.numpy() @ cpu.V.numpy().T, atol=1e-8)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize("solver", ["exact", "sketch", "cg"])
def test_dask_equals_serial(obs_m, client, solver, monkeypatch):
    obs, M = obs_m
    monkeypatch.setattr(_blocks, "MEMORY_CAP", 2**17)  # 5-13 blocks per half-step
    kw = dict(solver=solver, maxiter=3, tol=0, rng=5, biases=solver == "cg", reg=0.01)
    serial = altmin(obs, 4, **kw)
    dist = altmin(obs, 4, parallel=client, **kw)
    assert np.array_equal(serial.U, dist.U) and np.array_equal(serial.V, dist.V)
    # blocks change nothing for the deterministic solvers
    if solver != "sketch":
        monkeypatch.setattr(_blocks, "MEMORY_CAP", 2**24)
        one_block = altmin(obs, 4, **kw)
        np.testing.assert_allclose(one_block.U, serial.U, rtol=1e-10, atol=1e-12)
