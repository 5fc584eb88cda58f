import pytest

import optkit
from optkit.core import get_method_info

from .problems import problems_for


def _method_problem_pairs():
    pairs = []
    for name in optkit.list_methods():
        info = get_method_info(name)
        for make in problems_for(info.requires):
            pairs.append(pytest.param((name, make), id=f"{name}-{make.__name__.strip('_')}"))
    return pairs


def pytest_generate_tests(metafunc):
    if "method_problem" in metafunc.fixturenames:
        metafunc.parametrize("method_problem", _method_problem_pairs())
    if "method" in metafunc.fixturenames:
        metafunc.parametrize("method", optkit.list_methods())
    if "optimizer_method" in metafunc.fixturenames:
        names = [n for n in optkit.list_methods() if get_method_info(n).optimizer is not None]
        metafunc.parametrize("optimizer_method", names)
