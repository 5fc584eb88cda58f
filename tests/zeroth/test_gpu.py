"""CUDA: a MeZO step holds the model, one z chunk and one forward's activations, nothing more."""

import pytest
import torch
from torch import nn

from optkit.zeroth import MeZO

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_cuda_peak_memory_of_a_step_is_inference_plus_one_chunk():
    torch.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(2048, 2048) for _ in range(8)]).cuda().eval()
    x, y = torch.randn(64, 2048, device="cuda"), torch.randn(64, 2048, device="cuda")

    def closure():
        return nn.functional.mse_loss(model(x), y)

    opt = MeZO(model.parameters(), lr=1e-6, rng=0)
    opt.step(closure)  # warm up (cuBLAS workspaces, allocator)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        closure()
    torch.cuda.synchronize()
    inference_peak = torch.cuda.max_memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    opt.step(closure)
    torch.cuda.synchronize()
    step_peak = torch.cuda.max_memory_allocated()
    largest = max(p.numel() for p in model.parameters()) * 4
    assert torch.cuda.memory_allocated() == before  # nothing kept
    assert step_peak <= inference_peak + largest + 2 ** 20
    # replay on the same device type: two runs with one seed agree bitwise
    p0 = [p.detach().clone() for p in model.parameters()]
    opt2 = MeZO(model.parameters(), lr=1e-6, rng=5)
    opt2.step(closure)
    p1 = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p, q in zip(model.parameters(), p0):
            p.copy_(q)
    MeZO(model.parameters(), lr=1e-6, rng=5).step(closure)
    assert all(torch.equal(a, b) for a, b in zip(p1, model.parameters()))
