"""optkit's core: oracles, problems, the run loop, results and the method registry."""

from .constraints import ConstraintOracle, to_bounds, to_constraint_oracle
from .minimize import get_method, minimize, solve
from .oracle import (
    Counted,
    FunctionOracle,
    GradOracle,
    HVPOracle,
    MissingOracleError,
    PopulationOracle,
    StochasticOracle,
    ValueOracle,
    dask_map,
)
from .problem import Problem
from .registry import MethodInfo, Option, get_method_info, list_methods, register, show_options
from .result import STATUS, OptimizeResult, Trace
from .solver import Solver, run

__all__ = [
    "ConstraintOracle", "Counted", "FunctionOracle", "GradOracle", "HVPOracle", "MethodInfo",
    "MissingOracleError", "OptimizeResult", "Option", "PopulationOracle", "Problem", "STATUS",
    "Solver", "StochasticOracle", "Trace", "ValueOracle", "dask_map", "get_method",
    "get_method_info", "list_methods", "minimize", "register", "run", "show_options", "solve",
    "to_bounds", "to_constraint_oracle",
]
