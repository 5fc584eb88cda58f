"""Low-rank matrix completion by (robust) alternating minimization.

:func:`altmin` implements AltMinComplete (Jain, Netrapalli, Sanghavi, STOC 2013) with
three half-step solvers: exact batched normal equations, the sketch-and-precondition
half-step of Gu, Song, Yin, Zhang (ICLR 2024), and warm-started k-step CG.
:func:`half_step` exposes one half-step; :mod:`optkit.completion.datasets` has the
synthetic generator and the MovieLens-100k loader.

Scale beyond one machine: ``parallel=client`` runs the row/column blocks of each
half-step on a ``dask.distributed`` cluster. For data that does not fit one machine,
Spark's ``pyspark.ml.recommendation.ALS`` is the engine; parameter mapping:
``rank`` -> ``rank``, ``maxiter`` -> ``maxIter``, ``reg`` with ``reg_scaling="count"`` ->
``regParam`` (Spark scales by the counts, ALS-WR), ``rng`` -> ``seed``, ``init="random"``
(Spark starts at random, without clipping or sample splitting); entries go in
``userCol``/``itemCol``/``ratingCol`` as int32 ids, and ``coldStartStrategy="drop"`` keeps
NaN predictions of unseen ids out of an RMSE.
"""

from .altmin import CompletionResult, altmin, half_step

__all__ = ["CompletionResult", "altmin", "half_step"]
