"""Metrics of episodes: which metric a ``scoring`` names, and each episode's
score from its query outputs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, get_scorer, mean_squared_error

from .._core._tasks import probabilities
from .._evaluation import EvaluationEpisodes

RESPONSE_METHODS = ("predict", "predict_proba")


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


def metric_name(func: Callable) -> str:
    name = getattr(func, "__name__", None)
    if name is None and hasattr(func, "func"):  # functools.partial
        name = getattr(func.func, "__name__", None)
    return name if name is not None else repr(func)


def default_metric(estimator) -> Metric:
    """Accuracy for classifiers, mean squared error (as is) for regressors."""
    return Metric(accuracy_score if is_classifier(estimator) else mean_squared_error)


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


def resolve_metric(scoring, estimator) -> Metric:
    """``scoring`` of :func:`evaluate_few_shot` as a :class:`Metric`.

    None: :func:`default_metric`; a string: that scikit-learn scorer's metric,
    sign and settings; an episodic scorer or a scikit-learn scorer made by
    ``make_scorer``: its metric; any other callable: a metric
    ``(y_true, y_pred)`` applied to predictions, reported as is.
    """
    if scoring is None:
        return default_metric(estimator)
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


def predictions(outputs: np.ndarray, classes: np.ndarray | None, response_method: str):
    """One episode's query outputs as ``predict`` or ``predict_proba`` would give them.

    Probabilities have one column per class of the episode, sorted by label;
    with two classes, only the second one's, as scikit-learn scorers pass them.
    """
    if classes is None:
        return outputs[:, 0]
    if response_method == "predict":
        return classes[outputs.argmax(axis=1)]
    return as_scored(probabilities(outputs), classes)


def as_scored(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Probabilities with their columns sorted by label; with two classes,
    only the second one's, as scikit-learn scorers pass them."""
    proba = proba[:, np.argsort(classes)]
    return proba[:, 1] if proba.shape[1] == 2 else proba


def apply_metric(drawn: EvaluationEpisodes, outputs: np.ndarray, metric: Metric) -> np.ndarray:
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
