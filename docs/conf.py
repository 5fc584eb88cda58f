"""Sphinx configuration of the optkit documentation.

Build (warnings are errors, the gallery is executed)::

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

Intersphinx: the inventories of numpy, scipy, torch and POT are fetched from their sites
when those are reachable. Offline (a sandbox, an air-gapped CI runner), an unreachable
inventory makes Sphinx log a warning that ``-W`` turns into an error and that no
``suppress_warnings`` entry covers, so each inventory is probed first (a 3 s request) and
only the reachable ones are registered; references into an unreachable project render as
plain code. ``OPTKIT_DOCS_INTERSPHINX=0`` skips the probe and the links.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

import optkit  # noqa: E402

project = "optkit"
author = "the optkit developers"
copyright = "2026, the optkit developers"
release = optkit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinx-mathjax-offline",  # MathJax 3 served from _static/mathjax: the math renders offline
]

templates_path = ["_templates"]
# Developer notes (docs/dev/*.md) stay in the repository, out of the user's site.
exclude_patterns = ["_build", "_generated", "dev", "**.ipynb_checkpoints", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "sg_execution_times.rst"]

# -- API reference ------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# -- intersphinx ----------------------------------------------------------------------------
_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "numpy": "https://numpy.org/doc/stable",
    "scipy": "https://docs.scipy.org/doc/scipy",
    "torch": "https://docs.pytorch.org/docs/stable",
    "ot": "https://pythonot.github.io",
}


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/objects.inv", timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


if os.environ.get("OPTKIT_DOCS_INTERSPHINX", "1") == "0":
    intersphinx_mapping = {}
else:
    intersphinx_mapping = {name: (url, None) for name, url in _INVENTORIES.items() if _reachable(url)}
    for _name in sorted(set(_INVENTORIES) - set(intersphinx_mapping)):
        print(f"intersphinx: {_name} inventory unreachable, its references render as plain code")
intersphinx_timeout = 10

# -- example gallery (executed at build time) ---------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "write_computation_times": False,
}

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"optkit {release}"
html_static_path = ["_static", "_generated/static"]  # bench_page writes the latter
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_context = {"default_mode": "light"}  # an empty stored mode makes the theme log a console error
html_favicon = "_static/favicon.svg"
html_show_sourcelink = False
html_css_files = ["custom.css"]


def _data_comment(app, what, name, obj, options, lines):
    """The ``#:`` comment of a data object re-exported by a package (``optkit.core.STATUS``).

    autodoc reads ``#:`` comments from the module named in the directive, the package here,
    so the comment at the definition in a submodule (``optkit.core.result``) is looked up; it
    replaces the docstring of the value's type (``tuple``, ``dict``) that autodoc shows otherwise.
    """
    if what != "data":
        return
    from sphinx.pycode import ModuleAnalyzer

    package, _, attr = name.rpartition(".")
    for modname, module in list(sys.modules.items()):
        if not modname.startswith(package + ".") or getattr(module, attr, None) is not obj:
            continue
        try:
            comments = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # a module without readable source (compiled, frozen)
            continue
        if ("", attr) in comments:
            lines[:] = list(comments[("", attr)])
            return


def setup(app):
    """Render the benchmark page's table and figures from the committed bench results."""
    import bench_page

    app.connect("autodoc-process-docstring", _data_comment)
    bench_page.render(DOCS / "_generated")
