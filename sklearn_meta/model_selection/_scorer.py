"""A scorer that meta-evaluates with any scikit-learn metric, episode by episode."""

from __future__ import annotations

from sklearn import get_config
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from .._validation import check_bool, check_option
from ._episodic import Settings, check_settings, episode_scores, meta_estimator
from ._metrics import RESPONSE_METHODS, Metric, metric_name

_DEFAULTS = {
    "n_shots": 5,
    "n_queries": 15,
    "n_episodes": 100,
    "n_way": None,
    "inner_steps": None,
    "response_method": "predict",
    "greater_is_better": True,
    "random_state": None,
}


class _EpisodicScorer:
    """Scores a fitted meta-estimator by a metric averaged over few-shot episodes.

    Made by :func:`make_episodic_scorer`; called as
    ``scorer(estimator, X, y, groups=None)``.
    """

    def __init__(self, metric: Metric, settings: Settings, random_state):
        self._metric = metric
        self._settings = settings
        self._random_state = random_state
        self._groups_request = None

    def __call__(self, estimator, X, y_true, groups=None) -> float:
        """Mean of the metric over the episodes drawn from ``(X, y_true, groups)``.

        Parameters
        ----------
        estimator : estimator
            A fitted meta-estimator, ``MetaClassifier``/``MetaRegressor``, or a
            :class:`~sklearn.pipeline.Pipeline` ending in one, whose fitted
            transformers transform support and query sets alike.
        X : array-like of shape (n_samples, n_features)
            Held-out tasks' inputs.
        y_true : array-like of shape (n_samples,)
            Their targets.
        groups : array-like of shape (n_samples,), default=None
            Task labels (see the estimator's task model). With metadata
            routing, request them with ``set_score_request(groups=True)``.

        Returns
        -------
        score : float
            The mean score of the episodes (NaN if adaptation diverged in
            one, with a warning).
        """
        meta, X = meta_estimator(estimator, X)
        (scores,) = episode_scores(
            meta, X, y_true, groups, [self._settings], self._metric, self._random_state
        )
        return float(scores.mean())

    def set_score_request(self, *, groups: bool | str | None = UNCHANGED):
        """Request ``groups`` for scoring, when metadata routing is enabled.

        Parameters
        ----------
        groups : bool, str or None, default=sklearn.utils.metadata_routing.UNCHANGED
            True: take the ``groups`` passed to the caller as task labels;
            False: do not; None: raise if they are passed (the default); a
            string: take the metadata of that name instead.

        Returns
        -------
        self : object
            The scorer.
        """
        if not get_config()["enable_metadata_routing"]:
            raise RuntimeError(
                "set_score_request is only available when metadata routing is enabled; "
                "enable it with sklearn.set_config(enable_metadata_routing=True)."
            )
        if groups is not UNCHANGED:
            self._request(groups)  # validates the alias
            self._groups_request = groups
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """The metadata this scorer requests: ``groups``, for ``score``.

        Returns
        -------
        routing : MetadataRequest
            The request.
        """
        return self._request(self._groups_request)

    def _request(self, groups) -> MetadataRequest:
        request = MetadataRequest(owner=self._routing_repr())
        request.score.add_request(param="groups", alias=groups)
        return request

    def _routing_repr(self) -> str:
        return repr(self)

    def __repr__(self) -> str:
        metric = self._metric
        values = {
            **{name: getattr(self._settings, name) for name in Settings.__dataclass_fields__},
            "response_method": metric.response_method,
            "greater_is_better": metric.sign > 0,
            "random_state": self._random_state,
        }
        shown = [
            f"{name}={value!r}"
            for name, value in values.items()
            if not _same(value, _DEFAULTS[name])
        ]
        shown += [f"{name}={value!r}" for name, value in metric.kwargs.items()]
        return f"make_episodic_scorer({', '.join([metric_name(metric.func), *shown])})"


def _same(value, default) -> bool:
    return value is default or (type(value) is type(default) and value == default)


def make_episodic_scorer(
    metric,
    *,
    n_shots=5,
    n_queries=15,
    n_episodes=100,
    n_way=None,
    inner_steps=None,
    response_method="predict",
    greater_is_better=True,
    random_state=None,
    **kwargs,
):
    """Make a scorer that meta-evaluates with a metric, episode by episode.

    The scorer draws ``n_episodes`` few-shot episodes from the data it is
    given, as a meta-estimator's ``score`` does. In each it adapts the
    estimator to the support set, predicts the query set, and applies
    ``metric(y_query, y_pred, **kwargs)`` to that episode's queries; the
    score is the mean over episodes. Use it as ``scoring=`` of
    :func:`~sklearn.model_selection.cross_validate` or
    :class:`~sklearn.model_selection.GridSearchCV` to meta-evaluate with any
    metric, shot count or way. Adaptation runs a meta-batch of episodes at a
    time, vectorized as in training.

    Task model (as the estimators'): for classifiers an episode draws
    ``n_way`` classes, then ``n_shots`` support and ``n_queries`` query
    samples of each; with ``groups``, its classes come from one group,
    without, from all of ``y``. For regressors each group is a task and an
    episode draws ``n_shots + n_queries`` samples of one task; without
    ``groups`` all data are one task. Without metadata routing, scikit-learn
    passes no ``groups`` to scorers (classes still work: split with
    ``cv=GroupKFold()`` and ``groups=y``); with it, pass them with
    ``set_score_request(groups=True)``.

    Parameters
    ----------
    metric : callable
        A metric ``metric(y_true, y_pred, **kwargs)``, such as
        :func:`~sklearn.metrics.accuracy_score` or
        :func:`~sklearn.metrics.mean_squared_error`.
    n_shots : int, default=5
        Support samples per class (classification) or per task (regression).
    n_queries : int, default=15
        Query samples per class or per task.
    n_episodes : int, default=100
        Episodes to average over.
    n_way : int, default=None
        Classes per episode; None uses the estimator's ``n_way``, limited to
        the classes the held-out data (each group of it) have, as ``score``
        does. Ignored for regression.
    inner_steps : int, default=None
        Adaptation steps; None uses the estimator's ``eval_inner_steps``.
        Learners without gradient steps (prototypical networks, ridge)
        accept only None.
    response_method : {"predict", "predict_proba"}, default="predict"
        What ``metric`` receives: predicted labels or values, or class
        probabilities (columns are the episode's classes in sorted order;
        with two classes only the second one's, as scikit-learn scorers pass
        them).
    greater_is_better : bool, default=True
        False for a loss: the scorer then returns the negated metric, as
        :func:`~sklearn.metrics.make_scorer` does.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw of the episodes. The episodes depend only on it and on
        the data, so an int scores every estimator on the same episodes;
        None draws new ones on every call.
    **kwargs
        Passed to ``metric``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, groups=None)``: the mean score over the
        episodes. It has ``set_score_request`` for metadata routing.

    See Also
    --------
    evaluate_few_shot : Per-episode scores with confidence intervals.

    Examples
    --------
    >>> from sklearn.metrics import accuracy_score
    >>> from sklearn.model_selection import GroupKFold, cross_validate
    >>> from sklearn_meta import ProtoNetClassifier
    >>> from sklearn_meta.datasets import make_few_shot_classification
    >>> from sklearn_meta.model_selection import make_episodic_scorer
    >>> X, y = make_few_shot_classification(20, 20, random_state=0)
    >>> one_shot = make_episodic_scorer(accuracy_score, n_shots=1, random_state=0)
    >>> one_shot
    make_episodic_scorer(accuracy_score, n_shots=1, random_state=0)
    >>> clf = ProtoNetClassifier(max_iter=20, device="cpu", random_state=0)
    >>> scoring = {"1-shot": one_shot, "5-shot": make_episodic_scorer(accuracy_score)}
    >>> result = cross_validate(clf, X, y, groups=y, cv=GroupKFold(2), scoring=scoring)
    >>> result["test_1-shot"].shape
    (2,)
    """
    if not callable(metric):
        raise TypeError(f"metric must be a callable(y_true, y_pred), got {metric!r}.")
    check_option("response_method", response_method, RESPONSE_METHODS)
    check_bool("greater_is_better", greater_is_better)
    settings = check_settings(Settings(n_shots, n_queries, n_episodes, n_way, inner_steps))
    sign = 1 if greater_is_better else -1
    return _EpisodicScorer(Metric(metric, sign, kwargs, response_method), settings, random_state)
