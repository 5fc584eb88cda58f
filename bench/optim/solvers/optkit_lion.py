from benchmark_utils import TorchSolver

from optkit.optim import Lion


class Solver(TorchSolver):
    """optkit Lion-κ (sign: Lion; l2 and nuclear scaled to sign's step size)."""

    name = "optkit-lion"
    parameters = {"kappa": ["sign", "l2"], "lr": [3e-4], "weight_decay": [0.1]}
    test_config = {"kappa": "sign"}

    def make_optimizer(self, params):
        opts = {"scale": "sqrt_numel"} if self.kappa in ("l2", "nuclear") else None
        return Lion(params, lr=self.lr, weight_decay=self.weight_decay, kappa=self.kappa,
                    kappa_options=opts)
