"""Episodes drawn once and scored with any metric.

The machinery behind :func:`make_episodic_scorer`, :func:`evaluate_few_shot`
and :func:`few_shot_curve`: draw episodes from the task pools of the core,
adapt to every support set and predict its queries for a whole meta-batch at
once (``torch.func.vmap``, as ``score`` does), then turn each episode's query
outputs into predictions and apply a scikit-learn metric episode by episode.
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
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._base import BaseMetaEstimator, probabilities
from .._core._episodes import ClassificationTasks, Episodes, RegressionTasks
from .._core._meta import EpisodeBatch, map_episodes
from .._front_door import _FrontDoor
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
    steps; ``MetaClassifier`` and ``MetaRegressor`` hand over to ``estimator_``.
    """
    if isinstance(estimator, Pipeline):
        check_is_fitted(estimator)
        if len(estimator) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    if isinstance(estimator, _FrontDoor):
        check_is_fitted(estimator)
        estimator = estimator.estimator_
    if not isinstance(estimator, BaseMetaEstimator):
        raise TypeError(
            "Episodic evaluation needs a meta-estimator of sklearn_meta (or a Pipeline "
            f"ending in one); got {type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    return estimator, X


def draw_episodes(
    meta: BaseMetaEstimator, X, y, groups, settings: Settings, seed: int
) -> DrawnEpisodes:
    """``settings.n_episodes`` episodes of ``(X, y, groups)``, drawn by a
    generator seeded with ``seed``: the same episodes for every estimator."""
    X, y = meta._validate_X_y(X, y, reset=False)
    codes, labels = meta._encode_targets(y, fitting=False)
    group_codes, group_names = encode_groups(groups, len(X))
    if labels is None:
        pool = _regression_pool(group_codes, group_names, settings)
    else:
        pool = _classification_pool(meta, codes, labels, group_codes, group_names, settings)
    episodes = pool.sample(np.random.default_rng(seed), settings.n_episodes)
    tensors = meta._tensors(X, codes)
    if labels is None:
        return DrawnEpisodes(*tensors, episodes, 1, np.asarray(y)[episodes.query], None)
    classes = labels[_episode_classes(codes, episodes)]
    return DrawnEpisodes(*tensors, episodes, pool.n_way, labels[codes[episodes.query]], classes)


def _regression_pool(group_codes, group_names, settings: Settings) -> RegressionTasks:
    present, task_ids = np.unique(group_codes, return_inverse=True)
    return RegressionTasks(task_ids, group_names[present], settings.n_shots, settings.n_queries)


def _classification_pool(
    meta, codes, labels, group_codes, group_names, settings: Settings
) -> ClassificationTasks:
    """Episodes of ``n_way`` classes of one group (a class is a (group, label) pair).

    ``n_way=None`` takes the estimator's, limited to the classes the smallest
    group has (at least 2), as ``score`` does.
    """
    units, unit_ids = np.unique(np.stack([group_codes, codes], axis=1), axis=0, return_inverse=True)
    present = np.unique(units[:, 0])
    group_of_unit = [np.flatnonzero(units[:, 0] == g) for g in present]
    n_way = settings.n_way
    if n_way is None:
        n_way = max(2, min(meta.n_way, min(len(members) for members in group_of_unit)))
    return ClassificationTasks(
        unit_ids.ravel(),
        labels[units[:, 1]],
        group_of_unit,
        group_names[present],
        n_way,
        settings.n_shots,
        settings.n_queries,
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
) -> np.ndarray:
    """Query outputs of episodes ``start:stop`` after adapting to each support
    set: shape (n_episodes, n_query, n_outputs), ``task_chunk_size`` (else
    ``meta_batch_size``) episodes per ``vmap`` call (or per loop, for
    backbones that cannot be vmapped)."""
    loop = meta._adaptation_loop(inner_steps)
    learner, n_outputs = meta.learner_, drawn.n_outputs

    def adapt_and_predict(x_support, y_support, x_query, y_query):
        params = learner.adapt(x_support, y_support, n_outputs, loop)
        return learner.predict_with(params, x_query)

    outputs = []
    stop = len(drawn) if stop is None else stop
    size = meta._episodes_per_call()
    for first in range(start, stop, size):
        chunk = drawn.batch(first, min(first + size, stop))
        with _TRANSFORM_LOCK, torch.no_grad():
            result = map_episodes(adapt_and_predict, chunk, bool(meta.vectorized_))
        outputs.append(result.float().cpu().numpy())
    return np.concatenate(outputs).astype(np.float64)


def predictions(outputs: np.ndarray, classes: np.ndarray | None, response_method: str):
    """One episode's query outputs as ``predict`` or ``predict_proba`` would give them.

    Probabilities have one column per class of the episode, sorted by label;
    with two classes, only the second one's, as scikit-learn scorers pass them.
    """
    if classes is None:
        return outputs[:, 0]
    if response_method == "predict":
        return classes[outputs.argmax(axis=1)]
    proba = probabilities(outputs)[:, np.argsort(classes)]
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
            f"{type(meta).__name__} is a regressor: use 'predict'."
        )
    seed = check_random_state(random_state).randint(2**31 - 1)
    drawn = [draw_episodes(meta, X, y, groups, s, seed) for s in settings]
    for s in settings:  # raise before any work for learners without inner steps
        meta._adaptation_loop(s.inner_steps)
    n_parts = effective_n_jobs(n_jobs)
    jobs = [
        (i, start, stop)
        for i, episodes in enumerate(drawn)
        for start, stop in _spans(len(episodes), meta._episodes_per_call(), n_parts)
    ]
    calls = [(meta, drawn[i], settings[i].inner_steps, start, stop) for i, start, stop in jobs]
    if n_parts == 1:
        results = [episode_outputs(*call) for call in calls]
    else:
        results = Parallel(n_jobs=n_jobs, prefer="processes")(
            delayed(episode_outputs)(*call) for call in calls
        )
    scores = []
    for i, episodes in enumerate(drawn):
        outputs = np.concatenate([r for r, (j, *_) in zip(results, jobs, strict=True) if j == i])
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
