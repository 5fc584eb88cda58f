"""Every public name (each subpackage's ``__all__``) has a page in the API reference.

The reference lists names under ``.. autosummary:: :toctree: generated`` in
``docs/api/<package>.rst``; sphinx-build then writes one page per listed name. optkit's
top-level names are optkit.core's and are documented there.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api"
PACKAGES = ["optkit.core", "optkit.optim", "optkit.zeroth", "optkit.ot", "optkit.bilevel",
            "optkit.constrained", "optkit.completion", "optkit.cbo"]


def documented(package: str) -> set[str]:
    text = (API / f"{package.replace('.', '_')}.rst").read_text()
    block = re.search(r"\.\. autosummary::\n   :toctree: generated\n\n((?:   \S+\n)+)", text)
    assert block, f"no autosummary :toctree: block in the page of {package}"
    return {line.strip() for line in block.group(1).splitlines()}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_has_an_api_page(package):
    assert documented(package) == set(importlib.import_module(package).__all__)


def test_top_level_names_are_documented_in_core():
    import optkit

    assert set(optkit.__all__) - {"__version__"} <= documented("optkit.core")


def test_every_subpackage_page_is_in_the_api_index():
    index = (API / "index.rst").read_text()
    for package in ["optkit", *PACKAGES]:
        assert f"   {package.replace('.', '_')}\n" in index
