"""optkit's benchmark suites, shipped in the wheel as the package data ``optkit.benchmarks``.

Each subfolder holding an ``objective.py`` is one benchopt benchmark (run with
``optkit bench run <suite>`` or ``benchopt run``); ``quick.yml`` selects the default
``optkit bench`` run. This folder is data, read through :mod:`importlib.resources`
by :func:`optkit._bench.api.bench_root`; nothing here is imported as ``optkit`` code.
"""
