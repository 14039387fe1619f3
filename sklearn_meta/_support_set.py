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

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier, is_regressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ._core._tasks import REGRESSION
from ._params import document_parameters
from ._support_set_base import _estimator_has, _SupportSetBase
from ._validation import check_int

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
