"""Few-shot evaluation as the literature reports it: per-episode scores,
their mean and a 95% confidence interval, against shots or adaptation steps."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch

from .._validation import check_int, check_option
from ._episodic import Settings, check_settings, episode_scores, meta_estimator
from ._metrics import resolve_metric

CURVE_PARAMETERS = ("n_shots", "inner_steps")


def confidence_interval(scores: np.ndarray) -> np.ndarray:
    """Half-width of the 95% confidence interval of the mean of each row,
    ``1.96 * std(ddof=1) / sqrt(n)`` (NaN for fewer than two episodes)."""
    scores = np.atleast_2d(scores)
    n = scores.shape[1]
    if n < 2:
        return np.full(len(scores), np.nan)
    return 1.96 * scores.std(axis=1, ddof=1) / np.sqrt(n)


class FewShotEvaluation(Bunch):
    """The result of :func:`evaluate_few_shot`: a :class:`~sklearn.utils.Bunch`
    (a dict whose keys are also attributes) with a readable summary.

    Attributes
    ----------
    n_shots : ndarray of shape (n_settings,)
        The shot counts evaluated.
    scores : ndarray of shape (n_settings, n_episodes)
        Each episode's score; row ``i`` for ``n_shots[i]``.
    mean : ndarray of shape (n_settings,)
        Mean score over the episodes.
    ci95 : ndarray of shape (n_settings,)
        Half-width of the 95% confidence interval of the mean,
        ``1.96 * std(ddof=1) / sqrt(n_episodes)``.
    metric : str
        Name of the metric.
    """

    def summary(self) -> str:
        """One line per shot count: ``"5-shot: 68.12 ± 0.81"``.

        Accuracies are in percent, as the few-shot literature reports them;
        other metrics as they are.

        Returns
        -------
        summary : str
            A header naming the metric and the number of episodes, then the
            mean ± the 95% confidence interval of each shot count.
        """
        percent = "accuracy" in self.metric
        scale = 100.0 if percent else 1.0
        unit = " (%)" if percent else ""
        lines = [
            f"{self.metric}{unit}: mean ± 95% confidence interval over "
            f"{self.scores.shape[1]} episodes"
        ]
        for shots, mean, ci in zip(self.n_shots, self.mean, self.ci95, strict=True):
            if percent:
                value = f"{scale * mean:.2f} ± {scale * ci:.2f}"
            else:
                value = f"{mean:.4g} ± {ci:.2g}"
            lines.append(f"{shots}-shot: {value}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def evaluate_few_shot(
    estimator,
    X,
    y,
    groups=None,
    *,
    n_shots=(1, 5),
    n_queries=15,
    n_episodes=600,
    n_way=None,
    inner_steps=None,
    scoring=None,
    n_jobs=None,
    random_state=None,
):
    """Few-shot evaluation with per-episode scores and 95% confidence intervals.

    For each shot count, ``n_episodes`` episodes are drawn from the held-out
    data ``(X, y, groups)`` (with the estimator's task model, see
    :func:`make_episodic_scorer`); the estimator adapts to each support set
    and is scored on its queries. Reported are every episode's score, the
    mean and the half-width of the 95% confidence interval,
    ``1.96 * std / sqrt(n_episodes)``, as few-shot papers report
    "68.12 ± 0.81". Adaptation runs a meta-batch of episodes at a time,
    vectorized as in training.

    Parameters
    ----------
    estimator : estimator
        A fitted meta-estimator, ``MetaClassifier``/``MetaRegressor``, or a
        :class:`~sklearn.pipeline.Pipeline` ending in one, whose fitted
        transformers transform support and query sets alike.
    X : array-like of shape (n_samples, n_features)
        Held-out tasks' inputs (classes or tasks not seen in ``fit``).
    y : array-like of shape (n_samples,)
        Their targets.
    groups : array-like of shape (n_samples,), default=None
        Task labels: for regression each group is a task (None: all data are
        one task); for classification an episode's classes come from one
        group (None: from all of ``y``).
    n_shots : int or sequence of int, default=(1, 5)
        Support samples per class (per task, for regression); one evaluation
        for each.
    n_queries : int, default=15
        Query samples per class (per task, for regression).
    n_episodes : int, default=600
        Episodes per shot count (600 is the literature's usual number).
    n_way : int, default=None
        Classes per episode; None uses the estimator's ``n_way``, limited to
        the classes the data have. Ignored for regression.
    inner_steps : int, default=None
        Adaptation steps; None uses the estimator's ``eval_inner_steps``.
    scoring : str, callable or None, default=None
        None: accuracy for classifiers, mean squared error for regressors
        (reported as is: lower is better). A scikit-learn scorer name (such
        as ``"balanced_accuracy"`` or ``"neg_log_loss"``), a scorer from
        :func:`~sklearn.metrics.make_scorer` or :func:`make_episodic_scorer`
        (its metric, response method and sign; the episodes are this
        function's), or a metric ``callable(y_true, y_pred)`` applied to
        predicted labels or values and reported as is.
    n_jobs : int, default=None
        Joblib workers that share the episodes (in runs of whole
        meta-batches); the scores do not depend on it. None means 1. Worker
        processes pay off on CPUs with many cores; threads (joblib's
        threading backend) take turns, as ``torch.func`` is not thread-safe.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw of the episodes; every shot count starts from the same
        seed. An int evaluates every estimator on the same episodes.

    Returns
    -------
    result : FewShotEvaluation
        A :class:`~sklearn.utils.Bunch` with ``n_shots``, ``scores`` (shape
        ``(len(n_shots), n_episodes)``), ``mean``, ``ci95`` and ``metric``;
        ``result.summary()`` (also ``str(result)``) formats it.

    See Also
    --------
    make_episodic_scorer : The mean episodic score as a scorer.
    few_shot_curve : Scores against shots or adaptation steps.

    Examples
    --------
    >>> from sklearn_meta import ProtoNetClassifier
    >>> from sklearn_meta.datasets import make_few_shot_classification
    >>> from sklearn_meta.model_selection import evaluate_few_shot
    >>> X, y = make_few_shot_classification(40, 20, random_state=0)
    >>> train, new = y < 20, y >= 20
    >>> clf = ProtoNetClassifier(max_iter=20, device="cpu", random_state=0)
    >>> clf = clf.fit(X[train], y[train])
    >>> result = evaluate_few_shot(clf, X[new], y[new], n_episodes=100, random_state=0)
    >>> result.scores.shape
    (2, 100)
    >>> bool(result.mean[1] > result.mean[0])  # 5 shots beat 1
    True
    >>> print(result.summary())  # doctest: +ELLIPSIS
    accuracy_score (%): mean ± 95% confidence interval over 100 episodes
    1-shot: ... ± ...
    5-shot: ... ± ...
    """
    shots = _as_ints("n_shots", n_shots, 1)
    meta, X = meta_estimator(estimator, X)
    metric = resolve_metric(scoring, meta)
    settings = [
        check_settings(Settings(k, n_queries, n_episodes, n_way, inner_steps)) for k in shots
    ]
    scores = np.stack(episode_scores(meta, X, y, groups, settings, metric, random_state, n_jobs))
    return FewShotEvaluation(
        n_shots=shots,
        scores=scores,
        mean=scores.mean(axis=1),
        ci95=confidence_interval(scores),
        metric=metric.name,
    )


def few_shot_curve(
    estimator,
    X,
    y,
    groups=None,
    *,
    param_name="n_shots",
    param_range=(1, 2, 5, 10),
    n_shots=None,
    n_queries=15,
    n_episodes=100,
    n_way=None,
    inner_steps=None,
    scoring=None,
    n_jobs=None,
    random_state=None,
):
    """Few-shot scores against the number of shots or of adaptation steps.

    Every value of ``param_range`` is evaluated as in
    :func:`evaluate_few_shot`, on episodes drawn from the same seed: the same
    episodes for every step count (``param_name="inner_steps"``), so the
    curve shows adaptation, not a new draw.

    Parameters
    ----------
    estimator : estimator
        A fitted meta-estimator, ``MetaClassifier``/``MetaRegressor``, or a
        :class:`~sklearn.pipeline.Pipeline` ending in one, whose fitted
        transformers transform support and query sets alike.
    X : array-like of shape (n_samples, n_features)
        Held-out tasks' inputs.
    y : array-like of shape (n_samples,)
        Their targets.
    groups : array-like of shape (n_samples,), default=None
        Task labels, as in :func:`evaluate_few_shot`.
    param_name : {"n_shots", "inner_steps"}, default="n_shots"
        What the curve varies: support samples per class (per task, for
        regression), or adaptation steps (learners with gradient steps).
    param_range : sequence of int, default=(1, 2, 5, 10)
        Its values.
    n_shots : int, default=None
        Shots of the ``inner_steps`` curve; None uses the estimator's.
        Ignored when the curve varies ``n_shots``.
    n_queries : int, default=15
        Query samples per class (per task, for regression).
    n_episodes : int, default=100
        Episodes per value.
    n_way : int, default=None
        Classes per episode; None uses the estimator's ``n_way``, limited to
        the classes the data have. Ignored for regression.
    inner_steps : int, default=None
        Adaptation steps of the ``n_shots`` curve; None uses the estimator's
        ``eval_inner_steps``. Ignored when the curve varies ``inner_steps``.
    scoring : str, callable or None, default=None
        As in :func:`evaluate_few_shot`: None is accuracy for classifiers and
        mean squared error for regressors.
    n_jobs : int, default=None
        Joblib workers that share the episodes; the scores do not depend on
        it.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw of the episodes; every value starts from the same seed.

    Returns
    -------
    param_range : ndarray of shape (n_values,)
        The values evaluated.
    scores : ndarray of shape (n_values, n_episodes)
        Each episode's score, one row per value.

    See Also
    --------
    FewShotCurveDisplay : Plot the curve with its confidence band.

    Examples
    --------
    >>> from sklearn_meta import MAMLRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> from sklearn_meta.model_selection import few_shot_curve
    >>> X, y, groups = make_sinusoid_tasks(60, 30, random_state=0)
    >>> maml = MAMLRegressor(max_iter=20, device="cpu", random_state=0)
    >>> maml = maml.fit(X[groups < 40], y[groups < 40], groups[groups < 40])
    >>> new = groups >= 40
    >>> steps, scores = few_shot_curve(
    ...     maml, X[new], y[new], groups[new], param_name="inner_steps",
    ...     param_range=[0, 1, 5], n_queries=10, n_episodes=50, random_state=0)
    >>> scores.shape
    (3, 50)
    """
    check_option("param_name", param_name, CURVE_PARAMETERS)
    values = _as_ints("param_range", param_range, 1 if param_name == "n_shots" else 0)
    meta, X = meta_estimator(estimator, X)
    metric = resolve_metric(scoring, meta)
    if param_name == "n_shots":
        settings = [Settings(v, n_queries, n_episodes, n_way, inner_steps) for v in values]
    else:
        shots = meta.n_shots if n_shots is None else n_shots
        settings = [Settings(shots, n_queries, n_episodes, n_way, v) for v in values]
    settings = [check_settings(s) for s in settings]
    scores = episode_scores(meta, X, y, groups, settings, metric, random_state, n_jobs)
    return values, np.stack(scores)


def _as_ints(name: str, values, minimum: int) -> np.ndarray:
    """An int or a non-empty sequence of ints as a 1-D array."""
    if isinstance(values, numbers.Integral) and not isinstance(values, bool):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"{name} must not be empty.")
    for value in values:
        check_int(f"each of {name}", value, minimum)
    return np.asarray(values, dtype=np.int64)
