"""Shared pieces of the benchmark suites (``optkit bench``); imports benchopt."""
