"""Grokking on CPU (spec §7, shortened): ⊥AdamW generalises, plain AdamW does not."""

import importlib.util
from pathlib import Path

import pytest
import torch

EPOCHS = 200


def _script():
    path = Path(__file__).resolve().parents[2] / "bench" / "grokking.py"
    spec = importlib.util.spec_from_file_location("optkit_bench_grokking", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results():
    grok = _script()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = grok.make_data()
        return {name: grok.train(name, EPOCHS, data)
                for name in ("perp-adamw", "perp-adamw-rescale", "adamw")}
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_split_and_model_follow_the_spec():
    grok = _script()
    (xtr, ytr), (xte, yte) = grok.make_data()
    assert (len(ytr), len(yte)) == (5107, 7662)
    assert torch.equal((xtr[:, :113].argmax(1) + xtr[:, 113:].argmax(1)) % 113, ytr)
    assert sum(p.numel() for p in grok.make_model().parameters()) == 226 * 200 + 200 * 200 + 200 * 113


@pytest.mark.slow
@pytest.mark.parametrize("name", ["perp-adamw", "perp-adamw-rescale"])
def test_perp_adamw_generalises_without_weight_decay(results, name):
    r = results[name]
    assert r["final_train_acc"] == 1.0
    assert r["final_test_acc"] >= 0.99
    assert r["final_collapse"] == 0.0


@pytest.mark.slow
def test_plain_adamw_memorises_without_generalising(results):
    r = results["adamw"]
    assert r["final_train_acc"] == 1.0
    assert r["best_test_acc"] < 0.05
