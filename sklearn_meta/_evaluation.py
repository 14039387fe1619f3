"""Episodic evaluation: the one evaluator of a fitted meta-estimator.

:class:`EpisodicEvaluator` is the estimator's own evaluation code, so it may
use the estimator's internals; everything else that evaluates episodically
goes through it and the public API: ``score`` and early stopping (through
:class:`EpisodicEvaluationMixin`), the scorers, :func:`evaluate_few_shot`
and the few-shot curves of :mod:`sklearn_meta.model_selection`, and the
benchmarks. It offers three things:

- :meth:`EpisodicEvaluator.draw`: :class:`EvaluationEpisodes` from
  ``(X, y, groups)``, either the estimator's own (its task model,
  ``n_eval_episodes``, drawn from ``random_state``) or those of given
  :class:`Settings`, drawn from a seed (:func:`sample_episodes`): with the
  same seed, the same episodes for every estimator;
- :meth:`EpisodicEvaluator.outputs`: adapt to the support sets of a run of
  episodes and predict their queries, a meta-batch per ``vmap`` call
  (guarded: adaptation that diverges keeps its last good step);
- :meth:`EpisodicEvaluator.score_parts`: each episode's part of ``score``,
  with one warning naming the tasks whose adaptation diverged.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._core._episodes import Episodes
from ._core._inner import DIVERGENCE_FACTOR
from ._core._meta import EpisodeBatch, map_episodes
from ._core._model import evaluation_mode
from ._core._threads import torch_threads
from ._evaluation_episodes import (
    EvaluationEpisodes,
    Settings,
    episode_classes,
    episode_tasks,
    sample_episodes,
)
from ._validation import check_sample_weight, encode_groups
from .exceptions import AdaptationWarning

# torch.func transforms are not thread-safe: threads (joblib's threading
# backend) adapt one meta-batch at a time.
_TRANSFORM_LOCK = threading.Lock()


class EpisodicEvaluator:
    """Episodic evaluation of a fitted meta-estimator.

    Parameters
    ----------
    estimator : BaseMetaEstimator
        The meta-estimator (fitted, or being fitted for early stopping).
    """

    def __init__(self, estimator):
        self.estimator = estimator

    # -- drawing ------------------------------------------------------------
    def draw(
        self,
        X,
        y,
        groups=None,
        *,
        settings: Settings | None = None,
        seed: int | None = None,
        sample_weight=None,
    ) -> EvaluationEpisodes:
        """Episodes of held-out data ``(X, y, groups)``, as the estimator sees them.

        Without ``settings``: the estimator's own, those of ``score`` (its
        task model, ``n_eval_episodes`` drawn from ``random_state``; by its
        ``_evaluation_episodes``, as early stopping draws them), with
        ``sample_weight`` weighing the queries. With ``settings``: its
        ``n_episodes`` episodes of its shots, queries and way (None: the
        estimator's ``n_way``, lowered to what the data have), drawn by a
        generator seeded with ``seed`` (:func:`sample_episodes`).
        """
        estimator = self.estimator
        check_is_fitted(estimator)
        X, y = estimator._validate_X_y(X, y, reset=False)
        targets, labels = estimator._encode_targets(y, fitting=False)
        codes, names = encode_groups(groups, len(X))
        if settings is None:
            weights = check_sample_weight(sample_weight, len(X))
            if not weights.any():
                raise ValueError(
                    "sample_weight is zero for every sample; there is nothing to score."
                )
            return estimator._evaluation_episodes(
                X, targets, codes, names, labels, weights, y_true=y
            )
        episodes, n_outputs = sample_episodes(
            estimator, targets, labels, (codes, names), settings, seed
        )
        return self._episodes(X, targets, labels, (codes, names), episodes, n_outputs, y_true=y)

    def own_episodes(
        self, X, y, codes, names, labels, weights=None, *, y_true=None
    ) -> EvaluationEpisodes:
        """The ``n_eval_episodes`` episodes of ``score`` from validated data:
        ``y`` encoded as the estimator's core takes it (``y_true``, when
        given, as the caller gave it), ``codes`` and ``names`` of the groups
        (``encode_groups``); gathered at once, as early stopping scores them
        again and again. They depend only on ``random_state``."""
        estimator = self.estimator
        pool = estimator._task_pool(y, codes, names, labels, evaluating=True)
        episodes = pool.sample(estimator._seeded_rng(), estimator.n_eval_episodes)
        return self._episodes(
            X,
            y,
            labels,
            (codes, names),
            episodes,
            estimator._n_outputs(pool),
            weights,
            y_true=y if y_true is None else y_true,
            gather=True,
        )

    def _episodes(
        self,
        X,
        y,
        labels,
        groups: tuple[np.ndarray, np.ndarray],
        episodes: Episodes,
        n_outputs: int,
        weights=None,
        *,
        y_true,
        gather: bool = False,
    ) -> EvaluationEpisodes:
        estimator = self.estimator
        X_t, y_t = estimator._tensors(X, y)
        if labels is None:
            classes, y_true = None, np.asarray(y_true)[episodes.query]
        else:
            classes = labels[episode_classes(y, episodes)]
            y_true = labels[y[episodes.query]]
        weights = check_sample_weight(None, len(X)) if weights is None else weights
        return EvaluationEpisodes(
            X_t,
            y_t,
            episodes,
            n_outputs,
            y_true,
            classes,
            torch.tensor(weights[episodes.query], device=estimator.device_),
            episode_tasks(*groups, episodes.support),
            EpisodeBatch.gather(X_t, y_t, episodes) if gather else None,
        )

    # -- adapting and predicting ---------------------------------------------
    def adaptation_steps(self, inner_steps: int | None = None) -> int:
        """The gradient steps each episode adapts with: ``inner_steps``, else
        the estimator's evaluation steps; an error for ``inner_steps`` given to
        a learner that adapts without steps."""
        return self.estimator._adaptation_loop(inner_steps).steps

    def episodes_per_call(self) -> int:
        """Episodes per ``vmap`` call (or per loop): ``task_chunk_size``, else
        ``meta_batch_size``, the memory bound."""
        estimator = self.estimator
        return estimator.task_chunk_size or estimator._setting("meta_batch_size")

    def outputs(
        self,
        episodes: EvaluationEpisodes,
        inner_steps: int | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Query outputs of episodes ``start:stop`` after adapting to each
        support set, in the units of the targets: shape (n_episodes, n_query,
        n_outputs), float64; and the adaptation steps each episode kept (fewer
        than :meth:`adaptation_steps` where adaptation diverged), shape
        (n_episodes,). Where a run starts and stops does not change the
        episodes, only how the float32 products are batched."""
        outputs, steps_kept = self._adapted(
            episodes,
            inner_steps,
            start,
            stop,
            lambda outputs, chunk, span: outputs.float().cpu().numpy(),
        )
        return self.estimator._decoded(outputs.astype(np.float64)), steps_kept

    def score_parts(
        self, episodes: EvaluationEpisodes, *, warn: bool = True, stacklevel: int = 2
    ) -> np.ndarray:
        """Each episode's score as (numerator, denominator) of ``score``: shape
        (n_episodes, 2). With ``warn``, an :class:`AdaptationWarning` names the
        tasks whose adaptation diverged (``stacklevel`` counted as by
        ``warnings.warn`` from the caller)."""
        score_parts = self.estimator._kind.score_parts
        weights = episodes.query_weights
        parts, steps_kept = self._adapted(
            episodes,
            None,
            0,
            None,
            lambda outputs, chunk, span: (
                score_parts(outputs, chunk.y_query, weights[span]).cpu().numpy()
            ),
        )
        if warn:
            steps = self.adaptation_steps()
            warn_diverged(steps_kept, steps, episodes.tasks, stacklevel=stacklevel + 2)
        return parts.astype(np.float64)

    def _adapted(
        self,
        episodes: EvaluationEpisodes,
        inner_steps: int | None,
        start: int,
        stop: int | None,
        finish: Callable[[torch.Tensor, EpisodeBatch, slice], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray]:
        """``finish(outputs, chunk, span)`` of the query outputs of each run of
        :meth:`episodes_per_call` episodes of ``start:stop`` (``span``: their
        positions), concatenated, and the steps each episode kept."""
        estimator = self.estimator
        loop = estimator._adaptation_loop(inner_steps)
        learner, n_outputs = estimator.learner_, episodes.n_outputs
        vectorize = bool(estimator.vectorized_)

        def adapt_and_predict(x_support, y_support, x_query, y_query):
            return learner.adapt_and_predict(x_support, y_support, x_query, n_outputs, loop)

        stop = len(episodes) if stop is None else stop
        size = self.episodes_per_call()
        results, steps_kept = [], []
        # evaluation_mode: validation scores during fit too
        with evaluation_mode(learner), torch_threads(estimator._own_threads()):
            for first in range(start, stop, size):
                span = slice(first, min(first + size, stop))
                chunk = episodes.span(span.start, span.stop)
                with _TRANSFORM_LOCK, torch.no_grad():
                    outputs, kept = map_episodes(adapt_and_predict, chunk, vectorize)
                    results.append(finish(outputs, chunk, span))
                steps_kept.append(kept.cpu().numpy())
        return np.concatenate(results), np.concatenate(steps_kept)


class EpisodicEvaluationMixin:
    """The episodic scores of :class:`~sklearn_meta._base.BaseMetaEstimator`,
    by its :class:`EpisodicEvaluator`."""

    def _score_parts(self, X, y, groups=None, sample_weight=None) -> np.ndarray:
        """Each episode's score as (numerator, denominator): shape (n_episodes, 2)."""
        evaluator = EpisodicEvaluator(self)
        episodes = evaluator.draw(X, y, groups, sample_weight=sample_weight)
        return evaluator.score_parts(episodes, stacklevel=2)

    def _evaluation_episodes(
        self, X, y, codes, names, labels, weights=None, *, y_true=None
    ) -> EvaluationEpisodes:
        """``n_eval_episodes`` episodes of validated data that depend only on
        ``random_state``: those of ``score`` and of early stopping (see
        :meth:`EpisodicEvaluator.own_episodes`)."""
        return EpisodicEvaluator(self).own_episodes(
            X, y, codes, names, labels, weights, y_true=y_true
        )

    def _episode_score_parts(self, evaluation: EvaluationEpisodes, warn: bool = True) -> np.ndarray:
        """Each episode's score parts; with ``warn``, an :class:`AdaptationWarning`
        names the tasks whose adaptation diverged."""
        return EpisodicEvaluator(self).score_parts(evaluation, warn=warn, stacklevel=3)


def warn_diverged(steps_kept: np.ndarray, steps: int, tasks: list[str], *, stacklevel: int) -> None:
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
