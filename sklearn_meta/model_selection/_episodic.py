"""Episodes drawn once and scored with any metric.

The machinery behind :func:`make_episodic_scorer`, :func:`evaluate_few_shot`
and :func:`few_shot_curve`. A meta-estimator's own evaluator
(:class:`~sklearn_meta._evaluation.EpisodicEvaluator`, as ``score`` uses it)
draws the episodes and adapts to every support set a meta-batch at a time
(``torch.func.vmap``); here runs of meta-batches are spread over joblib
workers and each episode's query outputs are scored with a scikit-learn
metric (``_metrics``). Estimators that cannot be vectorized but have a public
``adapt`` returning a fitted estimator (such as ``SupportSetClassifier``)
take a loop over the same episodes instead: ``adapt`` on each support set,
``predict`` (or ``predict_proba``) on its queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import is_classifier
from sklearn.utils import _safe_indexing, check_array, check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._adapter import adapt_params, resolve_meta_estimator
from .._base import BaseMetaEstimator
from .._evaluation import EpisodicEvaluator, Settings, sample_episodes, warn_diverged
from .._validation import check_int, encode_groups
from ._metrics import Metric, apply_metric, as_scored

__all__ = [
    "Settings",
    "adapted_predictions",
    "check_settings",
    "episode_scores",
    "episode_targets",
    "meta_estimator",
    "sample_episodes",
]


def check_settings(settings: Settings) -> Settings:
    check_int("n_shots", settings.n_shots, 1)
    check_int("n_queries", settings.n_queries, 1)
    check_int("n_episodes", settings.n_episodes, 1)
    if settings.n_way is not None:
        check_int("n_way", settings.n_way, 2)
    if settings.inner_steps is not None:
        check_int("inner_steps", settings.inner_steps, 0)
    return settings


def meta_estimator(estimator, X):
    """The fitted meta-estimator that does the work, and ``X`` as it sees it.

    A :class:`~sklearn.pipeline.Pipeline` transforms ``X`` with its first
    steps, so support and query sets alike (``resolve_meta_estimator``).
    """
    resolved = resolve_meta_estimator(estimator)
    return resolved.meta, resolved.transform(X)


def episode_scores(
    meta,
    X,
    y,
    groups,
    settings: Sequence[Settings],
    metric: Metric,
    random_state,
    n_jobs=None,
) -> list[np.ndarray]:
    """Per-episode scores for each of ``settings``.

    All episodes are drawn here first, each setting from one seed that
    ``random_state`` gives (for an int, the seed ``score`` of an estimator with
    that ``random_state`` draws from); then contiguous runs of whole meta-batches are spread
    over ``n_jobs`` joblib workers. The outputs do not depend on ``n_jobs``.
    """
    if not is_classifier(meta) and metric.response_method != "predict":
        raise ValueError(
            f"response_method={metric.response_method!r} needs a classifier; "
            "this estimator is a regressor: use 'predict'."
        )
    if not isinstance(meta, BaseMetaEstimator):  # a public adapt: one episode at a time
        return looped_episode_scores(meta, X, y, groups, settings, metric, random_state, n_jobs)
    evaluator = EpisodicEvaluator(meta)
    seed = check_random_state(random_state).randint(2**31 - 1)
    drawn = [evaluator.draw(X, y, groups, settings=s, seed=seed) for s in settings]
    # before any work: an error for inner_steps given to learners without them
    steps = [evaluator.adaptation_steps(s.inner_steps) for s in settings]
    n_parts = effective_n_jobs(n_jobs)
    jobs = [
        (i, start, stop)
        for i, episodes in enumerate(drawn)
        for start, stop in _spans(len(episodes), evaluator.episodes_per_call(), n_parts)
    ]
    calls = [(drawn[i], settings[i].inner_steps, start, stop) for i, start, stop in jobs]
    results = _run_calls(evaluator.outputs, calls, n_jobs)
    scores = []
    for i, episodes in enumerate(drawn):
        mine = [r for r, (j, *_) in zip(results, jobs, strict=True) if j == i]
        outputs, steps_kept = (np.concatenate(parts) for parts in zip(*mine, strict=True))
        warn_diverged(steps_kept, steps[i], episodes.tasks, stacklevel=4)
        scores.append(apply_metric(episodes, outputs, metric))
    return scores


def _spans(n_episodes: int, batch_size: int, n_parts: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of up to ``n_parts`` runs of whole meta-batches, so
    that every ``vmap`` call sees the same episodes however they are spread."""
    n_batches = -(-n_episodes // batch_size)
    bounds = np.linspace(0, n_batches, min(n_parts, n_batches) + 1).round().astype(int)
    return [
        (int(a) * batch_size, min(int(b) * batch_size, n_episodes))
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _run_calls(function: Callable, calls: list[tuple], n_jobs) -> list:
    """``function(*call)`` for each call, in order, over ``n_jobs`` joblib worker processes."""
    if effective_n_jobs(n_jobs) == 1:
        return [function(*call) for call in calls]
    return Parallel(n_jobs=n_jobs, prefer="processes")(delayed(function)(*call) for call in calls)


# -- estimators with a public adapt ----------------------------------------------
def episode_targets(y, classifier: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``y`` as a 1-D array, and what the task pools take: class codes and
    their labels, or for regression the targets and None."""
    dtype = None if classifier else np.float64
    y = column_or_1d(check_array(y, ensure_2d=False, dtype=dtype, input_name="y"), warn=True)
    if not classifier:
        return y, y, None
    check_classification_targets(y)
    labels, codes = np.unique(y, return_inverse=True)
    return y, codes, labels


def adapted_predictions(
    estimator,
    X,
    y: np.ndarray,
    support: np.ndarray,
    query: np.ndarray,
    response_method: str = "predict",
    adapt_params: dict | None = None,
) -> list[np.ndarray]:
    """Each episode's query predictions by an estimator with a public ``adapt``.

    ``support`` and ``query`` hold one row of indices into ``X`` and ``y``
    per episode. ``estimator.adapt(X_support, y_support, **adapt_params)``
    fits the support rows, with their own labels, and the estimator it
    returns answers the query rows with ``response_method`` (probabilities
    as scikit-learn scorers take them, see ``_metrics.predictions``).
    """
    outputs = []
    for support_rows, query_rows in zip(support, query, strict=True):
        task = estimator.adapt(
            _safe_indexing(X, support_rows), y[support_rows], **(adapt_params or {})
        )
        output = getattr(task, response_method)(_safe_indexing(X, query_rows))
        if response_method == "predict_proba":
            output = as_scored(output, task.classes_)
        outputs.append(output)
    return outputs


def looped_episode_scores(
    estimator,
    X,
    y,
    groups,
    settings: Sequence[Settings],
    metric: Metric,
    random_state,
    n_jobs=None,
) -> list[np.ndarray]:
    """Per-episode scores for each of ``settings`` by an estimator that adapts
    through a public ``adapt(X_support, y_support)`` returning a fitted
    estimator (such as :class:`~sklearn_meta.SupportSetClassifier`), which
    cannot be vectorized: one episode at a time, on the episodes
    :func:`episode_scores` draws for a meta-estimator with the same settings
    and ``random_state``, in runs of episodes over ``n_jobs`` joblib workers.
    """
    params = [adapt_params(estimator, s.inner_steps) for s in settings]
    y, codes, labels = episode_targets(y, is_classifier(estimator))
    check_consistent_length(X, y)
    seed = check_random_state(random_state).randint(2**31 - 1)
    encoded_groups = encode_groups(groups, len(codes))
    drawn = [
        sample_episodes(estimator, codes, labels, encoded_groups, s, seed)[0] for s in settings
    ]
    n_parts = effective_n_jobs(n_jobs)
    jobs = [
        (i, start, stop)
        for i, episodes in enumerate(drawn)
        for start, stop in _spans(len(episodes), 1, n_parts)
    ]
    calls = [
        (
            estimator,
            X,
            y,
            drawn[i].support[start:stop],
            drawn[i].query[start:stop],
            metric,
            params[i],
        )
        for i, start, stop in jobs
    ]
    results = _run_calls(_adapted_scores, calls, n_jobs)
    return [
        np.concatenate([r for r, (j, *_) in zip(results, jobs, strict=True) if j == i])
        for i in range(len(settings))
    ]


def _adapted_scores(estimator, X, y, support, query, metric: Metric, params: dict) -> np.ndarray:
    """The scores of the episodes whose rows are ``support`` and ``query``."""
    predicted = adapted_predictions(estimator, X, y, support, query, metric.response_method, params)
    return np.array(
        [
            metric.sign * metric.func(y[rows], y_pred, **metric.kwargs)
            for rows, y_pred in zip(query, predicted, strict=True)
        ]
    )
