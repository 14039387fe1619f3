"""Adaptation to one new task as an ordinary, clonable scikit-learn estimator.

The meta-estimators' ``adapt`` returns a :class:`FewShotAdapter`, so this
module imports none of them: it tells a meta-estimator of sklearn_meta by
what it does.
"""

from __future__ import annotations

import inspect
from functools import cached_property
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._core._tasks import probabilities
from ._persistence import modules_to_cpu, modules_to_device
from ._validation import check_int, check_numeric


class ResolvedEstimator(NamedTuple):
    """A fitted estimator seen as the meta-estimator that adapts and the
    fitted transformers in front of it (outermost first)."""

    meta: BaseEstimator
    transformers: tuple = ()

    def transform(self, X):
        """``X`` as the meta-estimator sees it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs of the estimator that was resolved.

        Returns
        -------
        X_meta : array-like of shape (n_samples, n_meta_features)
            ``X`` through each of ``transformers``; ``X`` itself when there
            are none.
        """
        for transformer in self.transformers:
            X = transformer.transform(X)
        return X


def resolve_meta_estimator(estimator) -> ResolvedEstimator:
    """The fitted meta-estimator that adapts for ``estimator``, and what
    transforms the inputs first.

    A :class:`~sklearn.pipeline.Pipeline` puts its first steps in front of
    its last one (nested pipelines too). Any other estimator
    with a public ``adapt(X_support, y_support)`` that returns a fitted
    estimator (such as ``SupportSetClassifier``) is taken as it is.

    Parameters
    ----------
    estimator : estimator
        A fitted meta-estimator of sklearn_meta, ``MetaClassifier``,
        ``MetaRegressor``, an estimator with a public ``adapt``, or a Pipeline
        ending in one of them.

    Returns
    -------
    resolved : ResolvedEstimator
        The meta-estimator and the transformers in front of it.

    Raises
    ------
    NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If there is no meta-estimator of sklearn_meta, or estimator with a
        public ``adapt``, at its end.
    """
    if isinstance(estimator, Pipeline):
        check_is_fitted(estimator)
        inner = resolve_meta_estimator(estimator[-1])
        if len(estimator) == 1:
            return inner
        return ResolvedEstimator(inner.meta, (estimator[:-1], *inner.transformers))
    if not has_public_adapt(estimator):  # every meta-estimator has one
        raise TypeError(
            "estimator must be a meta-estimator of sklearn_meta (such as MAMLRegressor), "
            "MetaClassifier, MetaRegressor, an estimator with a public adapt (such as "
            "SupportSetClassifier), or a Pipeline ending in one of them; got "
            f"{type(estimator).__name__}."
        )
    check_is_fitted(estimator)
    return ResolvedEstimator(estimator)


def has_public_adapt(estimator) -> bool:
    """Whether ``estimator`` has an ``adapt(X_support, y_support)`` method."""
    return callable(getattr(estimator, "adapt", None))


def adapts_its_network(estimator) -> bool:
    """Whether ``estimator`` is a meta-estimator of sklearn_meta, whose network
    a :class:`FewShotAdapter` adapts itself (its public ``adapt`` returns one)."""
    return callable(getattr(estimator, "_adapted_task", None))


def adapt_params(estimator, inner_steps: int | None) -> dict:
    """The keyword arguments of ``estimator.adapt`` that ask for
    ``inner_steps`` (none for None); an error when its ``adapt`` takes no steps."""
    if inner_steps is None:
        return {}
    if "inner_steps" not in inspect.signature(estimator.adapt).parameters:
        raise ValueError(
            f"{type(estimator).__name__} adapts without gradient steps; "
            f"inner_steps={inner_steps} does not apply."
        )
    return {"inner_steps": inner_steps}


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

    For a fitted :class:`~sklearn.pipeline.Pipeline` ending in a
    meta-estimator, ``FewShotAdapter(pipe).fit(X, y)`` is the few-shot fit of
    the whole pipeline: its fitted transformers (as fitted in meta-training,
    not refitted) transform the support set and every later input before
    the meta-estimator adapts and predicts.

    An estimator with a public ``adapt`` that returns a fitted estimator,
    such as :class:`SupportSetClassifier`, adapts through it: ``adapted_``
    is the estimator it returns, and ``predict`` and ``predict_proba`` are
    its own.

    Parameters
    ----------
    estimator : estimator
        A fitted meta-estimator (such as ``MAMLRegressor``),
        ``MetaClassifier``/``MetaRegressor``, or a
        :class:`~sklearn.pipeline.Pipeline` ending in one of them, or a fitted
        estimator with a public ``adapt`` (such as ``SupportSetClassifier``).
    inner_steps : int, default=None
        Adaptation steps; None uses the estimator's ``eval_inner_steps``.

    Attributes
    ----------
    module_ : torch.nn.Module
        The adapted network as a standalone module, built when first read
        (``predict`` does not need it); meta-estimators only. A regressor's
        network works on standardized targets: its outputs times the
        estimator's ``target_scale_`` plus its ``target_mean_`` are the
        predictions.
    adapted_ : estimator
        The fitted estimator the public ``adapt`` returned; estimators that
        are not meta-estimators of sklearn_meta only.
    classes_ : ndarray of shape (n_classes,)
        The task's classes (classifiers only).
    n_features_in_ : int
        Number of features, as for ``estimator`` (a pipeline's inputs, before
        its transformers).

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
        resolved = resolve_meta_estimator(self.estimator)
        meta = resolved.meta
        if self.inner_steps is not None:
            check_int("inner_steps", self.inner_steps, 0)
        if not adapts_its_network(meta):
            return self._fit_with_public_adapt(X, y, resolved)
        X = self._meta_input(X, resolved)
        classifier = is_classifier(meta)
        y = self._validate_y(y, len(X), classifier)
        if classifier:
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
        for former in ("module_", "adapted_"):  # a former task's
            self.__dict__.pop(former, None)
        self._describe_inputs(resolved)
        if classes is not None:
            self.classes_ = classes
        return self

    def _fit_with_public_adapt(self, X, y, resolved: ResolvedEstimator):
        """Adapt with an estimator's public ``adapt`` (not a meta-estimator's
        network): ``adapted_`` is the fitted estimator it returns."""
        meta = resolved.meta
        params = adapt_params(meta, self.inner_steps)
        self.adapted_ = meta.adapt(resolved.transform(X), y, **params)
        for former in ("module_", "_task", "classes_"):  # a former task's
            self.__dict__.pop(former, None)
        self._describe_inputs(resolved)
        if is_classifier(meta):
            self.classes_ = self.adapted_.classes_
        return self

    def _adapted_response(self, method: str, X):
        """``adapted_``'s ``method`` on ``X`` (through a pipeline's transformers)."""
        return getattr(self.adapted_, method)(resolve_meta_estimator(self.estimator).transform(X))

    def _describe_inputs(self, resolved: ResolvedEstimator) -> None:
        """``n_features_in_`` and ``feature_names_in_`` of the raw inputs: a
        pipeline's or a front door's, else the meta-estimator's."""
        described = self.estimator if resolved.transformers else resolved.meta
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(described, name):
                setattr(self, name, getattr(described, name))

    @staticmethod
    def _validate_y(y, n_samples: int, classifier: bool) -> np.ndarray:
        """Targets 1-D, one per input, and class labels for a classifier or
        finite numbers for a regressor."""
        if not classifier:
            check_numeric("y", y)
        y = check_array(
            y, ensure_2d=False, dtype=None if classifier else np.float64, input_name="y"
        )
        y = column_or_1d(y, warn=True)
        if n_samples != len(y):
            raise ValueError(f"X has {n_samples} samples but y has {len(y)}.")
        if classifier:
            check_classification_targets(y)
        return y

    @staticmethod
    def _meta_input(X, resolved: ResolvedEstimator) -> np.ndarray:
        """``X`` through the transformers, validated as the meta-estimator's input."""
        X = resolved.transform(X)
        check_numeric("X", X)
        return validate_data(resolved.meta, X, reset=False, dtype=np.float32)

    @cached_property
    def module_(self):
        """The adapted network as a standalone module (built on first use)."""
        check_is_fitted(self)
        return self._task.materialize()

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        resolved = resolve_meta_estimator(self.estimator)
        return resolved.meta._outputs(self._task, self._meta_input(X, resolved))

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
        if hasattr(self, "adapted_"):
            return self._adapted_response("predict", X)
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
        if hasattr(self, "adapted_"):
            return self._adapted_response("predict_proba", X)
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
        y_pred = self.predict(X)
        classifier = _adapts_a_classifier(self)
        y = self._validate_y(y, len(y_pred), classifier)
        metric = accuracy_score if classifier else r2_score
        return float(metric(y, y_pred, sample_weight=sample_weight))

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
            device = resolve_meta_estimator(self.estimator).meta.device_
            self._task.to(device)
            modules_to_device(self, device)
