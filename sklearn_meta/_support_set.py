"""Baselines without meta-learning: an ordinary estimator fitted on each support set.

Meta-learning pays when there are many training tasks or classes to learn
from; with few, a plain scikit-learn estimator fitted on a new task's few
examples can do better. :class:`SupportSetClassifier` and
:class:`SupportSetRegressor` put that estimator where a meta-estimator goes:
``score`` draws the episodes a meta-estimator with the same settings draws,
so the two are compared on the same tasks, and ``adapt`` returns an ordinary
fitted estimator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    TransformerMixin,
    clone,
    is_classifier,
    is_regressor,
)
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from ._adapter import ResolvedEstimator, resolve_meta_estimator
from ._base import BaseMetaEstimator
from ._core._tasks import REGRESSION, combine_scores
from ._params import SHELL, document_parameters, validate_parameters
from ._validation import check_int, check_numeric, check_sample_weight, encode_groups
from .model_selection._episodic import (
    Settings,
    adapted_predictions,
    episode_targets,
    sample_episodes,
)

_FEATURES_DOC = (
    "estimator",
    "None fits ``estimator`` on the raw inputs. A meta-estimator of sklearn_meta "
    "(or ``MetaClassifier``/``MetaRegressor``) replaces the inputs by the embedding "
    "of its meta-learned backbone (``learner_.backbone``, the features its head or "
    "prototypes work on): ``fit`` meta-trains a clone of it on the training data. "
    "Wrap a fitted one in :class:`~sklearn.frozen.FrozenEstimator` to use it as it "
    "is (``fit``, ``clone`` and searches then leave it unchanged).",
)

_SHARED_DOCS = {
    "features": _FEATURES_DOC,
    "n_shots": (
        "int",
        "Support samples per class (per task, for regression) in ``score``'s episodes.",
    ),
    "n_queries": ("int", "Query samples per class (per task) in ``score``'s episodes."),
    "n_eval_episodes": ("int", "Episodes drawn by ``score``."),
    "random_state": (
        "int, RandomState instance or None",
        "Seeds ``score``'s episodes: with the same int, the same episodes as a "
        "meta-estimator with the same ``n_shots``, ``n_queries`` and "
        "``n_eval_episodes`` (and ``n_way``) draws.",
    ),
}


def _feature_learner(features) -> ResolvedEstimator:
    """The fitted meta-estimator whose backbone embeds the inputs, and what
    transforms the inputs before it (see ``resolve_meta_estimator``)."""
    if isinstance(features, FrozenEstimator):
        features = features.estimator
    resolved = resolve_meta_estimator(features)
    if not isinstance(resolved.meta, BaseMetaEstimator):
        raise TypeError(
            "features must be a meta-estimator of sklearn_meta (such as ProtoNetClassifier), "
            f"MetaClassifier or MetaRegressor; got {type(features).__name__}."
        )
    return resolved


def backbone_embedding(features, X) -> np.ndarray:
    """``X`` embedded by the meta-learned backbone of the fitted ``features``.

    Parameters
    ----------
    features : estimator
        A fitted meta-estimator, ``MetaClassifier``/``MetaRegressor``, or
        one of them inside :class:`~sklearn.frozen.FrozenEstimator`.
    X : array-like of shape (n_samples, n_features)
        Inputs.

    Returns
    -------
    embedding : ndarray of shape (n_samples, n_embedding)
        The backbone's outputs (``learner_.backbone``), in float64.
    """
    resolved = _feature_learner(features)
    meta = resolved.meta
    X = resolved.transform(X)
    check_numeric("X", X)
    X = validate_data(meta, X, reset=False, dtype=np.float32)
    return meta._outputs(meta.learner_.backbone, X)


class BackboneEmbedding(TransformerMixin, BaseEstimator):
    """The embedding of a fitted meta-estimator's backbone, as a transformer.

    The first step of the estimators that :class:`SupportSetClassifier` and
    :class:`SupportSetRegressor` fit when they use a meta-learner's features;
    it learns nothing itself.

    Parameters
    ----------
    estimator : estimator
        A fitted meta-estimator, inside :class:`~sklearn.frozen.FrozenEstimator`
        so that cloning keeps it fitted.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y=None):
        """Check that ``estimator`` is a fitted meta-estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Ignored.
        y : array-like of shape (n_samples,), default=None
            Ignored.

        Returns
        -------
        self : BackboneEmbedding
            This transformer.
        """
        _feature_learner(self.estimator)
        self.n_features_in_ = self.estimator.n_features_in_
        return self

    def transform(self, X):
        """Embed ``X`` with the backbone.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_embedding)
            The backbone's outputs.
        """
        check_is_fitted(self)
        return backbone_embedding(self.estimator, X)


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


@document_parameters
class SupportSetClassifier(ClassifierMixin, _SupportSetBase):
    """Few-shot baseline: a scikit-learn classifier fitted on each support set alone.

    No meta-learning: ``adapt`` fits a fresh clone of ``estimator`` on a new
    task's few examples, on the raw inputs or on the embedding of a
    meta-learner's backbone (``features``). It goes wherever a
    meta-classifier goes (``score``, ``adapt``,
    :func:`~sklearn_meta.model_selection.evaluate_few_shot`,
    :func:`~sklearn_meta.model_selection.few_shot_curve`,
    :class:`~sklearn_meta.FewShotAdapter`, ``GridSearchCV``), and its
    ``score`` draws the same episodes as a meta-classifier with the same
    ``random_state``, ``n_way``, ``n_shots``, ``n_queries`` and
    ``n_eval_episodes``, so the comparison is paired. With few training
    classes it often beats the meta-learners (see the user guide's
    "Choosing an algorithm").

    {parameters}

    Attributes
    ----------
    estimator_ : estimator
        ``estimator`` fitted on all the training data (behind the embedding,
        with ``features``), used by ``predict``.
    features_ : estimator or None
        The fitted meta-estimator whose backbone embeds the inputs.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    SupportSetRegressor : The regression baseline.
    FineTuneClassifier : Pretrains a network on pooled data, fine-tunes a head.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier, SupportSetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> train, new = y < 6, y >= 6
    >>> baseline = SupportSetClassifier(n_way=4, random_state=0).fit(X[train], y[train])
    >>> proto = ProtoNetClassifier(n_way=4, max_iter=50, device="cpu", random_state=0)
    >>> proto = proto.fit(X[train], y[train])
    >>> # the same 4-way 5-shot episodes of the unseen digits 6-9 for both
    >>> bool(baseline.score(X[new], y[new]) > proto.score(X[new], y[new]))
    True
    >>> task = baseline.adapt(X[new][:20], y[new][:20])
    >>> type(task).__name__, task.classes_.tolist()
    ('LogisticRegression', [6, 7, 8, 9])
    """

    _parameter_docs = {
        "estimator": (
            "classifier",
            "The scikit-learn classifier cloned and fitted on each support set "
            "(and on all the training data for ``predict``). None means "
            "``LogisticRegression()``.",
        ),
        **_SHARED_DOCS,
    }
    _default_estimator = LogisticRegression
    _is_right_kind = staticmethod(is_classifier)
    _kind_name = "classifier"

    def __init__(
        self,
        estimator=None,
        *,
        features=None,
        n_way=5,
        n_shots=5,
        n_queries=15,
        n_eval_episodes=100,
        random_state=None,
    ):
        self.estimator = estimator
        self.features = features
        self.n_way = n_way
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.n_eval_episodes = n_eval_episodes
        self.random_state = random_state

    score = _SupportSetBase.score  # episodic, not ClassifierMixin's

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from ``estimator_``, fitted on all the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        validate_data(self, X, reset=False)
        return self.estimator_.predict_proba(X)

    @staticmethod
    def _score_parts(y_true, y_pred, weight) -> tuple[float, float]:
        return float(weight @ (y_true == y_pred) / weight.sum()), 1.0

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a few-shot score, as the meta-learners'
        return tags


@document_parameters
class SupportSetRegressor(RegressorMixin, _SupportSetBase):
    """Few-shot baseline: a scikit-learn regressor fitted on each support set alone.

    The regression counterpart of :class:`SupportSetClassifier`: ``adapt``
    fits a fresh clone of ``estimator`` on a new task's few examples, and
    ``score`` draws the same episodes (one task, ``n_shots`` support and
    ``n_queries`` query samples) as a meta-regressor with the same
    ``random_state``, ``n_shots``, ``n_queries`` and ``n_eval_episodes``.

    {parameters}

    Attributes
    ----------
    estimator_ : estimator
        ``estimator`` fitted on all the training data (behind the embedding,
        with ``features``), used by ``predict``.
    features_ : estimator or None
        The fitted meta-estimator whose backbone embeds the inputs.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column names.

    See Also
    --------
    SupportSetClassifier : The classification baseline.

    Examples
    --------
    >>> from sklearn.neighbors import KNeighborsRegressor
    >>> from sklearn_meta import SupportSetRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(20, 30, random_state=0)
    >>> knn = SupportSetRegressor(KNeighborsRegressor(n_neighbors=2), random_state=0)
    >>> knn = knn.fit(X, y, groups)
    >>> task = knn.adapt(X[:10], y[:10])  # ten examples of the first task
    >>> task.predict(X[10:15]).shape
    (5,)
    >>> ridge = SupportSetRegressor(random_state=0).fit(X, y, groups)  # Ridge(), a line
    >>> bool(knn.score(X, y, groups) > ridge.score(X, y, groups))
    True
    """

    _parameter_docs = {
        "estimator": (
            "regressor",
            "The scikit-learn regressor cloned and fitted on each support set "
            "(and on all the training data for ``predict``). None means ``Ridge()``.",
        ),
        **_SHARED_DOCS,
    }
    _default_estimator = Ridge
    _is_right_kind = staticmethod(is_regressor)
    _kind_name = "regressor"

    def __init__(
        self,
        estimator=None,
        *,
        features=None,
        n_shots=10,
        n_queries=10,
        n_eval_episodes=100,
        random_state=None,
    ):
        self.estimator = estimator
        self.features = features
        self.n_shots = n_shots
        self.n_queries = n_queries
        self.n_eval_episodes = n_eval_episodes
        self.random_state = random_state

    score = _SupportSetBase.score  # episodic, not RegressorMixin's

    def _check_params(self) -> None:
        super()._check_params()
        check_int("n_queries", self.n_queries, 2)  # R² of a query set needs two points

    @staticmethod
    def _score_parts(y_true, y_pred, weight) -> tuple[float, float]:
        # The meta-regressors' R² parts (constant query targets spread exactly zero).
        output = torch.as_tensor(np.asarray(y_pred, dtype=np.float64))[:, None]
        target = torch.as_tensor(np.asarray(y_true, dtype=np.float64))
        parts = REGRESSION.score_parts(output, target, torch.as_tensor(weight))
        return float(parts[0]), float(parts[1])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # a few-shot score, as the meta-learners'
        return tags
