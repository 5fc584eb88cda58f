from benchopt import BaseDataset

from optkit.constrained.hs import tier


class Dataset(BaseDataset):
    """benchopt's test dataset: Hock-Schittkowski problem 7 (n = 2, one nonlinear equality,
    exact derivatives, f* = -sqrt(3)), small enough for every solver of the suite."""

    name = "simulated"
    parameters = {"problem": ["HS7"]}
    test_parameters = {"problem": ["HS7"]}

    def get_data(self):
        (p,) = [p for p in tier("core") if p.name == self.problem]
        return dict(problem=p.problem())
