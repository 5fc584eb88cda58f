from benchopt import BaseDataset

from optkit.constrained.hs import tier


class Dataset(BaseDataset):
    """Hand-coded Hock-Schittkowski / Boggs-Tolle equality-constrained problems (robust core
    tier), exact derivatives, known optimum."""

    name = "hs-core"
    parameters = {"problem": [p.name for p in tier("core")]}
    test_parameters = {"problem": ["HS7"]}

    def get_data(self):
        (p,) = [p for p in tier("core") if p.name == self.problem]
        return dict(problem=p.problem())
