"""Adaptation to one new task as an ordinary, clonable scikit-learn estimator."""

from __future__ import annotations

from functools import cached_property

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_array
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import BaseMetaEstimator, modules_to_cpu, modules_to_device, probabilities
from ._validation import check_int, check_numeric


def _adapts_a_classifier(adapter: FewShotAdapter) -> bool:
    return is_classifier(adapter.estimator)


class FewShotAdapter(BaseEstimator):
    """Few-shot fit of a new task with a meta-trained estimator.

    ``fit(X, y)`` adapts the meta-learned parameters of ``estimator`` to
    ``(X, y)`` (a new task's support set) and ``predict`` uses the result.
    ``estimator`` must already be meta-trained; it is used as it is and
    never changed, also by :func:`~sklearn.base.clone`, so
    ``cross_val_score(FewShotAdapter(meta), X_task, y_task)`` scores few-shot
    learning on one new task. ``meta.adapt(X, y)`` returns a fitted one.

    Parameters
    ----------
    estimator : MAMLRegressor or MAMLClassifier
        A fitted meta-estimator.
    inner_steps : int, default=None
        Adaptation steps; None uses the estimator's ``eval_inner_steps``.

    Attributes
    ----------
    module_ : torch.nn.Module
        The adapted network as a standalone module, built when first read
        (``predict`` does not need it).
    classes_ : ndarray of shape (n_classes,)
        The task's classes (classifiers only).
    n_features_in_ : int
        Number of features, as for ``estimator``.

    Examples
    --------
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_meta import FewShotAdapter, MAMLRegressor
    >>> from sklearn_meta.datasets import make_sinusoid_tasks
    >>> X, y, groups = make_sinusoid_tasks(40, 20, random_state=0)
    >>> meta = MAMLRegressor(max_iter=20, device="cpu", random_state=0).fit(X, y, groups)
    >>> X_task, y_task, _ = make_sinusoid_tasks(1, 30, random_state=1)
    >>> scores = cross_val_score(FewShotAdapter(meta, inner_steps=5), X_task, y_task, cv=3)
    >>> scores.shape
    (3,)
    """

    def __init__(self, estimator, *, inner_steps=None):
        self.estimator = estimator
        self.inner_steps = inner_steps

    def __sklearn_clone__(self):
        return type(self)(**self.get_params(deep=False))

    def fit(self, X, y):
        """Adapt to one task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The task's support inputs.
        y : array-like of shape (n_samples,)
            Their targets or labels.

        Returns
        -------
        self : FewShotAdapter
            The adapted estimator.
        """
        meta = self._meta_estimator()
        if self.inner_steps is not None:
            check_int("inner_steps", self.inner_steps, 0)
        X, y = self._validate_X_y(X, y)
        if is_classifier(meta):
            classes, y = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(
                    f"y holds only one class, {classes.tolist()[0]!r}; adapting a classifier "
                    "needs examples of at least two classes."
                )
            n_outputs = len(classes)
        else:
            y, classes = meta._encode_targets(y, fitting=False)  # float32, or an error
            n_outputs = 1
        self._task = meta._adapted_task(X, y, n_outputs, self.inner_steps)
        self.__dict__.pop("module_", None)  # a former task's
        self.n_features_in_ = meta.n_features_in_
        if hasattr(meta, "feature_names_in_"):
            self.feature_names_in_ = meta.feature_names_in_
        if classes is not None:
            self.classes_ = classes
        return self

    def _meta_estimator(self) -> BaseMetaEstimator:
        """The fitted meta-estimator that adapts (a front door's learner)."""
        meta = self.estimator
        check_is_fitted(meta)
        meta = getattr(meta, "estimator_", meta)  # MetaClassifier, MetaRegressor
        if not isinstance(meta, BaseMetaEstimator):
            raise TypeError(
                "estimator must be a meta-estimator of sklearn_meta (such as MAMLRegressor), "
                f"got {type(self.estimator).__name__}."
            )
        return meta

    def _validate_X_y(self, X, y):
        """Inputs as for the meta-estimator; targets 1-D, as many as inputs, and
        class labels for a classifier or finite numbers for a regressor."""
        meta = self._meta_estimator()
        X = self._validate_X(X, meta)
        classifier = is_classifier(meta)
        if not classifier:
            check_numeric("y", y)
        y = check_array(
            y, ensure_2d=False, dtype=None if classifier else np.float64, input_name="y"
        )
        y = column_or_1d(y, warn=True)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} samples but y has {len(y)}.")
        if classifier:
            check_classification_targets(y)
        return X, y

    @staticmethod
    def _validate_X(X, meta: BaseMetaEstimator) -> np.ndarray:
        check_numeric("X", X)
        return validate_data(meta, X, reset=False, dtype=np.float32)

    @cached_property
    def module_(self):
        """The adapted network as a standalone module (built on first use)."""
        check_is_fitted(self)
        return self._task.materialize()

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        meta = self._meta_estimator()
        return meta._outputs(self._task, self._validate_X(X, meta))

    def predict(self, X):
        """Predict with the adapted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of the task.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predictions.
        """
        outputs = self._outputs(X)
        if _adapts_a_classifier(self):
            return self.classes_[outputs.argmax(axis=1)]
        return outputs[:, 0]

    @available_if(_adapts_a_classifier)
    def predict_proba(self, X):
        """Class probabilities of the task's classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of the task.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns ordered as ``classes_``.
        """
        return probabilities(self._outputs(X))

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers) or R² (regressors) on the task's data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            The score.
        """
        check_is_fitted(self)
        X, y = self._validate_X_y(X, y)
        metric = accuracy_score if _adapts_a_classifier(self) else r2_score
        return float(metric(y, self.predict(X), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        return tags

    def __getstate__(self):
        return modules_to_cpu(super().__getstate__())  # the task's tensors go there too

    def __setstate__(self, state):
        super().__setstate__(state)
        if hasattr(self, "_task"):
            device = self._meta_estimator().device_
            self._task.to(device)
            modules_to_device(self, device)
