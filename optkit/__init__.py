"""optkit: modern optimization algorithms as torch.optim optimizers, a scipy-style
``minimize``, and benchmark suites against the peers (``optkit bench``).

Subpackages (imported on demand): ``optkit.optim``, ``optkit.zeroth``, ``optkit.ot``,
``optkit.bilevel``, ``optkit.constrained``, ``optkit.completion``, ``optkit.cbo``.
"""

from .core import Problem, get_method, list_methods, minimize, show_options

__version__ = "0.2.0"

__all__ = ["Problem", "__version__", "get_method", "list_methods", "minimize", "show_options"]
