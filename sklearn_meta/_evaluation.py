"""Episodic evaluation: scores of episodes drawn from held-out tasks.

``score`` and early stopping draw ``n_eval_episodes`` episodes that depend
only on ``random_state``, adapt to each support set and score its queries;
adaptation that diverges is named, task by task, in one warning.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._core._inner import DIVERGENCE_FACTOR
from ._core._meta import EpisodeBatch, episode_score_parts
from ._core._model import evaluation_mode
from ._validation import check_sample_weight, encode_groups
from .exceptions import AdaptationWarning


class _EvaluationEpisodes(NamedTuple):
    batch: EpisodeBatch
    query_weights: torch.Tensor
    n_outputs: int
    task_names: list[str]


class EpisodicEvaluationMixin:
    """The episodic scores of :class:`~sklearn_meta._base.BaseMetaEstimator`.

    It relies on the estimator's hooks and input checks, and on its
    adaptation loop (``_adaptation_loop``).
    """

    def _score_parts(self, X, y, groups=None, sample_weight=None) -> np.ndarray:
        """Each episode's score as (numerator, denominator): shape (n_episodes, 2)."""
        check_is_fitted(self)
        X, y = self._validate_X_y(X, y, reset=False)
        y, labels = self._encode_targets(y, fitting=False)
        codes, names = encode_groups(groups, len(X))
        weights = check_sample_weight(sample_weight, len(X))
        if not weights.any():
            raise ValueError("sample_weight is zero for every sample; there is nothing to score.")
        evaluation = self._evaluation_episodes(X, y, codes, names, labels, weights)
        return self._episode_score_parts(evaluation)

    def _evaluation_episodes(self, X, y, codes, names, labels, weights=None) -> _EvaluationEpisodes:
        """``n_eval_episodes`` episodes that depend only on ``random_state``."""
        pool = self._task_pool(y, codes, names, labels, evaluating=True)
        episodes = pool.sample(self._seeded_rng(), self.n_eval_episodes)
        weights = check_sample_weight(None, len(X)) if weights is None else weights
        return _EvaluationEpisodes(
            EpisodeBatch.gather(*self._tensors(X, y), episodes),
            torch.tensor(weights[episodes.query], device=self.device_),
            self._n_outputs(pool),
            episode_tasks(codes, names, episodes.support),
        )

    def _episode_score_parts(
        self, evaluation: _EvaluationEpisodes, warn: bool = True
    ) -> np.ndarray:
        """Each episode's score parts; with ``warn``, an :class:`AdaptationWarning`
        names the tasks whose adaptation diverged."""
        loop = self._adaptation_loop()
        learner = self.learner_

        def adapt_and_predict(x_support, y_support, x_query):
            return learner.adapt_and_predict(
                x_support, y_support, x_query, evaluation.n_outputs, loop
            )

        with evaluation_mode(learner):  # validation scores during fit too
            parts, steps_kept = episode_score_parts(
                adapt_and_predict,
                self._kind.score_parts,
                evaluation.batch,
                evaluation.query_weights,
                bool(self.vectorized_),
                self._episodes_per_call(),
            )
        if warn:
            warn_diverged(steps_kept, loop.steps, evaluation.task_names, stacklevel=4)
        return parts

    def _episodes_per_call(self) -> int:
        """Episodes per ``vmap`` call when adapting for scores: the memory bound."""
        return self.task_chunk_size or self.meta_batch_size


def episode_tasks(codes: np.ndarray, names: np.ndarray, support: np.ndarray) -> list[str]:
    """What each episode was drawn from, for messages: its group, or its number
    when there are no groups."""
    if len(names) == 1 and names[0] is None:
        return [f"episode {e}" for e in range(len(support))]
    named = [names[codes[rows[0]]] for rows in support]
    return [f"group {name.item() if isinstance(name, np.generic) else name!r}" for name in named]


def warn_diverged(
    steps_kept: np.ndarray, steps: int, tasks: list[str], *, stacklevel: int
) -> None:
    """One :class:`AdaptationWarning` naming the tasks whose adaptation kept
    fewer than ``steps`` steps."""
    diverged = np.flatnonzero(np.asarray(steps_kept) < steps)
    if not len(diverged):
        return
    named = ", ".join(f"{tasks[e]} (kept {steps_kept[e]} of {steps} steps)" for e in diverged[:5])
    more = f" and {len(diverged) - 5} more" if len(diverged) > 5 else ""
    warnings.warn(
        f"Adaptation diverged on {named}{more}: the support loss became non-finite or rose "
        f"over {DIVERGENCE_FACTOR:g} times its starting value, so the last step before that was "
        "kept. Lower inner_lr or inner_steps (or scale the inputs).",
        AdaptationWarning,
        stacklevel=stacklevel,
    )
