"""Episodes drawn once and scored with any metric.

The machinery behind :func:`make_episodic_scorer`, :func:`evaluate_few_shot`
and :func:`few_shot_curve`: draw episodes from the task pools of the core,
adapt to every support set and predict its queries for a whole meta-batch at
once (``torch.func.vmap``, as ``score`` does), then turn each episode's query
outputs into predictions and apply a scikit-learn metric episode by episode.
Estimators that cannot be vectorized but have a public ``adapt`` returning a
fitted estimator (such as ``SupportSetClassifier``) take a loop over the same
episodes instead: ``adapt`` on each support set, ``predict`` (or
``predict_proba``) on its queries.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, get_scorer, mean_squared_error
from sklearn.utils import _safe_indexing, check_array, check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .._adapter import adapt_params, resolve_meta_estimator
from .._base import BaseMetaEstimator
from .._core._episodes import ClassificationTasks, Episodes, RegressionTasks
from .._core._meta import EpisodeBatch, map_episodes
from .._core._tasks import probabilities
from .._evaluation import episode_tasks, warn_diverged
from .._validation import check_int, encode_groups

RESPONSE_METHODS = ("predict", "predict_proba")

# torch.func transforms are not thread-safe: joblib's threading backend runs
# the episodes of one process one meta-batch at a time.
_TRANSFORM_LOCK = threading.Lock()


@dataclass(frozen=True)
class Metric:
    """A metric ``func(y_true, y_pred, **kwargs)`` and how to get ``y_pred``.

    Scores are ``sign * func(...)``, so that greater is better when ``sign`` is -1
    for a loss.
    """

    func: Callable
    sign: int = 1
    kwargs: dict = field(default_factory=dict)
    response_method: str = "predict"

    @property
    def name(self) -> str:
        """The metric's name, ``neg_`` first when the scores are negated."""
        return ("neg_" if self.sign < 0 else "") + metric_name(self.func)


@dataclass(frozen=True)
class Settings:
    """How episodes are drawn and adapted to."""

    n_shots: int
    n_queries: int
    n_episodes: int
    n_way: int | None = None
    inner_steps: int | None = None


@dataclass(frozen=True)
class DrawnEpisodes:
    """Episodes drawn from one data set, and what their queries are.

    The data stay whole on the estimator's device; ``batch`` gathers the
    rows of a run of episodes only when they are needed. ``y_true`` holds the
    query targets, shape (n_episodes, n_query); for classification
    ``classes[e, k]`` is the original label of episode ``e``'s class ``k``
    (the network's output ``k``).
    """

    X: torch.Tensor
    y: torch.Tensor
    episodes: Episodes
    n_outputs: int
    y_true: np.ndarray
    classes: np.ndarray | None
    tasks: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.episodes)

    def batch(self, start: int = 0, stop: int | None = None) -> EpisodeBatch:
        """Support and query tensors of episodes ``start:stop``."""
        span = slice(start, stop)
        episodes = self.episodes
        labels = episodes.support_labels is not None
        return EpisodeBatch.gather(
            self.X,
            self.y,
            Episodes(
                episodes.support[span],
                episodes.query[span],
                episodes.support_labels[span] if labels else None,
                episodes.query_labels[span] if labels else None,
            ),
        )


def metric_name(func: Callable) -> str:
    name = getattr(func, "__name__", None)
    if name is None and hasattr(func, "func"):  # functools.partial
        name = getattr(func.func, "__name__", None)
    return name if name is not None else repr(func)


def default_metric(meta: BaseMetaEstimator) -> Metric:
    """Accuracy for classifiers, mean squared error (as is) for regressors."""
    return Metric(accuracy_score if is_classifier(meta) else mean_squared_error)


def check_response_method(response_method) -> str:
    """One of ``RESPONSE_METHODS``; of a sequence (as scikit-learn scorers
    hold), the first one the adapted estimators have."""
    if isinstance(response_method, str):
        options = (response_method,)
    else:
        options = tuple(response_method)
    for option in options:
        if option in RESPONSE_METHODS:
            return option
    raise ValueError(f"response_method must be one of {RESPONSE_METHODS}, got {response_method!r}.")


def resolve_metric(scoring, meta: BaseMetaEstimator) -> Metric:
    """``scoring`` of :func:`evaluate_few_shot` as a :class:`Metric`.

    None: :func:`default_metric`; a string: that scikit-learn scorer's metric,
    sign and settings; an episodic scorer or a scikit-learn scorer made by
    ``make_scorer``: its metric; any other callable: a metric
    ``(y_true, y_pred)`` applied to predictions, reported as is.
    """
    if scoring is None:
        return default_metric(meta)
    if isinstance(scoring, str):
        scoring = get_scorer(scoring)
    metric = getattr(scoring, "_metric", None)
    if isinstance(metric, Metric):  # an episodic scorer
        return metric
    if hasattr(scoring, "_score_func") and hasattr(scoring, "_sign"):  # make_scorer
        return Metric(
            scoring._score_func,
            scoring._sign,
            dict(getattr(scoring, "_kwargs", None) or {}),
            check_response_method(getattr(scoring, "_response_method", "predict")),
        )
    if callable(scoring):
        return Metric(scoring)
    raise TypeError(
        "scoring must be None, a scorer name, a scorer or a metric "
        f"callable(y_true, y_pred); got {scoring!r}."
    )


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
    steps, so support and query sets alike; ``MetaClassifier`` and
    ``MetaRegressor`` hand over to ``estimator_``
    (``resolve_meta_estimator``).
    """
    resolved = resolve_meta_estimator(estimator)
    return resolved.meta, resolved.transform(X)


def draw_episodes(
    meta: BaseMetaEstimator, X, y, groups, settings: Settings, seed: int
) -> DrawnEpisodes:
    """``settings.n_episodes`` episodes of ``(X, y, groups)``, drawn by a
    generator seeded with ``seed``: the same episodes for every estimator."""
    X, y = meta._validate_X_y(X, y, reset=False)
    codes, labels = meta._encode_targets(y, fitting=False)
    encoded_groups = encode_groups(groups, len(X))
    episodes, n_outputs = sample_episodes(meta, codes, labels, encoded_groups, settings, seed)
    tensors = meta._tensors(X, codes)
    tasks = episode_tasks(*encoded_groups, episodes.support)
    if labels is None:
        y_true = np.asarray(y)[episodes.query]
        return DrawnEpisodes(*tensors, episodes, 1, y_true, None, tasks)
    classes = labels[_episode_classes(codes, episodes)]
    y_true = labels[codes[episodes.query]]
    return DrawnEpisodes(*tensors, episodes, n_outputs, y_true, classes, tasks)


def sample_episodes(
    estimator,
    codes: np.ndarray,
    labels: np.ndarray | None,
    encoded_groups: tuple[np.ndarray, np.ndarray],
    settings: Settings,
    seed: int,
) -> tuple[Episodes, int]:
    """The row indices of ``settings.n_episodes`` episodes, drawn from the
    core's task pools by a generator seeded with ``seed``, and the classes of
    each (1 for regression).

    ``codes`` are class codes into ``labels`` (classification) or the targets
    (regression, ``labels=None``); ``encoded_groups`` is what ``encode_groups``
    gives for the samples' groups. The episodes depend only on the targets,
    the groups, ``settings`` and ``seed`` (and, for ``n_way=None``, on
    ``estimator.n_way``): every estimator with the same settings gets the same.
    """
    group_codes, group_names = encoded_groups
    if labels is None:
        pool = _regression_pool(group_codes, group_names, settings)
    else:
        pool = _classification_pool(estimator, codes, labels, group_codes, group_names, settings)
    episodes = pool.sample(np.random.default_rng(seed), settings.n_episodes)
    return episodes, 1 if labels is None else pool.n_way


def _regression_pool(group_codes, group_names, settings: Settings) -> RegressionTasks:
    present, task_ids = np.unique(group_codes, return_inverse=True)
    return RegressionTasks(task_ids, group_names[present], settings.n_shots, settings.n_queries)


def _classification_pool(
    meta, codes, labels, group_codes, group_names, settings: Settings
) -> ClassificationTasks:
    """Episodes of ``n_way`` classes of one group (a class is a (group, label) pair).

    ``n_way=None`` takes the estimator's, lowered (with a warning) to the
    classes the smallest group has (at least 2), as ``score`` does.
    """
    units, unit_ids = np.unique(np.stack([group_codes, codes], axis=1), axis=0, return_inverse=True)
    present = np.unique(units[:, 0])
    group_of_unit = [np.flatnonzero(units[:, 0] == g) for g in present]
    return ClassificationTasks(
        unit_ids.ravel(),
        labels[units[:, 1]],
        group_of_unit,
        group_names[present],
        meta.n_way if settings.n_way is None else settings.n_way,
        settings.n_shots,
        settings.n_queries,
        evaluating=settings.n_way is None,
    )


def _episode_classes(codes: np.ndarray, episodes: Episodes) -> np.ndarray:
    """The class code behind each episode-local label: shape (n_episodes, n_way)."""
    n_way = int(episodes.support_labels.max()) + 1
    classes = np.empty((len(episodes), n_way), dtype=codes.dtype)
    rows = np.arange(len(episodes))[:, None]
    classes[rows, episodes.support_labels] = codes[episodes.support]
    return classes


def episode_outputs(
    meta: BaseMetaEstimator,
    drawn: DrawnEpisodes,
    inner_steps: int | None,
    start: int = 0,
    stop: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Query outputs of episodes ``start:stop`` after adapting to each support
    set: shape (n_episodes, n_query, n_outputs), ``task_chunk_size`` (else
    ``meta_batch_size``) episodes per ``vmap`` call (or per loop, for
    backbones that cannot be vmapped); and the adaptation steps each episode
    kept (fewer than the loop's where adaptation diverged), shape (n_episodes,)."""
    loop = meta._adaptation_loop(inner_steps)
    learner, n_outputs = meta.learner_, drawn.n_outputs

    def adapt_and_predict(x_support, y_support, x_query, y_query):
        return learner.adapt_and_predict(x_support, y_support, x_query, n_outputs, loop)

    outputs, steps_kept = [], []
    stop = len(drawn) if stop is None else stop
    size = meta._episodes_per_call()
    for first in range(start, stop, size):
        chunk = drawn.batch(first, min(first + size, stop))
        with _TRANSFORM_LOCK, torch.no_grad():
            result, kept = map_episodes(adapt_and_predict, chunk, bool(meta.vectorized_))
        outputs.append(result.float().cpu().numpy())
        steps_kept.append(kept.cpu().numpy())
    return meta._decoded(np.concatenate(outputs).astype(np.float64)), np.concatenate(steps_kept)


def predictions(outputs: np.ndarray, classes: np.ndarray | None, response_method: str):
    """One episode's query outputs as ``predict`` or ``predict_proba`` would give them.

    Probabilities have one column per class of the episode, sorted by label;
    with two classes, only the second one's, as scikit-learn scorers pass them.
    """
    if classes is None:
        return outputs[:, 0]
    if response_method == "predict":
        return classes[outputs.argmax(axis=1)]
    return _as_scored(probabilities(outputs), classes)


def _as_scored(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Probabilities with their columns sorted by label; with two classes,
    only the second one's, as scikit-learn scorers pass them."""
    proba = proba[:, np.argsort(classes)]
    return proba[:, 1] if proba.shape[1] == 2 else proba


def apply_metric(drawn: DrawnEpisodes, outputs: np.ndarray, metric: Metric) -> np.ndarray:
    """Each episode's score: shape (n_episodes,). Episodes whose adaptation
    diverged (non-finite outputs) score NaN, with a warning."""
    scores = np.full(len(outputs), np.nan)
    finite = np.isfinite(outputs).all(axis=(1, 2))
    vectorized = _VECTORIZED.get(metric.func)
    if vectorized is not None and not metric.kwargs and metric.response_method == "predict":
        if drawn.classes is None:
            y_pred = outputs[..., 0]
        else:
            y_pred = np.take_along_axis(drawn.classes, outputs.argmax(axis=2), axis=1)
        scores[finite] = metric.sign * vectorized(drawn.y_true[finite], y_pred[finite])
    else:
        for e in np.flatnonzero(finite):
            classes = None if drawn.classes is None else drawn.classes[e]
            y_pred = predictions(outputs[e], classes, metric.response_method)
            scores[e] = metric.sign * metric.func(drawn.y_true[e], y_pred, **metric.kwargs)
    diverged = int((~finite).sum())
    if diverged:
        warnings.warn(
            f"Adaptation diverged in {diverged} of {len(outputs)} episodes; they score NaN. "
            "Lower inner_lr or the number of inner steps.",
            RuntimeWarning,
            stacklevel=3,
        )
    return scores


# The default metrics on all episodes at once: what the metric gives episode
# by episode, without its per-call validation (~1 ms an episode).
_VECTORIZED = {
    accuracy_score: lambda y_true, y_pred: (y_true == y_pred).mean(axis=1),
    mean_squared_error: lambda y_true, y_pred: np.square(y_true - y_pred).mean(axis=1),
}


def episode_scores(
    meta: BaseMetaEstimator,
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
    seed = check_random_state(random_state).randint(2**31 - 1)
    drawn = [draw_episodes(meta, X, y, groups, s, seed) for s in settings]
    # before any work: an error for inner_steps given to learners without them
    steps = [meta._adaptation_loop(s.inner_steps).steps for s in settings]
    n_parts = effective_n_jobs(n_jobs)
    jobs = [
        (i, start, stop)
        for i, episodes in enumerate(drawn)
        for start, stop in _spans(len(episodes), meta._episodes_per_call(), n_parts)
    ]
    calls = [(meta, drawn[i], settings[i].inner_steps, start, stop) for i, start, stop in jobs]
    results = _run_calls(episode_outputs, calls, n_jobs)
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
    as scikit-learn scorers take them, see :func:`predictions`).
    """
    outputs = []
    for support_rows, query_rows in zip(support, query, strict=True):
        task = estimator.adapt(
            _safe_indexing(X, support_rows), y[support_rows], **(adapt_params or {})
        )
        output = getattr(task, response_method)(_safe_indexing(X, query_rows))
        if response_method == "predict_proba":
            output = _as_scored(output, task.classes_)
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
