"""Package layout that pyproject.toml cannot express: the repository's ``bench/`` folder is
installed as the package ``optkit.benchmarks`` (its suites travel in the wheel, read through
``importlib.resources``) without moving it. Everything else is declared in pyproject.toml."""

from setuptools import find_namespace_packages, find_packages, setup

BENCH = "optkit.benchmarks"
# every suite folder (solvers/, datasets/, ...) is a package of optkit.benchmarks; run
# results, caches and downloaded data that benchopt may have left in a checkout are not.
LEFTOVERS = ["outputs", "*.outputs", "*__pycache__*", "*__cache__*", "data", "*.data",
             "*.joblib", "*.joblib.*"]
bench_packages = [BENCH] + [f"{BENCH}.{name}"
                            for name in find_namespace_packages(where="bench", exclude=LEFTOVERS)]

setup(
    packages=find_packages(include=["optkit", "optkit.*"]) + bench_packages,
    package_dir={BENCH: "bench"},
    package_data={name: ["*.yml", "*.toml"] for name in bench_packages},
)
