"""Fit, adapt and episodic score shared by the support-set baselines."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from ._backbone_embedding import BackboneEmbedding
from ._base import BaseMetaEstimator
from ._core._tasks import combine_scores
from ._params import SHELL, validate_parameters
from ._validation import check_sample_weight, encode_groups
from .model_selection._episodic import (
    Settings,
    adapted_predictions,
    episode_targets,
    sample_episodes,
)


def _estimator_has(method: str) -> Callable[[_SupportSetBase], bool]:
    return lambda self: hasattr(self._base_estimator(), method)


class _SupportSetBase(BaseEstimator):
    """Fit, adapt and episodic score shared by the classifier and the regressor."""

    _default_estimator: Callable[[], BaseEstimator]
    _is_right_kind: Callable[[BaseEstimator], bool]
    _kind_name: str

    def fit(self, X, y, groups=None, sample_weight=None):
        """Record the training data's description and fit ``estimator`` on all of it.

        Nothing is meta-learned, unless ``features`` is an unfitted
        meta-estimator: a clone of it is then meta-trained on ``(X, y,
        groups)``. ``predict`` uses ``estimator_``, the estimator fitted on all
        the training data (on the embedding, with ``features``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Their targets.
        groups : array-like of shape (n_samples,), default=None
            Task labels, passed to the ``features`` meta-estimator's ``fit``.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to ``estimator``'s ``fit`` (and to the ``features``
            meta-estimator's).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        _, y_checked = validate_data(self, X, y, y_numeric=not is_classifier(self))
        if is_classifier(self):
            self.classes_ = _classes(y_checked)
        encode_groups(groups, len(y_checked))  # an error for bad groups, as the meta-learners'
        self.features_ = None
        if self.features is not None:
            # clone and fit leave a FrozenEstimator as it is
            fitted = clone(self.features).fit(X, y, groups, sample_weight=sample_weight)
            self.features_ = fitted.estimator if isinstance(fitted, FrozenEstimator) else fitted
        self.estimator_ = self._fit_task_model(X, y, sample_weight)
        return self

    def adapt(self, X_support, y_support):
        """Fit a fresh copy of ``estimator`` on one new task's support set.

        Parameters
        ----------
        X_support : array-like of shape (n_support, n_features)
            The new task's examples.
        y_support : array-like of shape (n_support,)
            Their targets (for classifiers, any labels, new classes included).

        Returns
        -------
        adapted : estimator
            A clone of ``estimator`` fitted on the support set, an ordinary
            scikit-learn estimator; with ``features``, a
            :class:`~sklearn.pipeline.Pipeline` of the backbone embedding and
            that estimator. This estimator is unchanged.
        """
        check_is_fitted(self)
        classifier = is_classifier(self)
        _, y_checked = validate_data(
            self, X_support, y_support, reset=False, y_numeric=not classifier
        )
        if classifier:
            check_classification_targets(y_checked)
        return self._fit_task_model(X_support, y_support)

    def score(self, X, y, groups=None, sample_weight=None):
        """Episodic few-shot score on the tasks in ``(X, y, groups)``.

        ``n_eval_episodes`` episodes are drawn as a meta-estimator's ``score``
        draws them: with the same ``random_state``, ``n_shots``, ``n_queries``
        (and ``n_way``), the same episodes. In each, ``adapt`` fits
        ``estimator`` on the support set and it predicts the queries. The
        score is the mean accuracy for classifiers; for regressors R² with
        each query set measured against its own task's mean,
        ``1 - ΣSSE / ΣSST`` over the episodes, as the meta-regressors report.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Held-out tasks' inputs.
        y : array-like of shape (n_samples,)
            Their targets; classes need not have been seen in ``fit``.
        groups : array-like of shape (n_samples,), default=None
            Task labels: for regression each group is a task (None: all data
            are one task); for classification an episode's classes come from
            one group (None: from all of ``y``).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the query samples in each episode's score.

        Returns
        -------
        score : float
            The score over all episodes.
        """
        check_is_fitted(self)
        classifier = is_classifier(self)
        _, y = validate_data(self, X, y, reset=False, y_numeric=not classifier)
        y, codes, labels = episode_targets(y, classifier)
        weights = check_sample_weight(sample_weight, len(y)).astype(np.float64)
        if not weights.any():
            raise ValueError("sample_weight is zero for every sample; there is nothing to score.")
        settings = Settings(self.n_shots, self.n_queries, self.n_eval_episodes)
        seed = check_random_state(self.random_state).randint(2**31 - 1)
        encoded_groups = encode_groups(groups, len(y))
        episodes, _ = sample_episodes(self, codes, labels, encoded_groups, settings, seed)
        predicted = adapted_predictions(self, X, y, episodes.support, episodes.query)
        parts = [
            self._score_parts(y[query], y_pred, weights[query])
            for query, y_pred in zip(episodes.query, predicted, strict=True)
        ]
        return combine_scores(np.array(parts))

    def predict(self, X):
        """Predict with ``estimator_``, fitted on all the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predictions.
        """
        check_is_fitted(self)
        validate_data(self, X, reset=False)
        return self.estimator_.predict(X)

    # -- helpers ----------------------------------------------------------
    def _base_estimator(self) -> BaseEstimator:
        return self._default_estimator() if self.estimator is None else self.estimator

    def _check_params(self) -> None:
        validate_parameters(self.get_params(deep=False), SHELL)
        estimator = self._base_estimator()
        if not self._is_right_kind(estimator):
            raise TypeError(
                f"estimator must be a scikit-learn {self._kind_name}, "
                f"got {type(estimator).__name__}."
            )
        features = self.features
        inner = features.estimator if isinstance(features, FrozenEstimator) else features
        if features is not None and not isinstance(inner, BaseMetaEstimator):
            raise TypeError(
                "features must be None or a meta-estimator of sklearn_meta (such as "
                "ProtoNetClassifier), MetaClassifier or MetaRegressor, or a fitted one in "
                f"FrozenEstimator; got {type(features).__name__}."
            )

    def _fit_task_model(self, X, y, sample_weight=None):
        """A fresh clone of ``estimator`` fitted on ``(X, y)``; with
        ``features``, behind the backbone embedding."""
        estimator = clone(self._base_estimator())
        params = {} if sample_weight is None else {"sample_weight": sample_weight}
        if params and not has_fit_parameter(estimator, "sample_weight"):
            raise ValueError(
                f"sample_weight was given, but {type(estimator).__name__}.fit takes none."
            )
        if self.features_ is None:
            return estimator.fit(X, y, **params)
        embedding = BackboneEmbedding(FrozenEstimator(self.features_))
        estimator.fit(embedding.fit_transform(X), y, **params)
        return Pipeline([("embedding", embedding), ("estimator", estimator)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None  # score's episodes
        return tags


def _classes(y) -> np.ndarray:
    """The sorted classes of ``y``, at least two."""
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"y holds only one class, {classes.tolist()[0]!r}; a classifier needs at least two."
        )
    return classes
