"""Meta-training's outer steps one at a time, outside ``fit``.

:class:`OuterSteps` is the training side of the estimator's own code, as
:class:`~sklearn_meta._evaluation.EpisodicEvaluator` is the evaluation side:
it draws and gathers a fitted meta-estimator's training episodes as ``fit``
does and takes outer steps from its state on the core's ``meta_step``, so
that the speed benchmark times what ``fit`` runs (less its per-call
validation) without reaching into the estimator.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial

import numpy as np

from ._core._meta import EpisodeBatch, meta_step
from ._validation import encode_groups


class OuterSteps:
    """The training episodes and outer steps of a fitted meta-estimator.

    Parameters
    ----------
    estimator : BaseMetaEstimator
        A fitted meta-estimator; its state is never changed here.
    X : array-like of shape (n_samples, n_features)
        Training inputs (those of ``fit``, or any of the same features).
    y : array-like of shape (n_samples,)
        Their targets (for classifiers, classes seen in ``fit``).
    groups : array-like of shape (n_samples,), default=None
        Task labels, as in ``fit``.

    Attributes
    ----------
    pool : object
        The tasks that ``fit`` draws episodes from, for this data.
    X, y : torch.Tensor
        The data on the estimator's device, as the core takes it.
    """

    def __init__(self, estimator, X, y, groups=None):
        targets, labels = estimator._encode_targets(y, fitting=False)
        codes, names = encode_groups(groups, len(X))
        self.estimator = estimator
        self.pool = estimator._task_pool(targets, codes, names, labels, evaluating=False)
        self.X, self.y = estimator._tensors(X, targets)

    @property
    def meta_batch_size(self) -> int:
        """Episodes per outer step of ``fit``."""
        return self.estimator._setting("meta_batch_size")

    def batch(self, rng: np.random.Generator, size: int | None = None) -> EpisodeBatch:
        """A meta-batch of ``size`` episodes (None: ``meta_batch_size``),
        drawn and gathered as ``fit`` draws them before each step."""
        size = self.meta_batch_size if size is None else size
        return EpisodeBatch.gather(self.X, self.y, self.pool.sample(rng, size))

    def step_function(self, *, vectorize: bool, **params) -> Callable[[EpisodeBatch], float]:
        """Outer steps of a copy of the estimator with ``params`` set (such as
        ``first_order=True``), its own optimizer state and inner loop, on the
        vectorized path (``vmap``) or the loop: each call takes one step on a
        meta-batch and returns its loss, synchronized."""
        estimator = copy.deepcopy(self.estimator).set_params(**params)
        return partial(
            meta_step,
            estimator._episode_loss(self.pool),
            optimizer=estimator._optimizer,
            vectorize=vectorize,
            chunk_size=estimator.task_chunk_size,
        )
